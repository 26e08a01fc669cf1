"""The bad-input corpus (tests/data/bad/) through the CLI.

Each case copies the corpus into a fresh folder, generates the binary files it needs, runs
``audit ... --no-probe --format json --out <elsewhere>`` in that folder and asserts: the expected
exit code; for exit 2 a stderr line naming the file and the problem and an ``input.*`` finding in
the report; for exit 0/1 the expected finding in the JSON report; never a traceback; and every
file in the folder byte-identical afterwards, with nothing created.

Timing: one ``python -m biodata_guard`` per case costs ~1.5 s of imports alone (scipy, pandas),
~2 minutes for the corpus on a shared 2-core machine. So the selected cases are grouped: two
subprocesses (one per core) each import the package once and call ``biodata_guard.cli.main(argv)``
per case, with its own working directory, stdout and stderr. One test checks that this gives the
same exit codes and messages as ``python -m biodata_guard`` (``run_cli``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from biodata_guard.audit import plan
from biodata_guard.config import load_config
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io import read_features, read_table
from biodata_guard.io.matrix import as_matrix
from tests.conftest import assert_clean_failure, run_cli, sha256

#: The check groups the audit runs (the registry's plan).
CHECK_GROUPS = [g.name for g in plan()]
CORPUS = Path(__file__).parent / "data" / "bad"
_spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
make_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_corpus)

COLS = ("--label-col", "label", "--split-col", "split", "--group-col", "patient_id")
INPUT_IDS = ("input.unreadable", "input.invalid")


@dataclass(frozen=True)
class Case:
    """One corpus case. ``args`` follow ``audit``; ``{d}`` stands for the case folder."""

    id: str
    args: tuple[str, ...]
    exit: int
    needles: tuple[str, ...] = ()  # exit 2: stderr phrases, the file name first
    finding: str | None = None  # exit 0/1: check id (or "group.*") expected in the report
    severity: str | None = None
    evidence: tuple[tuple[str, object], ...] = ()
    make: tuple[str, ...] = ()  # binary files (make_corpus.BINARY) generated first
    cwd: str = "."  # relative to the case's root; "elsewhere" is an empty sibling folder
    marks: tuple = ()


def meta(name: str, *more: str) -> tuple[str, ...]:
    return ("--features", "good_counts.csv", "--metadata", name, *COLS, *more)


def counts(name: str, *more: str) -> tuple[str, ...]:
    return ("--features", name, "--metadata", "good_meta.csv", *COLS, *more)


def cells(name: str) -> tuple[str, ...]:
    return ("--features", name, *COLS)


def config(name: str) -> tuple[str, ...]:
    return ("--config", f"cfg/{name}")


def needs(group: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(
        group not in CHECK_GROUPS, reason=f"needs the {group} checks", strict=False
    )


CASES = [
    # --- controls: the clean cohort passes, as CSV and as h5ad -------------------------------
    Case("clean_csv", meta("good_meta.csv"), 0),
    Case("clean_h5ad", cells("good_cells.h5ad"), 0, make=("good_cells.h5ad",)),
    # --- files that cannot be read ------------------------------------------------------------
    Case("missing_file", counts("absent.csv"), 2, ("absent.csv", "does not exist")),
    Case("directory", counts("a_directory.csv"), 2, ("a_directory.csv", "is a directory"),
         make=("a_directory.csv",)),
    Case("empty_features", counts("empty.csv"), 2, ("empty.csv", "file is empty")),
    Case("empty_metadata", meta("empty.csv"), 2, ("empty.csv", "file is empty")),
    Case("blank_lines", meta("blank_lines.csv"), 2, ("blank_lines.csv", "no header line")),
    Case("nul_bytes", meta("nul_bytes_meta.csv"), 2, ("nul_bytes_meta.csv", "NUL bytes")),
    Case("not_utf8", meta("latin1_meta.csv"), 2, ("latin1_meta.csv", "not UTF-8")),
    Case("truncated_gzip", counts("truncated_counts.csv.gz"), 2,
         ("truncated_counts.csv.gz", "truncated or corrupt"), make=("truncated_counts.csv.gz",)),
    Case("not_gzip", counts("not_gzip_counts.csv.gz"), 2,
         ("not_gzip_counts.csv.gz", "cannot be decompressed"), make=("not_gzip_counts.csv.gz",)),
    Case("broken_parquet", counts("broken.parquet"), 2,
         ("broken.parquet", "not a readable Parquet"), make=("broken.parquet",)),
    Case("pickle", counts("frame.pkl"), 2, ("frame.pkl", "arbitrary code"), make=("frame.pkl",)),
    Case("npy", counts("counts.npy"), 2, ("counts.npy", "arbitrary code"), make=("counts.npy",)),
    Case("truncated_h5ad", cells("truncated.h5ad"), 2, ("truncated.h5ad", "truncated or corrupt"),
         make=("truncated.h5ad",)),
    Case("garbage_h5ad", cells("garbage.h5ad"), 2, ("garbage.h5ad", "truncated or corrupt"),
         make=("garbage.h5ad",)),
    # --- tables that read, but not as written --------------------------------------------------
    Case("header_only_metadata", meta("header_only_meta.csv"), 2,
         ("header_only_meta.csv", "has a header but no rows")),
    Case("header_only_features", counts("header_only_counts.csv"), 2,
         ("header_only_counts.csv", "has a header but no rows")),
    Case("wrong_delimiter", meta("semicolon_meta.csv"), 2,
         ("semicolon_meta.csv", "semicolon-delimited")),
    Case("tabs_in_csv", meta("tabs_named_meta.csv"), 2, ("tabs_named_meta.csv", "tab-delimited")),
    Case("mixed_delimiters", meta("mixed_delimiters_meta.csv"), 2,
         ("mixed_delimiters_meta.csv", "mixed delimiters", "data row 4")),
    Case("ragged_rows", meta("ragged_meta.csv"), 2,
         ("ragged_meta.csv", "inconsistent numbers of fields")),
    Case("single_column_matrix", counts("id_only_counts.csv"), 2,
         ("id_only_counts.csv", "at least 2 needed")),
    Case("duplicate_columns_metadata", meta("dup_columns_meta.csv"), 2,
         ("dup_columns_meta.csv", "duplicate column names ['label']")),
    Case("duplicate_columns_matrix", counts("dup_columns_counts.csv"), 2,
         ("dup_columns_counts.csv", "duplicate column names ['G01']")),
    Case("duplicate_ids_matrix", counts("dup_ids_counts.csv"), 2,
         ("dup_ids_counts.csv", "sample ids are not unique", "S01")),
    Case("text_in_matrix", counts("text_in_counts.csv"), 2,
         ("text_in_counts.csv", "non-numeric", "'G07'", "'S05'")),
    Case("integer_beyond_64_bits", counts("huge_int_counts.csv"), 2,
         ("huge_int_counts.csv", "beyond the 64-bit range", "'G05'", "'S05'")),
    Case("missing_label_column", meta("good_meta.csv", "--label-col", "diagnosis"), 2,
         ("good_meta.csv", "column 'diagnosis' not found")),
    # --- h5ad: refused or reported, never interpreted ------------------------------------------
    Case("h5ad_duplicate_obs_names", cells("dup_obs.h5ad"), 2,
         ("dup_obs.h5ad", "obs_names are not unique"), make=("dup_obs.h5ad",)),
    Case("h5ad_no_cells", cells("empty_obs.h5ad"), 2, ("empty_obs.h5ad", "holds no data"),
         make=("empty_obs.h5ad",)),
    Case("h5ad_unknown_encoding", cells("obs_objects.h5ad"), 2,
         ("obs_objects.h5ad", "/obs/label", "unknown encoding 'python-object'"),
         make=("obs_objects.h5ad",)),
    Case("h5ad_opaque_obs_column", cells("opaque_obs.h5ad"), 2,
         ("opaque_obs.h5ad", ".obs column 'batch'", "opaque binary"), make=("opaque_obs.h5ad",)),
    Case("h5ad_text_matrix", cells("string_x.h5ad"), 2, ("string_x.h5ad", ".X must be numeric"),
         make=("string_x.h5ad",)),
    # --- encodings and line endings that must read exactly like the clean files ----------------
    Case("bom", meta("bom_meta.csv", "--id-col", "sample_id"), 0),
    Case("windows_line_endings_metadata", meta("crlf_meta.csv"), 0),
    Case("windows_line_endings_matrix", counts("crlf_counts.csv"), 0),
    Case("comment_before_header", meta("comment_header_meta.csv"), 0),
    # --- data problems: findings in the report --------------------------------------------------
    Case("label_case_and_space_variants", meta("label_variants_meta.csv"), 1,
         finding="balance.label_variants", severity="error",
         evidence=(("variants", {"tumor": {"Tumor": 3, "tumor": 6, "tumor ": 3}}),)),
    Case("label_trailing_spaces", meta("trailing_space_meta.csv"), 1,
         finding="balance.label_variants", severity="error"),
    Case("h5ad_label_variants", cells("label_variants.h5ad"), 1,
         finding="balance.label_variants", severity="error", make=("label_variants.h5ad",)),
    Case("negative_counts", counts("negative_counts.csv"), 1, finding="units.invalid_values",
         severity="error", evidence=(("n_negative", 3), ("n_samples_affected", 3))),
    Case("all_zero_rows", counts("zero_rows_counts.csv"), 0, finding="units.invalid_values",
         severity="warning", evidence=(("n_zero_samples", 2),)),
    Case("nan_in_matrix", ("--features", "nan_counts.csv"), 1, finding="units.invalid_values",
         severity="error"),
    Case("inf_in_matrix", ("--features", "inf_counts.csv"), 1, finding="units.invalid_values",
         severity="error"),
    # With a split, the near-duplicate check leaves the NaN rows out (the gate shows it all).
    Case("nan_in_matrix_with_split", counts("nan_counts.csv"), 1, finding="units.invalid_values",
         severity="error"),
    Case("wrapped_minus_one_uint64", counts("huge_uint_counts.csv"), 2,
         ("huge_uint_counts.csv", "beyond the 64-bit range", "18446744073709551615")),
    Case("duplicate_ids_metadata", meta("dup_ids_meta.csv"), 1, finding="alignment.key_duplicates",
         severity="error", evidence=(("n_duplicated_ids", 1),)),
    Case("sample_missing_from_metadata", meta("missing_sample_meta.csv"), 1,
         finding="alignment.unmatched_keys", severity="error"),
    Case("ids_match_no_metadata", counts("foreign_ids_counts.csv"), 1,
         finding="alignment.unmatched_keys", severity="error",
         evidence=(("n_matched_rows", 0),)),
    Case("missing_labels", meta("missing_labels_meta.csv"), 1, finding="alignment.missing_labels",
         severity="error", evidence=(("n_missing", 4),)),
    Case("patient_in_train_and_test", meta("group_leak_meta.csv"), 1,
         finding="leakage.group_overlap", severity="error"),
    Case("single_sample", ("--features", "one_sample_counts.csv", "--metadata",
                           "one_sample_meta.csv", *COLS), 1,
         finding="balance.tiny_class", severity="error"),
    Case("single_class", meta("one_class_meta.csv"), 1, finding="balance.single_class",
         severity="error"),
    Case("replicates_disagree", meta("replicates_meta.csv", "--replicate-col", "replicate_group"),
         0, finding="replicates.ceiling", severity="info",
         evidence=(("kind", "categorical"), ("agreement", 0.5), ("ceiling_accuracy", 0.5)),
         marks=(needs("replicates"),)),
    # --- coordinates -----------------------------------------------------------------------------
    Case("vcf_broken_header", ("--coords", "broken_header.vcf"), 2,
         ("broken_header.vcf", "header")),
    Case("bed_end_before_start", ("--coords", "end_before_start.bed"), 1,
         finding="build.out_of_bounds", marks=(needs("build"),)),
    # --- configs ---------------------------------------------------------------------------------
    Case("config_relative_paths", ("--config", "{d}/cfg/relative.yaml"), 0, cwd="elsewhere"),
    Case("config_unknown_key", config("unknown_key.yaml"), 2,
         ("unknown_key.yaml", "unknown key 'probe.enabeld'", "Did you mean 'enabled'")),
    Case("config_unknown_section", config("unknown_section.yaml"), 2,
         ("unknown_section.yaml", "unknown section 'input'", "Did you mean 'inputs'")),
    Case("config_wrong_type", config("wrong_type.yaml"), 2,
         ("wrong_type.yaml", "thresholds.n_folds (--n-folds) must be an integer")),
    Case("config_path_not_a_string", config("path_not_string.yaml"), 2,
         ("path_not_string.yaml", "inputs.metadata (--metadata) must be a non-empty string")),
    Case("config_missing_input_file", config("missing_path.yaml"), 2,
         ("no_such_counts.csv", "does not exist")),
    Case("config_not_yaml", config("not_yaml.yaml"), 2, ("not_yaml.yaml", "not valid YAML")),
    Case("config_python_tag", config("python_tag.yaml"), 2,
         ("python_tag.yaml", "refused", "never construct Python objects")),
    Case("config_empty", config("empty.yaml"), 2, ("empty.yaml", "the config is empty")),
    Case("config_not_a_mapping", config("list_top.yaml"), 2,
         ("list_top.yaml", "top level must be a mapping")),
    Case("config_is_a_directory", ("--config", "cfg"), 2, ("cfg", "is a directory")),
    Case("config_without_inputs", config("no_inputs.yaml"), 2, ("no_inputs.yaml", "no input")),
]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (recursively) -> sha256."""
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess
    before: dict[str, str]
    after: dict[str, str]
    report: dict | None


#: Runs ``cli.main(argv)`` for each job of a JSON list, as ``python -m biodata_guard`` would.
_DRIVER = """
import contextlib, io, json, os, sys, traceback
from biodata_guard.cli import main
results = {}
for job in json.loads(open(sys.argv[1]).read()):
    os.chdir(job["cwd"])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(job["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            traceback.print_exc()
            code = -1
    results[job["id"]] = [code, out.getvalue(), err.getvalue()]
json.dump(results, open(sys.argv[2], "w"))
"""


def _prepare(case: Case, root: Path) -> dict:
    """Lay out the case's folder; return its job (argv, cwd, where the report goes)."""
    folder = root / "in"
    shutil.copytree(CORPUS, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for name in case.make:
        make_corpus.write_binary(name, folder)
    (root / "elsewhere").mkdir()
    argv = [a.replace("{d}", str(folder)) for a in case.args]
    argv = ["audit", *argv, "--no-probe", "--format", "json", "--out", str(root / "report.json")]
    cwd = folder if case.cwd == "." else root / case.cwd
    return {"id": case.id, "argv": argv, "cwd": str(cwd), "root": str(root)}


def _run_group(jobs: list[dict], work: Path) -> dict[str, tuple[int, str, str]]:
    """Run jobs in one subprocess (see _DRIVER)."""
    spec, result = work / "jobs.json", work / "results.json"
    spec.write_text(json.dumps(jobs))
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(spec), str(result)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {k: tuple(v) for k, v in json.loads(result.read_text()).items()}


def run_cases(cases: list[Case], tmp: Path, *, n_groups: int = 2) -> dict[str, Outcome]:
    jobs = {c.id: _prepare(c, tmp / c.id) for c in cases}
    before = {k: _snapshot(Path(j["root"]) / "in") for k, j in jobs.items()}
    groups = [g for g in (list(jobs.values())[i::n_groups] for i in range(n_groups)) if g]
    for i in range(len(groups)):
        (tmp / f"group{i}").mkdir()
    with ThreadPoolExecutor(max_workers=n_groups) as pool:
        parts = pool.map(lambda ig: _run_group(ig[1], tmp / f"group{ig[0]}"), enumerate(groups))
        done = {k: v for part in parts for k, v in part.items()}
    outcomes = {}
    for k, job in jobs.items():
        code, stdout, stderr = done[k]
        report = Path(job["root"]) / "report.json"
        outcomes[k] = Outcome(
            subprocess.CompletedProcess(job["argv"], code, stdout, stderr),
            before[k],
            _snapshot(Path(job["root"]) / "in"),
            json.loads(report.read_text()) if report.exists() else None,
        )
    return outcomes


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Outcome]:
    """Run every selected case up front (see the module docstring)."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module  # doctest items have none
        and hasattr(item, "callspec")
        and "case" in item.callspec.params
    ]
    return run_cases(selected, tmp_path_factory.mktemp("corpus"))


def _matches(finding: dict, case: Case) -> bool:
    check = case.finding or ""
    if check.endswith("*"):
        same = finding["check"].startswith(check[:-1])
    else:
        same = finding["check"] == check
    return same and (case.severity is None or finding["severity"] == case.severity)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(case: Case, outcomes: dict[str, Outcome]):
    result = outcomes[case.id]
    proc = result.proc
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert result.after == result.before, "an input was changed, or a file created"
    if case.exit == 2:
        assert_clean_failure(proc, *case.needles)
        assert result.report is not None and result.report["findings"][0]["check"] in INPUT_IDS
        return
    assert proc.returncode == case.exit, (proc.returncode, proc.stderr)
    findings = result.report["findings"]
    if case.finding is None:  # a clean read: nothing at warning or above
        assert [f["check"] for f in findings if f["severity"] != "info"] == []
        return
    hits = [f for f in findings if _matches(f, case)]
    assert hits, [(f["check"], f["severity"]) for f in findings]
    expected = dict(case.evidence)
    seen = [{k: h["evidence"].get(k) for k in expected} for h in hits]
    assert expected in seen, seen


def test_the_corpus_has_at_least_40_cases_and_each_failure_names_its_file():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    for c in CASES:
        if c.exit == 2:
            named = " ".join(c.args)
            if "--config" in c.args and (CORPUS / c.args[-1]).is_file():
                named += (CORPUS / c.args[-1]).read_text()
            assert c.needles[0] in named, (c.id, "the first needle must be the file's name")
        else:
            assert not c.needles, c.id
        assert set(c.make) <= set(make_corpus.BINARY), c.id


def test_committed_corpus_is_what_make_corpus_writes(tmp_path):
    written = {str(p.relative_to(tmp_path)) for p in make_corpus.write_text(tmp_path)}
    committed = {
        str(p.relative_to(CORPUS))
        for p in CORPUS.rglob("*")
        if p.is_file()
        and p.suffix != ".py"
        and not p.name.startswith(".")
        and "__pycache__" not in p.parts
    }
    assert committed == written, "rerun: python tests/data/bad/make_corpus.py"
    for rel in sorted(written):
        assert (CORPUS / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_grouped_runs_match_python_m_biodata_guard(tmp_path):
    """The grouped driver gives what ``python -m biodata_guard`` gives, case by case."""
    by_id = {c.id: c for c in CASES}
    cases = [by_id[k] for k in ("clean_csv", "mixed_delimiters", "config_python_tag")]
    grouped = run_cases(cases, tmp_path / "grouped")
    for case in cases:
        root = tmp_path / "single" / case.id
        job = _prepare(case, root)
        proc = run_cli(*job["argv"], cwd=Path(job["cwd"]))
        single = proc.stderr.replace(str(root), "<root>")
        other = grouped[case.id].proc.stderr.replace(str(tmp_path / "grouped" / case.id), "<root>")
        assert (proc.returncode, single) == (grouped[case.id].proc.returncode, other), case.id


# --- the reader fixes, one by one, without the CLI --------------------------------------------


@pytest.mark.parametrize(
    ("text", "columns", "n_rows"),
    [
        ("# exported by LIMS\n\n# v2\nsample_id,label\nS1,a\nS2,b\n", ["sample_id", "label"], 2),
        ("#sample_id,label\nS1,a\n", ["#sample_id", "label"], 1),  # a '#'-prefixed header
    ],
)
def test_comment_lines_before_the_header_are_skipped(tmp_path, text, columns, n_rows):
    (tmp_path / "t.csv").write_text(text)
    df = read_table(tmp_path / "t.csv")
    assert list(df.columns) == columns and len(df) == n_rows


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"sample_id,label\nS1,a\nS2\tb\n", "are tab-separated in a comma-separated file"),
        (b"sample_id,label\x00\nS1,a\n", "NUL bytes"),
    ],
)
def test_tables_that_pandas_would_misread(tmp_path, content, phrase):
    (tmp_path / "t.csv").write_bytes(content)
    with pytest.raises(InputError, match=phrase) as info:
        read_table(tmp_path / "t.csv")
    assert "t.csv" in info.value.message


@pytest.mark.parametrize("value", [2**64 - 1, 2**70, -(2**63) - 1])
def test_integers_beyond_64_bits_are_refused_with_row_and_column(tmp_path, value):
    (tmp_path / "x.csv").write_text(f"id,g1,g2\nS1,1,2\nS2,3,{value}\n")
    with pytest.raises(InputError, match="beyond the 64-bit range") as info:
        read_features(tmp_path / "x.csv")
    assert "'S2'" in info.value.message and info.value.column == "g2"


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("empty_obs.h5ad", "holds no data (0 observations x 16 variables)"),
        ("obs_objects.h5ad", "/obs/label has the unknown encoding 'python-object'"),
        ("opaque_obs.h5ad", ".obs column 'batch' holds opaque binary values"),
        ("string_x.h5ad", ".X must be numeric; got dtype object"),
    ],
)
def test_h5ad_contents_of_unexpected_types_are_refused(tmp_path, name, phrase):
    path = make_corpus.write_binary(name, tmp_path)
    with pytest.raises(InputError) as info:
        read_features(path)
    assert phrase in info.value.message and name in info.value.message


def test_an_anndata_with_a_text_matrix_is_refused():
    adata = ad.AnnData(X=np.full((3, 2), "7", dtype=object))
    with pytest.raises(InputError, match=r"<AnnData>: \.X must be numeric"):
        as_matrix(adata)


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (None, "is a directory"),
        ("", "the config is empty"),
        ("# only a comment\n", "the config is empty"),
        ("inputs: !!python/object/apply:os.system ['true']\n", "never construct Python objects"),
    ],
)
def test_config_files_that_are_no_config(tmp_path, text, phrase):
    path = tmp_path / "audit.yaml"
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    with pytest.raises(ConfigError, match=phrase) as info:
        load_config(path)
    assert "audit.yaml" in info.value.message
