"""Property-based tests of the public checks (hypothesis, bounded and derandomized for CI).

Properties: no exception on arbitrary well-typed input (InputError/ConfigError only where the
docstring says so); permuting rows does not change the findings; renaming ids consistently does
not change the counts; a grouped split from ``group_split`` never yields a leakage error; every
Report's JSON validates against ``biodata_guard/report/schema.json``.

Findings are compared by their *signature*: the sorted ``(check, severity, integer evidence)``
tuples. Integer evidence entries are the counts; floats (fractions, p-values) may differ in the
last digit when the summation order changes, and ``subjects`` hold the ids themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis.extra.numpy as hnp
import jsonschema
import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import biodata_guard
from biodata_guard import alignment, balance, leakage, units
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Report
from biodata_guard.split import group_split

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCHEMA = json.loads(
    (Path(biodata_guard.__file__).parent / "report" / "schema.json").read_text(encoding="utf-8")
)

# --- strategies (all in one place) ----------------------------------------------------------

LABELS = ("tumor", "normal", "Tumor", "tumor ", "stroma")
SPLITS = ("train", "test", "valid")
PATIENTS = tuple(f"P{i}" for i in range(8))
ids = st.text(alphabet="ABSxy019_-.", min_size=1, max_size=5)


@st.composite
def sample_sheets(draw, *, min_rows: int = 1, max_rows: int = 30, missing: bool = False):
    """A sample table: unique sample_id, label, split, patient, batch, age (some values missing
    when ``missing``)."""
    n = draw(st.integers(min_rows, max_rows))

    def column(values, *, na=missing):
        choices = st.sampled_from(values)
        return draw(st.lists(choices | st.none() if na else choices, min_size=n, max_size=n))

    return pd.DataFrame(
        {
            "sample_id": draw(st.lists(ids, min_size=n, max_size=n, unique=True)),
            "label": column(LABELS),
            "split": column(SPLITS),
            "patient": column(PATIENTS),
            "batch": column(("B1", "B2", "B3")),
            "age": column((23.0, 41.5, 57.0, 68.0, 80.0), na=True),
        }
    )


@st.composite
def matrices(draw, n: int | None = None, *, finite: bool = False):
    """A samples x features matrix: counts, non-negative floats or anything (negative, NaN,
    inf, huge); dense or CSR."""
    n = draw(st.integers(1, 16)) if n is None else n
    m = draw(st.integers(1, 10))
    kind = draw(st.sampled_from(("counts", "positive", "any")))
    if kind == "counts":
        elements = st.integers(0, 5000).map(float)
    elif kind == "positive":
        elements = st.floats(0, 1e6)
    else:
        elements = st.floats(-1e12, 1e12)
        if not finite:
            elements |= st.sampled_from((np.nan, np.inf, -np.inf))
    X = draw(hnp.arrays(np.float64, (n, m), elements=elements))
    return sp.csr_matrix(X) if draw(st.booleans()) else X


def permutations(n: int):
    return st.permutations(range(n)).map(np.asarray)


# --- helpers --------------------------------------------------------------------------------


def _counts(evidence, prefix: str = "") -> list[tuple[str, int]]:
    out = []
    for k, v in sorted(evidence.items(), key=lambda kv: str(kv[0])):
        if isinstance(v, dict):
            out += _counts(v, f"{prefix}{k}.")
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append((f"{prefix}{k}", v))
    return out


def signature(findings: list[Finding]) -> list[tuple]:
    """(check, severity, integer evidence) per finding, sorted: what must not change."""
    return sorted((f.check, str(f.severity), tuple(_counts(f.evidence))) for f in findings)


def renamed(values, mapping: dict) -> list:
    return [mapping.get(v, v) for v in values]


def id_renaming(values) -> dict:
    """A consistent, one-to-one renaming that keeps the natural sort order of the ids."""
    return {v: f"id{i:04d}" for i, v in enumerate(sorted(set(values), key=str))}


# --- alignment --------------------------------------------------------------------------------


@SETTINGS
@given(
    left=st.lists(ids, max_size=25),
    right=st.lists(ids, max_size=25),
    data=st.data(),
)
def test_alignment_is_invariant_to_common_permutation_and_renaming(left, right, data):
    base = alignment.check_alignment(left, right)
    n = min(len(left), len(right))
    order = data.draw(permutations(n))
    left_p = [left[i] for i in order] + left[n:]
    right_p = [right[i] for i in order] + right[n:]
    assert signature(alignment.check_alignment(left_p, right_p)) == signature(base)
    mapping = id_renaming(left + right)
    renamed_findings = alignment.check_alignment(renamed(left, mapping), renamed(right, mapping))
    assert signature(renamed_findings) == signature(base)


@SETTINGS
@given(sheet=sample_sheets(missing=True), data=st.data())
def test_missing_labels_counts_survive_permutation_and_renaming(sheet, data):
    y = sheet.set_index("sample_id")["label"]
    base = alignment.check_missing_labels(y)
    order = data.draw(permutations(len(y)))
    assert signature(alignment.check_missing_labels(y.iloc[order])) == signature(base)
    y_renamed = y.rename(index=id_renaming(y.index))
    assert signature(alignment.check_missing_labels(y_renamed)) == signature(base)


@SETTINGS
@given(
    left=st.lists(st.sampled_from(PATIENTS), min_size=1, max_size=20),
    right=st.lists(st.sampled_from(PATIENTS), min_size=1, max_size=20),
    data=st.data(),
)
def test_merge_explosion_is_invariant_to_row_order_and_key_renaming(left, right, data):
    lf = pd.DataFrame({"key": left, "x": range(len(left))})
    rf = pd.DataFrame({"key": right, "y": range(len(right))})
    base = alignment.check_merge(lf, rf, on="key")
    lp = lf.iloc[data.draw(permutations(len(lf)))]
    rp = rf.iloc[data.draw(permutations(len(rf)))]
    assert signature(alignment.check_merge(lp, rp, on="key")) == signature(base)
    mapping = id_renaming(left + right)
    lr, rr = lf.assign(key=renamed(left, mapping)), rf.assign(key=renamed(right, mapping))
    assert signature(alignment.check_merge(lr, rr, on="key")) == signature(base)
    n_rows = len(lf.merge(rf, on="key"))
    for f in base:
        assert f.evidence["n_result_rows"] == n_rows


# --- balance ----------------------------------------------------------------------------------


@SETTINGS
@given(sheet=sample_sheets(missing=True), data=st.data())
def test_balance_checks_are_invariant_to_row_order_and_id_renaming(sheet, data):
    def run(df):
        df = df.set_index("sample_id")
        return (
            balance.check_class_balance(df["label"])
            + balance.check_label_variants(df["label"])
            + balance.check_split_balance(df["label"], df["split"])
        )

    base = run(sheet)
    shuffled = sheet.iloc[data.draw(permutations(len(sheet)))]
    assert signature(run(shuffled)) == signature(base)
    mapping = id_renaming(sheet["sample_id"])
    assert signature(run(sheet.assign(sample_id=renamed(sheet["sample_id"], mapping)))) == (
        signature(base)
    )


@SETTINGS
@given(sheet=sample_sheets(missing=True))
def test_label_variants_count_every_spelling(sheet):
    y = sheet["label"]
    findings = balance.check_label_variants(y)
    spelled = y.dropna().astype(str)
    keys = spelled.str.strip().str.casefold()
    n_variant_rows = int(
        keys.isin(keys.groupby(keys).filter(lambda k: spelled[k.index].nunique() > 1)).sum()
    )
    assert sum(f.evidence["n_affected_samples"] for f in findings) == n_variant_rows


# --- leakage ----------------------------------------------------------------------------------


@SETTINGS
@given(sheet=sample_sheets(), data=st.data())
def test_split_overlap_checks_are_invariant_to_row_order_and_renaming(sheet, data):
    # one row per (sample, split) assignment: repeat some rows into another split
    extra = sheet.sample(frac=0.3, random_state=0).assign(split="test")
    df = pd.concat([sheet, extra], ignore_index=True)

    def run(frame):
        return leakage.check_id_overlap(frame, id_col="sample_id") + leakage.check_group_overlap(
            frame, group_cols=["patient"]
        )

    base = run(df)
    assert signature(run(df.iloc[data.draw(permutations(len(df)))])) == signature(base)
    ids_map, patients_map = id_renaming(df["sample_id"]), id_renaming(df["patient"])
    df_renamed = df.assign(
        sample_id=renamed(df["sample_id"], ids_map), patient=renamed(df["patient"], patients_map)
    )
    assert signature(run(df_renamed)) == signature(base)


@given(sheet=sample_sheets(missing=True))
def test_split_overlap_checks_accept_missing_values(sheet):
    def checked(findings):  # with fewer than 2 splits a check says it could not run
        return [f for f in findings if not f.evidence.get("not_checked")]

    # sample ids are unique: no id can be in two splits, whatever is missing
    assert checked(leakage.check_id_overlap(sheet, id_col="sample_id")) == []
    # a row without a split or a patient never makes a patient cross splits
    known = sheet.dropna(subset=["patient", "split"])
    expected = int((known.groupby("patient")["split"].nunique() > 1).sum())
    found = checked(leakage.check_group_overlap(sheet, group_cols=["patient"]))
    assert sum(f.evidence["n_shared_groups"] for f in found) == expected
    assert all(f.check == leakage.GROUP_OVERLAP for f in found)


@SETTINGS
@given(data=st.data())
def test_duplicate_samples_are_invariant_to_row_order_and_renaming(data):
    n = data.draw(st.integers(2, 16))
    X = data.draw(matrices(n, finite=True))
    dense = X.toarray() if sp.issparse(X) else X
    dup = data.draw(st.lists(st.integers(0, n - 1), max_size=4))
    dense = np.vstack([dense, dense[dup]])  # plant duplicates of some rows
    splits = data.draw(st.lists(st.sampled_from(SPLITS), min_size=len(dense), max_size=len(dense)))
    frame = pd.DataFrame(dense, index=[f"s{i}" for i in range(len(dense))])
    base = leakage.check_duplicate_samples(frame, splits)
    order = data.draw(permutations(len(dense)))
    shuffled = leakage.check_duplicate_samples(frame.iloc[order], [splits[i] for i in order])
    assert signature(shuffled) == signature(base)
    renamed_frame = frame.set_axis([f"z{i:03d}" for i in range(len(frame))])
    assert signature(leakage.check_duplicate_samples(renamed_frame, splits)) == signature(base)


@SETTINGS
@given(sheet=sample_sheets(min_rows=4, missing=True), data=st.data())
def test_metadata_predicts_label_is_invariant_to_id_renaming(sheet, data):
    cols = ["batch", "age", "sample_id"]
    base = leakage.check_metadata_predicts_label(sheet, metadata_cols=cols, group_col="patient")
    mapping = id_renaming(sheet["sample_id"])
    renamed_sheet = sheet.assign(sample_id=renamed(sheet["sample_id"], mapping))
    again = leakage.check_metadata_predicts_label(
        renamed_sheet, metadata_cols=cols, group_col="patient"
    )
    assert signature(again) == signature(base)


@SETTINGS
@given(sheet=sample_sheets(min_rows=4), data=st.data())
def test_metadata_predicts_label_is_invariant_to_row_order(sheet, data):
    cols = ["batch", "age"]
    base = leakage.check_metadata_predicts_label(sheet, metadata_cols=cols, group_col="patient")
    shuffled = sheet.iloc[data.draw(permutations(len(sheet)))]
    again = leakage.check_metadata_predicts_label(shuffled, metadata_cols=cols, group_col="patient")
    assert signature(again) == signature(base)


families = st.lists(st.sampled_from(("F1", "F2", "F3", "F4", "F5")), min_size=40, max_size=40)
two_labels = st.lists(st.sampled_from(("tumor", "normal")), min_size=40, max_size=40)


@SETTINGS
@given(
    sheet=sample_sheets(min_rows=10, max_rows=40),
    family=families,
    label=two_labels,
    seed=st.integers(0, 2**16),
)
def test_a_group_split_never_yields_a_leakage_error(sheet, family, label, seed):
    n = len(sheet)
    df = sheet.assign(family=family[:n], label=label[:n])
    groups = ["patient", "family"]
    try:
        split = group_split(df, label_col="label", group_cols=groups, seed=seed)
    except InputError as exc:  # documented: fewer than 2 independent groups
        assert "independent group" in exc.message
        return
    df = df.assign(split=split)
    X = np.arange(n * 3, dtype=float).reshape(n, 3)  # distinct rows
    findings = (
        leakage.check_id_overlap(df, id_col="sample_id")
        + leakage.check_group_overlap(df, group_cols=groups)
        + leakage.check_duplicate_samples(X, split.to_numpy())
    )
    assert [f for f in findings if f.severity == "error"] == []


@given(sheet=sample_sheets(min_rows=2, max_rows=12))
def test_group_split_raises_only_documented_errors(sheet):
    try:
        split = group_split(sheet, label_col="label", group_cols=["patient"])
    except InputError as exc:  # the only documented failure: too few independent groups
        assert "independent group" in exc.message
        return
    assert len(split) == len(sheet) and split.notna().all()
    known = sheet.assign(split=split).dropna(subset=["patient"])
    assert (known.groupby("patient")["split"].nunique() <= 1).all()  # no patient crosses


# --- units ------------------------------------------------------------------------------------


@SETTINGS
@given(X=matrices(), data=st.data())
def test_units_never_raise_and_are_invariant_to_row_order(X, data):
    base = units.check_units(X)
    call = units.detect_units(X)
    assert call.units in units.UNITS
    assert [f.check for f in base].count(units.DETECTED) == 1
    order = data.draw(permutations(X.shape[0]))
    assert signature(units.check_units(X[order])) == signature(base)
    assert units.detect_units(X[order]).units == call.units


# --- the report -------------------------------------------------------------------------------

CHECK_IDS = [
    *sorted(
        value
        for module in (alignment, balance, leakage, units)
        for value in (getattr(module, n) for n in module.__all__ if n.isupper())
        if isinstance(value, str) and value.startswith(module.__name__.rsplit(".", 1)[1] + ".")
    ),
    "input.invalid",
    "input.unreadable",
]
INPUT_RECORD = {"name": "x.csv", "kind": "matrix", "shape": [3, 4], "path": "/x.csv"}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from((np.int64(3), np.float32(0.5), np.float64(np.nan), np.bool_(True))),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
findings_st = st.builds(
    Finding,
    check=st.sampled_from(CHECK_IDS),
    severity=st.sampled_from(("error", "warning", "info")),
    message=st.text(min_size=1, max_size=30),
    evidence=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    subjects=st.lists(ids | st.integers(0, 99), max_size=4),
    hint=st.text(max_size=20),
    input=st.text(max_size=10),
)


@SETTINGS
@given(
    findings=st.lists(findings_st, max_size=6),
    fail_on=st.sampled_from(("error", "warning")),
    seed=st.integers(0, 2**31),
)
def test_any_report_json_validates_against_the_schema(findings, fail_on, seed):
    report = Report(
        findings=findings,
        inputs=[{**INPUT_RECORD, "sha256": "0" * 64}],
        config={"columns": {"label": "label"}},
        fail_on=fail_on,
        seed=seed,
        elapsed_seconds=0.25,
    )
    jsonschema.validate(json.loads(report.to_json()), SCHEMA)


@SETTINGS
@given(sheet=sample_sheets(min_rows=2, missing=True), data=st.data())
def test_audit_reports_validate_against_the_schema(sheet, data):
    X = data.draw(matrices(len(sheet), finite=True))
    features = pd.DataFrame(X.toarray() if sp.issparse(X) else X, index=sheet["sample_id"])
    features.columns = [f"g{j}" for j in range(features.shape[1])]
    try:
        report = biodata_guard.audit(
            features=features,
            metadata=sheet,
            label_col="label",
            split_col="split",
            group_cols=["patient"],
            only={"alignment", "balance", "units"},
        )
    except InputError:
        return  # documented for invalid inputs; the CLI turns it into an input.* report
    jsonschema.validate(json.loads(report.to_json()), SCHEMA)
