process BIODATA_GUARD_AUDIT {
    tag "$meta.id"
    label 'process_medium'

    conda "${moduleDir}/environment.yml"

    input:
    tuple val(meta), path(features), path(metadata)
    path config

    output:
    tuple val(meta), path("${prefix}.audit.json"), emit: json
    tuple val(meta), path("${prefix}.audit.html"), emit: html
    tuple val(meta), path("${prefix}_mqc/*"),     emit: multiqc
    path "versions.yml",                           emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    def feature_args = [features].flatten().collect { "--features ${it}" }.join(' ')
    def config_arg = config ? "--config ${config}" : ''
    """
    python -c 'import biodata_guard' 2>/dev/null || { echo "biodata_guard cannot start: \$(command -v python) cannot import it (see the module's environment.yml, or put the project's .venv/bin first on PATH)" >&2; exit 127; }

    python -m biodata_guard audit \\
        ${config_arg} \\
        ${feature_args} \\
        --metadata ${metadata} \\
        ${args} \\
        --format text --out - \\
        --format json --out ${prefix}.audit.json \\
        --format html --out ${prefix}.audit.html \\
        --format multiqc --out ${prefix}_mqc

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biodata_guard: \$(python -c "import biodata_guard; print(biodata_guard.__version__)")
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    echo '{}' > ${prefix}.audit.json
    touch ${prefix}.audit.html
    mkdir -p ${prefix}_mqc && touch ${prefix}_mqc/biodata_guard_summary_mqc.json

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biodata_guard: \$(python -c "import biodata_guard; print(biodata_guard.__version__)")
    END_VERSIONS
    """
}
