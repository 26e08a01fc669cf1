#!/usr/bin/env nextflow
/*
 * Minimal workflow: audit the dataset, then train only if the audit passed.
 *
 *   nextflow run examples/nextflow/main.nf --features data/features.csv --metadata data/metadata.csv
 *
 * BIODATA_GUARD_AUDIT exits 1 when a finding reaches --fail-on (default error): the task fails,
 * the pipeline stops, and TRAIN never starts. The reports are in the failed task's work folder
 * (Nextflow prints its path); on success they are published to ${params.outdir}/biodata_guard.
 */
nextflow.enable.dsl = 2

include { BIODATA_GUARD_AUDIT } from './modules/local/biodata_guard_audit/main'

process TRAIN {
    tag "$meta.id"
    publishDir "${params.outdir}/model", mode: 'copy'

    input:
    tuple val(meta), path(features), path(metadata), path(audit_json)
    path train_script

    output:
    tuple val(meta), path("${meta.id}.model.json"), emit: model

    script:
    """
    python ${train_script} --features ${features} --metadata ${metadata} --out ${meta.id}.model.json
    """
}

workflow {
    ch_input = Channel.of([
        [ id: params.id ],
        file(params.features, checkIfExists: true),
        file(params.metadata, checkIfExists: true),
    ])
    ch_config = params.config ? file(params.config, checkIfExists: true) : []

    BIODATA_GUARD_AUDIT(ch_input, ch_config)

    // TRAIN consumes the audit JSON, which is emitted only when the audit passed.
    TRAIN(ch_input.join(BIODATA_GUARD_AUDIT.out.json), file(params.train_script))
}
