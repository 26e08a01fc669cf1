"""Pipeline gates: the Snakemake workflow (run for real) and the Nextflow module (its structure,
and the exact command line its process runs)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from biodata_guard import __version__

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SNAKEMAKE_DIR = EXAMPLES / "snakemake"
NEXTFLOW_DIR = EXAMPLES / "nextflow"
MODULE = NEXTFLOW_DIR / "modules" / "local" / "biodata_guard_audit" / "main.nf"


def _make_data():
    spec = importlib.util.spec_from_file_location("make_data", SNAKEMAKE_DIR / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    make_data = _make_data()
    out = {}
    for name in ("clean", "leaky"):
        folder = tmp_path_factory.mktemp(name) / "data"
        assert (
            make_data.main(["--out", str(folder)] + (["--leaky"] if name == "leaky" else [])) == 0
        )
        out[name] = folder
    return out


def _env() -> dict[str, str]:
    # The interpreter running the tests has biodata_guard installed: put it first on PATH, as a
    # pipeline's environment would.
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    return env


def test_leaky_dataset_really_leaks(datasets):
    import pandas as pd

    clean = pd.read_csv(datasets["clean"] / "metadata.csv")
    leaky = pd.read_csv(datasets["leaky"] / "metadata.csv")
    assert int(clean.groupby("patient_id")["split"].nunique().gt(1).sum()) == 0
    assert int(leaky.groupby("patient_id")["split"].nunique().gt(1).sum()) == 6
    # same labels and class balance per split: only the patient leak differs
    assert (clean["label"] == leaky["label"]).all()
    assert clean["split"].value_counts().to_dict() == leaky["split"].value_counts().to_dict()


# --- Snakemake ----------------------------------------------------------------------------------


def _snakemake() -> list[str] | None:
    """``$BIODATA_GUARD_SNAKEMAKE``, else snakemake in this interpreter, else on PATH."""
    env = os.environ.get("BIODATA_GUARD_SNAKEMAKE")
    if env:
        exe = env if Path(env).is_file() else shutil.which(env)
        return [exe] if exe else None
    if importlib.util.find_spec("snakemake") is not None:
        return [sys.executable, "-m", "snakemake"]
    exe = shutil.which("snakemake")
    return [exe] if exe else None


needs_snakemake = pytest.mark.needs_tool(
    _snakemake() is not None,
    "snakemake not found: set BIODATA_GUARD_SNAKEMAKE to its executable, put it on PATH, "
    "or pip install 'snakemake>=8' (the 'pipelines' extra)",
)


def _run_snakemake(
    workdir: Path, data: Path, *, python: str | None = sys.executable, env: dict | None = None
) -> subprocess.CompletedProcess:
    config = yaml.safe_load((SNAKEMAKE_DIR / "config.yaml").read_text())
    config.update(
        features=[str(data / "features.csv")],
        metadata=str(data / "metadata.csv"),
        python=python or "",
        extra="--no-probe",  # the probe is tested elsewhere; keep this run short
    )
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [
            *_snakemake(),
            "--snakefile",
            str(SNAKEMAKE_DIR / "Snakefile"),
            "--configfile",
            str(cfg),
            "--directory",
            str(workdir),
            "--cores",
            "1",
            "--nocolor",
            "--printshellcmds",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env or _env(),
        check=False,
    )


def _rules_run(log: str) -> list[str]:
    return re.findall(r"^\s*(?:local)?rule (\w+):$", log, flags=re.M)


@pytest.mark.slow
@needs_snakemake
def test_snakemake_clean_dataset_audits_then_trains(tmp_path, datasets):
    done = _run_snakemake(tmp_path, datasets["clean"])
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert _rules_run(log) == ["audit", "train", "all"]
    results = tmp_path / "results"
    assert (results / "audit" / "PASSED").is_file()
    model = json.loads((results / "model" / "model.json").read_text())
    assert model["classes"] == ["normal", "tumour"]
    report = json.loads((results / "audit" / "audit.json").read_text())
    assert report["ok"] is True and report["counts"]["error"] == 0
    assert (results / "audit" / "audit.html").read_text().startswith("<!DOCTYPE html>")
    assert (results / "audit" / "multiqc" / "biodata_guard_summary_mqc.json").is_file()


@pytest.mark.slow
@needs_snakemake
def test_snakemake_leaky_dataset_stops_before_training(tmp_path, datasets):
    done = _run_snakemake(tmp_path, datasets["leaky"])
    log = done.stdout + done.stderr
    assert done.returncode != 0, log[-4000:]
    assert _rules_run(log) == ["audit"]  # train never started
    assert "Error in rule audit" in log
    results = tmp_path / "results"
    assert not (results / "model" / "model.json").exists()
    assert not (results / "audit" / "PASSED").exists()
    # the reports are logs, so Snakemake keeps them for the user to read
    report = json.loads((results / "audit" / "audit.json").read_text())
    assert report["ok"] is False
    leaks = [f for f in report["findings"] if f["check"] == "leakage.group_overlap"]
    assert [f["severity"] for f in leaks] == ["error"]
    assert leaks[0]["evidence"]["n_shared_groups"] == 6
    assert "leakage.group_overlap" in (results / "audit" / "audit.html").read_text()


def _own_environment() -> dict[str, str]:
    """Snakemake run from its own environment: only system folders on PATH, no PYTHONPATH."""
    return {"PATH": f"/usr/bin{os.pathsep}/bin", "HOME": os.environ.get("HOME", "/tmp")}


def _snakemake_has_biodata_guard() -> bool:
    exe = _snakemake()
    if exe is None:
        return True
    python = exe[0] if exe[0] == sys.executable else str(Path(exe[0]).with_name("python"))
    if not Path(python).exists():
        return True
    probe = subprocess.run([python, "-c", "import biodata_guard"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@needs_snakemake
def test_snakemake_from_its_own_environment_finds_the_projects_python(tmp_path, datasets):
    if _snakemake_has_biodata_guard():
        pytest.skip("this snakemake runs in an environment that has biodata_guard")
    venv_python = EXAMPLES.parent / ".venv" / "bin" / "python"
    if not venv_python.exists():
        pytest.skip("no .venv in the checkout (the quick start creates one)")
    done = _run_snakemake(tmp_path, datasets["clean"], python=None, env=_own_environment())
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert _rules_run(log) == ["audit", "train", "all"]
    assert f"{os.path.abspath(venv_python)} -m biodata_guard audit" in log


@pytest.mark.slow
@needs_snakemake
def test_snakemake_rule_exits_127_not_1_when_the_tool_cannot_start(tmp_path, datasets):
    bare = _python_without_biodata_guard(tmp_path)
    if bare is None:
        pytest.skip("no Python without biodata_guard on this machine")
    (tmp_path / "run").mkdir()
    done = _run_snakemake(tmp_path / "run", datasets["clean"], python=str(bare / "python"))
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert "returned non-zero exit status 127" in log
    assert f"biodata_guard cannot start: {bare / 'python'} cannot import it" in log
    assert _rules_run(log) == ["audit"]


# --- Nextflow module ----------------------------------------------------------------------------


def _block(text: str, start: str, *ends: str) -> str:
    """The text between the line ``start`` and the first following line in ``ends``."""
    pattern = rf"^\s*{re.escape(start)}\s*$(.*?)^\s*(?:{'|'.join(map(re.escape, ends))})\s*$"
    match = re.search(pattern, text, flags=re.M | re.S)
    assert match, f"no block {start!r} in {MODULE}"
    return match.group(1)


@pytest.fixture(scope="module")
def module_text() -> str:
    return MODULE.read_text()


def test_nextflow_module_structure(module_text):
    assert re.search(r"^process BIODATA_GUARD_AUDIT \{$", module_text, flags=re.M)
    assert 'tag "$meta.id"' in module_text
    inputs = _block(module_text, "input:", "output:")
    assert [line.strip() for line in inputs.strip().splitlines()] == [
        "tuple val(meta), path(features), path(metadata)",
        "path config",
    ]
    outputs = _block(module_text, "output:", "when:")
    emits = dict(
        (m.group(2), m.group(1).strip())
        for m in re.finditer(r"^\s*(.+?),\s*emit:\s*(\w+)\s*$", outputs, flags=re.M)
    )
    assert emits == {
        "json": 'tuple val(meta), path("${prefix}.audit.json")',
        "html": 'tuple val(meta), path("${prefix}.audit.html")',
        "multiqc": 'tuple val(meta), path("${prefix}_mqc/*")',
        "versions": 'path "versions.yml"',
    }
    assert "task.ext.when == null || task.ext.when" in module_text
    script = _block(module_text, "script:", "stub:")
    assert "cat <<-END_VERSIONS > versions.yml" in script
    assert '"${task.process}":' in script
    assert "stub:" in module_text  # nf-core modules provide a stub for -stub runs


def test_nextflow_module_ships_nf_core_metadata():
    meta = yaml.safe_load((MODULE.parent / "meta.yml").read_text())
    assert meta["name"] == "biodata_guard_audit"
    assert [next(iter(o)) for o in meta["output"]] == ["json", "html", "multiqc", "versions"]
    env = yaml.safe_load((MODULE.parent / "environment.yml").read_text())
    assert "pip" in env["dependencies"]


def _env_pip_requirement() -> str:
    env = yaml.safe_load((MODULE.parent / "environment.yml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    (requirement,) = pip
    return requirement


def test_nextflow_environment_installs_this_checkout_not_an_unpublished_release():
    requirement = _env_pip_requirement()
    assert "==" not in requirement  # biodata_guard is on no package index
    # conda runs pip from the environment file's folder: the path is relative to it
    root = (MODULE.parent / requirement).resolve()
    assert root == EXAMPLES.parent
    assert 'name = "biodata_guard"' in (root / "pyproject.toml").read_text()


@pytest.mark.slow
def test_pip_resolves_the_environment_requirement_from_the_module_folder():
    # what conda does with the environment's pip section: pip, run from the file's folder
    # (the build backend, setuptools, comes from the package index in pip's build isolation)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
         "--disable-pip-version-check", _env_pip_requirement()],
        cwd=MODULE.parent, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Would install biodata_guard-" in done.stdout


def _python_without_biodata_guard(tmp_path: Path) -> Path | None:
    """A folder whose ``python`` / ``python3`` cannot import biodata_guard (the system one)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        probe = subprocess.run(
            [candidate, "-c", "import biodata_guard"], capture_output=True, check=False
        ) if Path(candidate).exists() else None  # fmt: skip
        if probe is not None and probe.returncode != 0:
            folder = tmp_path / "bare"
            folder.mkdir()
            for name in ("python", "python3"):
                (folder / name).symlink_to(candidate)
            return folder
    return None


def test_nextflow_process_exits_127_when_the_tool_cannot_start(tmp_path, module_text):
    bare = _python_without_biodata_guard(tmp_path)
    if bare is None:
        pytest.skip("no Python without biodata_guard on this machine")
    script = _render_script(
        module_text, meta_id="c", features=["f.csv"], metadata="m.csv", config=None, ext_args=""
    )
    (tmp_path / ".command.sh").write_text(script)
    env = {"PATH": f"{bare}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", ".command.sh"], cwd=tmp_path, capture_output=True,
        text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 127, done.stderr
    assert f"biodata_guard cannot start: {bare / 'python'} cannot import it" in done.stderr


def test_nextflow_workflow_wires_the_gate():
    main = (NEXTFLOW_DIR / "main.nf").read_text()
    assert "include { BIODATA_GUARD_AUDIT } from './modules/local/biodata_guard_audit/main'" in main
    assert "TRAIN(ch_input.join(BIODATA_GUARD_AUDIT.out.json)" in main
    config = (NEXTFLOW_DIR / "nextflow.config").read_text()
    assert "withName: 'BIODATA_GUARD_AUDIT'" in config
    assert Path(str(NEXTFLOW_DIR / "../snakemake/scripts/train.py")).is_file()


def _ext_args() -> str:
    """``ext.args`` of BIODATA_GUARD_AUDIT in nextflow.config (a list of strings joined by ' ')."""
    config = (NEXTFLOW_DIR / "nextflow.config").read_text()
    body = re.search(r"ext\.args\s*=\s*\[(.*?)\]\.join\(' '\)", config, flags=re.S).group(1)
    return " ".join(re.findall(r"'([^']*)'", body))


def _render_script(
    module_text: str,
    *,
    meta_id: str,
    features: list[str],
    metadata: str,
    config: str | None,
    ext_args: str,
) -> str:
    """The process script as Nextflow would run it: the Groovy variables of the script block
    evaluated the way its ``def`` lines say, the GString interpolated, the indent stripped."""
    script = _block(module_text, "script:", "stub:")
    defs = script.split('"""')[0]
    # These are the definitions the substitution below implements; fail loudly if they change.
    assert "def args = task.ext.args ?: ''" in defs
    assert 'prefix = task.ext.prefix ?: "${meta.id}"' in defs
    assert (
        "def feature_args = [features].flatten().collect { \"--features ${it}\" }.join(' ')" in defs
    )
    assert "def config_arg = config ? \"--config ${config}\" : ''" in defs
    body = script.split('"""')[1]
    values = {
        "args": ext_args,
        "prefix": meta_id,
        "feature_args": " ".join(f"--features {f}" for f in features),
        "config_arg": f"--config {config}" if config else "",
        "metadata": metadata,
        "task.process": "BIODATA_GUARD_AUDIT",
    }
    body = re.sub(r"\$\{([\w.]+)\}", lambda m: values[m.group(1)], body)
    assert not re.search(r"(?<!\\)\$[{\w]", body), "unsubstituted Groovy variable"
    body = body.replace("\\$", "$").replace("\\\\", "\\")
    return textwrap.dedent(body).strip() + "\n"


def _run_process(workdir: Path, data: Path, module_text: str) -> subprocess.CompletedProcess:
    # Nextflow stages inputs into the task folder under their own names.
    workdir.mkdir()
    for name in ("features.csv", "metadata.csv"):
        (workdir / name).symlink_to(data / name)
    script = _render_script(
        module_text,
        meta_id="cohort",
        features=["features.csv"],
        metadata="metadata.csv",
        config=None,
        ext_args=_ext_args() + " --no-probe",
    )
    (workdir / ".command.sh").write_text("#!/bin/bash -euo pipefail\n" + script)
    return subprocess.run(
        ["bash", "-euo", "pipefail", ".command.sh"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        check=False,
    )


def test_nextflow_script_renders_to_the_expected_command(module_text):
    script = _render_script(
        module_text,
        meta_id="s1",
        features=["a.csv", "b.h5ad"],
        metadata="m.csv",
        config="audit.yaml",
        ext_args="--label-col y",
    )
    guard, command = script.split("\n\n")[:2]
    assert guard.startswith("python -c 'import biodata_guard' 2>/dev/null || {")
    assert guard.endswith(">&2; exit 127; }")
    assert " ".join(command.replace("\\\n", " ").split()) == (
        "python -m biodata_guard audit --config audit.yaml --features a.csv --features b.h5ad "
        "--metadata m.csv --label-col y --format text --out - --format json --out s1.audit.json "
        "--format html --out s1.audit.html --format multiqc --out s1_mqc"
    )
    assert script.endswith("END_VERSIONS\n")


@pytest.mark.slow
def test_nextflow_process_command_on_clean_data(tmp_path, datasets, module_text):
    work = tmp_path / "work"
    done = _run_process(work, datasets["clean"], module_text)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # every declared output pattern matches what the command wrote
    assert json.loads((work / "cohort.audit.json").read_text())["ok"] is True
    assert (work / "cohort.audit.html").read_text().startswith("<!DOCTYPE html>")
    mqc = sorted(p.name for p in (work / "cohort_mqc").iterdir())
    assert "biodata_guard_general_stats_mqc.json" in mqc
    assert yaml.safe_load((work / "versions.yml").read_text()) == {
        "BIODATA_GUARD_AUDIT": {"biodata_guard": __version__}
    }


@pytest.mark.slow
def test_nextflow_process_command_fails_the_task_on_leaky_data(tmp_path, datasets, module_text):
    work = tmp_path / "work"
    done = _run_process(work, datasets["leaky"], module_text)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert not (work / "versions.yml").exists()  # the task stopped at the gate
    report = json.loads((work / "cohort.audit.json").read_text())
    assert [f["check"] for f in report["findings"] if f["severity"] == "error"] == [
        "leakage.group_overlap"
    ]


# --- pre-commit hooks ---------------------------------------------------------------------------

HOOKS = EXAMPLES.parent / ".pre-commit-hooks.yaml"


def _pre_commit() -> str | None:
    return os.environ.get("BIODATA_GUARD_PRECOMMIT") or shutil.which("pre-commit")


def _hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load(HOOKS.read_text())}


def test_pre_commit_hooks_run_the_cli_on_the_changed_files():
    hooks = _hooks()
    assert set(hooks) == {
        "biodata-guard-audit", "biodata-guard-detect-units", "biodata-guard-detect-build",
    }  # fmt: skip
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["entry"].startswith("biodata-guard ")
    audit = hooks["biodata-guard-audit"]
    assert audit["pass_filenames"] is False and audit["args"] == ["--config", "audit.yaml"]
    files = {h: re.compile(hooks[h]["files"]) for h in hooks}
    assert files["biodata-guard-audit"].search("data/counts.csv.gz")
    assert files["biodata-guard-audit"].search("audit.yaml")
    assert files["biodata-guard-detect-build"].search("calls/variants.vcf.gz")
    assert not files["biodata-guard-detect-build"].search("samples.csv")
    assert files["biodata-guard-detect-units"].search("cells.h5ad")


def _hook_command(hook: dict, args: list[str], files: list[str]) -> list[str]:
    """The command pre-commit runs: entry, then args, then (if passed) the file names."""
    entry = hook["entry"].split()
    assert entry[0] == "biodata-guard"  # the console script of pyproject.toml
    passed = files if hook.get("pass_filenames", True) else []
    return [sys.executable, "-m", "biodata_guard", *entry[1:], *args, *passed]


@pytest.mark.slow
def test_the_hooks_commands_gate_the_commit(tmp_path):
    from conftest import DEMO

    hooks = _hooks()
    build = hooks["biodata-guard-detect-build"]
    vcf = str(DEMO / "data" / "variants.vcf")
    wrong = subprocess.run(
        _hook_command(build, ["--expected-build", "GRCh38"], [vcf]), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert wrong.returncode == 1 and "build.unexpected" in wrong.stdout
    right = subprocess.run(
        _hook_command(build, ["--expected-build", "GRCh37"], [vcf]), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert right.returncode == 0, right.stdout + right.stderr
    audit = hooks["biodata-guard-audit"]
    demo = subprocess.run(
        _hook_command(audit, ["--config", str(DEMO / "audit.yaml"), "--no-probe"], ["x.csv"]),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 1 and "leakage.group_overlap" in demo.stdout


@pytest.mark.needs_tool(
    _pre_commit() is not None,
    "pre-commit not found: set BIODATA_GUARD_PRECOMMIT or pip install pre-commit",
)
def test_pre_commit_accepts_the_hooks_manifest():
    done = subprocess.run(
        [_pre_commit(), "validate-manifest", str(HOOKS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- examples/loader.py -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loader():
    spec = importlib.util.spec_from_file_location("bg_example_loader", EXAMPLES / "loader.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_loader_grouped_split_passes(loader, datasets):
    data = datasets["clean"]
    split = loader.load_split(data / "features.csv", data / "metadata.csv")
    assert (split.X_train.shape, split.X_test.shape) == ((60, 60), (20, 60))
    assert split.report.ok
    train_patients = set(split.samples.loc[split.samples["split"] == "train", "patient_id"])
    test_patients = set(split.samples.loc[split.samples["split"] == "test", "patient_id"])
    assert not train_patients & test_patients


def test_loader_refuses_a_naive_split(loader, datasets):
    data = datasets["clean"]
    with pytest.raises(loader.GuardError) as err:
        loader.load_split(data / "features.csv", data / "metadata.csv", group_split=False)
    (leak,) = err.value.report.failing()
    assert leak.check == "leakage.group_overlap"
    assert leak.evidence["n_shared_groups"] == 16
    assert "group_split" in leak.hint


def test_loader_refuses_the_leaky_split_in_the_sheet(loader, datasets):
    data = datasets["leaky"]
    with pytest.raises(loader.GuardError) as err:
        loader.load_split(data / "features.csv", data / "metadata.csv", split_col="split")
    assert [f.check for f in err.value.report.failing()] == ["leakage.group_overlap"]
    assert err.value.report.failing()[0].evidence["n_shared_groups"] == 6


def test_loader_refuses_ids_that_do_not_match(loader, datasets, tmp_path):
    import pandas as pd

    meta = pd.read_csv(datasets["clean"] / "metadata.csv")
    meta.loc[:2, "sample_id"] = ["x1", "x2", "x3"]
    meta = meta.iloc[::-1]  # a different order alone would be fine: rows are paired by id
    meta.to_csv(tmp_path / "metadata.csv", index=False)
    with pytest.raises(loader.GuardError) as err:
        loader.load_split(datasets["clean"] / "features.csv", tmp_path / "metadata.csv")
    assert [f.check for f in err.value.report.failing()] == ["alignment.unmatched_keys"]


def test_loader_command_line(loader, capsys):
    assert loader.main([]) == 0
    assert "no leak across patient_id" in capsys.readouterr().out
    assert loader.main(["--naive"]) == 1
    assert "refused: 1 finding(s) at or above 'error'" in capsys.readouterr().err
