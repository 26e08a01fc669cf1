"""Single-matrix unit checks: the call, unexpected units, mixed units, invalid values."""

from __future__ import annotations

from typing import Any

import pandas as pd

from biodata_guard._format import fraction, preview
from biodata_guard.errors import ConfigError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS
from biodata_guard.registry import Options, PanderaMethod, declare_check, declare_param
from biodata_guard.units._call import EXPECTED_UNITS, UnitsCall
from biodata_guard.units._detect import detect_units
from biodata_guard.units._hints import _call_from_label, _convert_hint
from biodata_guard.units._pandera import finite, integer_valued

declare_param(
    "expected_units",
    None,
    kind="choice",
    help="Expected feature units.",
    valid=Options(EXPECTED_UNITS),
    section="expectations",
    key="units",
)

DETECTED = declare_check(
    "units.detected",
    group="units",
    severities=("info",),
    needs=("features",),
    doc="The units of each feature matrix (counts, CPM, TPM, RPKM/FPKM, normalised, log, "
    "scaled), with the evidence behind the call.",
)
UNEXPECTED = declare_check(
    "units.unexpected",
    group="units",
    severities=("warning", "error"),
    needs=("features",),
    params=("expected_units",),
    doc="A matrix not in the expected units (--expected-units, or a layer named 'counts' that "
    "holds log values).",
    pandera=PanderaMethod(integer_valued, statistics=(), kind="column", element_wise=True),
)
MIXED_WITHIN = declare_check(
    "units.mixed_within",
    group="units",
    severities=("error",),
    needs=("features",),
    doc="Samples in other units than the rest of their matrix, or feature columns on another "
    "scale.",
)
INVALID_VALUES = declare_check(
    "units.invalid_values",
    group="units",
    severities=("warning", "error"),
    needs=("features",),
    doc="NaN/inf cells, negative values in units that forbid them, all-zero samples or features.",
    pandera=PanderaMethod(finite, statistics=(), kind="column", element_wise=True),
)


def _detected_finding(call: UnitsCall, *, role: str | None = None) -> Finding:
    ev = call.evidence
    agree = ev.get("n_samples_agreeing", 0)
    total = ev.get("n_samples_nonempty", 0)
    hint = _lengths_hint(call)
    what = f"{role}: " if role else ""
    return Finding(
        DETECTED,
        Severity.INFO,
        f"{call.name}: {what}{call.label} — {call.reason}; {fraction(agree, total)} samples agree",
        evidence={
            "units": call.units,
            "label": call.label,
            "confidence": call.confidence,
            "candidates": list(call.candidates),
            "log_base": call.log_base,
            "log_of": call.log_of,
            "pseudocount": call.pseudocount,
            **({"role": role} if role else {}),
            **ev,
        },
        hint=hint,
        input=call.name,
    )


def _lengths_hint(call: UnitsCall) -> str:
    """How gene lengths would settle what the call leaves open (empty when nothing is)."""
    lengths = call.evidence.get("gene_lengths") or {}
    if "cpm_or_tpm" in call.label:
        what = "to tell TPM from CPM"
    elif call.candidates == ("rpkm", "normalized"):
        what = "to confirm RPKM/FPKM (sum of value x length = 1e9 per sample)"
    else:
        return ""
    if lengths.get("shipped"):
        return (
            f"The shipped lengths ({lengths['source']}) did not settle it: pass the lengths the "
            f"values were computed with (--gene-lengths lengths.tsv) {what}."
        )
    if lengths:
        return ""
    return (
        "Pass gene lengths (--gene-lengths lengths.tsv, or gene_lengths=read_gene_lengths(path)) "
        f"{what}; Ensembl ids or symbols of human or mouse genes get the shipped lengths."
    )


def _unexpected_findings(call: UnitsCall, expected: str, *, source: str) -> list[Finding]:
    if call.matches(expected):
        return []
    unknown = call.units == "unknown"
    what = "could not be confirmed" if unknown else f"look like {call.label}"
    return [
        Finding(
            UNEXPECTED,
            Severity.WARNING if unknown else Severity.ERROR,
            f"{call.name}: expected {expected} ({source}) but the values {what} ({call.reason})",
            evidence={
                "expected": expected,
                "expected_from": source,
                "detected": call.units,
                "label": call.label,
                "candidates": list(call.candidates),
                "confidence": call.confidence,
            },
            hint=_convert_hint(call, expected)
            if not unknown
            else (f"Check how {call.name} was produced; its units could not be inferred."),
            input=call.name,
        )
    ]


def _mixed_findings(call: UnitsCall) -> list[Finding]:
    """``units.mixed_within``: samples, or feature columns, in other units than the rest."""
    ev = call.evidence
    out = []
    if ev.get("n_mixed_samples", 0):
        out.append(_mixed_samples_finding(call))
    if ev.get("n_mixed_features", 0):
        out.append(_mixed_features_finding(call))
    return out


def _mixed_samples_finding(call: UnitsCall) -> Finding:
    ev = call.evidence
    k = ev["n_mixed_samples"]
    ids = call.offenders.get("mixed_samples", [])
    others = ev.get("mixed_units", {})
    kinds = ", ".join(f"{lab} ({c})" for lab, c in others.items())
    dominant = max(others.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return Finding(
        MIXED_WITHIN,
        Severity.ERROR,
        f"{call.name}: {fraction(k, ev['n_samples_nonempty'])} samples are in other "
        f"units than the {call.label} of the rest: {kinds} (e.g. "
        f"{preview(ids, total=k)})",
        evidence={
            "axis": "samples",
            "majority": call.label,
            "n_samples": ev["n_samples_nonempty"],
            "n_other": k,
            "other_units": others,
        },
        subjects=ids,
        hint=_mixed_hint(call, dominant, k),
        input=call.name,
    )


def _mixed_features_finding(call: UnitsCall) -> Finding:
    ev = call.evidence
    kf = ev["n_mixed_features"]
    ids = call.offenders.get("mixed_features", [])
    kind = ev.get("mixed_feature_kind")
    n_nonempty = ev.get("n_features_nonzero", 0)
    if kind == "negative":
        what = (
            f"hold negative values (in >= 20% of their values) while "
            f"{ev.get('n_features_nonnegative', n_nonempty - kf)} hold none ({call.label})"
        )
    else:
        what = f"hold {kind} values while the other {n_nonempty - kf} hold {call.label}"
    return Finding(
        MIXED_WITHIN,
        Severity.ERROR,
        f"{call.name}: {fraction(kf, n_nonempty)} features {what} (e.g. {preview(ids, total=kf)})",
        evidence={
            "axis": "features",
            "majority": call.label,
            "kind": kind,
            "n_features": n_nonempty,
            "n_other": kf,
            **(
                {"n_features_nonnegative": ev["n_features_nonnegative"]}
                if kind == "negative"
                else {}
            ),
        },
        subjects=ids,
        hint=(
            "Build every feature column from the same matrix: drop or re-derive the "
            f"{kf} odd columns (e.g. X.loc[:, ~X.columns.isin(odd)]) before training."
        ),
        input=call.name,
    )


def _mixed_hint(call: UnitsCall, dominant: str, k: int) -> str:
    if call.units == "counts":
        return (
            f"Re-load the {k} {dominant} samples as raw counts from their quantifier output "
            f"({dominant} cannot be turned back into counts) before merging."
        )
    if call.units == "unknown":
        return "Re-quantify every sample with one pipeline before merging."
    src = _call_from_label(dominant, f"the {k} {dominant} samples")
    return _convert_hint(src, call.units, dst_call=call)


def _invalid_findings(call: UnitsCall) -> list[Finding]:
    """``units.invalid_values``: NaN/inf, forbidden negatives, all-zero samples and features."""
    ev = call.evidence
    out = []
    if ev.get("n_samples_with_nan_or_inf", 0):
        out.append(_nonfinite_finding(call))
    if ev.get("n_negative_forbidden", 0):
        out.append(_negative_finding(call))
    for axis in ("samples", "features"):
        if ev.get(f"n_zero_{axis}", 0):
            out.append(_zero_finding(call, axis))
    return out


def _nonfinite_finding(call: UnitsCall) -> Finding:
    ev, name = call.evidence, call.name
    n, bad_rows = ev["n_samples"], ev["n_samples_with_nan_or_inf"]
    ids = call.offenders.get("nan_samples", [])
    return Finding(
        INVALID_VALUES,
        Severity.ERROR,
        f"{name}: {ev['n_nan']} NaN and {ev['n_inf']} infinite values in "
        f"{fraction(bad_rows, n)} samples (e.g. {preview(ids, total=bad_rows)})",
        evidence={
            "kind": "nan_inf",
            "n_nan": ev["n_nan"],
            "n_inf": ev["n_inf"],
            "n_samples_affected": bad_rows,
            "n_samples": n,
        },
        subjects=ids,
        hint=(
            "Locate them with np.argwhere(~np.isfinite(X)) and impute or drop those "
            "samples/features before training (most models propagate NaN silently)."
        ),
        input=name,
    )


def _negative_finding(call: UnitsCall) -> Finding:
    ev, name = call.evidence, call.name
    n, m, n_neg = ev["n_samples"], ev["n_features"], ev["n_negative_forbidden"]
    by_sample = "negative_samples" in call.offenders
    ids = call.offenders.get("negative_samples" if by_sample else "negative_features", [])
    k = ev["n_samples_with_negatives"] if by_sample else ev["n_features_with_negatives"]
    axis = "samples" if by_sample else "features"
    return Finding(
        INVALID_VALUES,
        Severity.ERROR,
        f"{name}: {n_neg} negative values in {call.label} data, which cannot be "
        f"negative, in {fraction(k, n if by_sample else m)} {axis} (e.g. "
        f"{preview(ids, total=k)})",
        evidence={
            "kind": "negative",
            "units": call.units,
            "n_negative": n_neg,
            f"n_{axis}_affected": k,
            "n_features_with_negatives": ev.get("n_features_with_negatives", 0),
        },
        subjects=ids,
        hint=(
            "Find the step that produced them (np.argwhere(X < 0)): a subtraction, a "
            "batch correction or a merge; clip only if they are rounding noise."
        ),
        input=name,
    )


#: How to drop all-zero samples or features, by axis.
_ZERO_HINTS = {
    "samples": (
        "Drop empty samples before normalising (X[X.sum(axis=1) > 0] or "
        "sc.pp.filter_cells(adata, min_counts=1)); they become NaN after "
        "library-size normalisation."
    ),
    "features": (
        "Drop features that are zero everywhere (X[:, X.sum(axis=0) > 0] or "
        "sc.pp.filter_genes(adata, min_cells=1)) before scaling or training."
    ),
}


def _zero_finding(call: UnitsCall, axis: str) -> Finding:
    """All-zero samples (``axis="samples"``) or features (``axis="features"``)."""
    ev, name = call.evidence, call.name
    total, k = ev[f"n_{axis}"], ev[f"n_zero_{axis}"]
    ids = call.offenders.get(f"zero_{axis}", [])
    other = "feature" if axis == "samples" else "sample"
    return Finding(
        INVALID_VALUES,
        Severity.WARNING,
        f"{name}: {fraction(k, total)} {axis} are zero in every {other} (e.g. "
        f"{preview(ids, total=k)})",
        evidence={"kind": f"zero_{axis}", f"n_zero_{axis}": k, f"n_{axis}": total},
        subjects=ids,
        hint=_ZERO_HINTS[axis],
        input=name,
    )


def _matrix_findings(call: UnitsCall, *, role: str | None = None) -> list[Finding]:
    return [_detected_finding(call, role=role), *_mixed_findings(call), *_invalid_findings(call)]


def _check_expected(expected: str | None) -> None:
    if expected is not None and expected not in EXPECTED_UNITS:
        raise ConfigError(
            f"expected_units must be one of {', '.join(EXPECTED_UNITS)}; got {expected!r} instead",
            key="expectations.units",
            hint="Set expectations.units (or --expected-units) to one of the listed values.",
        )


def check_units(
    X: Any,
    *,
    gene_lengths: pd.Series | None = None,
    expected_units: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    name: str | None = None,
    max_filtered_share: float = 0.25,
    shipped_lengths: bool = True,
) -> list[Finding]:
    """All single-matrix unit checks in one streaming pass.

    Emits ``units.detected`` (info, the call with its evidence), ``units.unexpected``
    (error when the data are definitely not ``expected_units``; warning when the units
    could not be inferred), ``units.mixed_within`` (error: samples in other units than the
    rest, or feature columns on another scale) and ``units.invalid_values`` (NaN/inf and
    negative values where the units forbid them: error; all-zero samples or features:
    warning).

    Parameters
    ----------
    X
        A matrix (see :func:`detect_units`) or a :class:`UnitsCall` already computed.
    expected_units
        One of :data:`EXPECTED_UNITS` (``counts``, ``cpm``, ``tpm``, ``rpkm``, ``fpkm``,
        ``normalized``, ``log``, ``scaled``), or None.
    gene_lengths, chunk_size, name, max_filtered_share, shipped_lengths
        As for :func:`detect_units`.

    Examples
    --------
    A batch appended in TPM to raw counts:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(20, (40, 300)).astype(float)
    >>> lengths = rng.integers(500, 5000, 300)
    >>> rate = counts[30:] / lengths
    >>> X = np.vstack([counts[:30], rate / rate.sum(1, keepdims=True) * 1e6])
    >>> [(f.check, str(f.severity)) for f in check_units(X) if f.severity != "info"]
    [('units.mixed_within', 'error')]
    """
    _check_expected(expected_units)
    if isinstance(X, UnitsCall):
        call = X
    else:
        call = detect_units(
            X,
            gene_lengths=gene_lengths,
            chunk_size=chunk_size,
            name=name,
            max_filtered_share=max_filtered_share,
            shipped_lengths=shipped_lengths,
        )
    out = _matrix_findings(call)
    if expected_units is not None:
        out += _unexpected_findings(call, expected_units, source="expected_units")
    return out
