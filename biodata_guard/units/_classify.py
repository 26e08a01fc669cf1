"""Per-sample units labels from the scan's statistics, and feature columns on another scale."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from biodata_guard.stats import relative_range
from biodata_guard.units._call import _CANDIDATES, _SUM_RTOL, CPM_TARGET, RPKM_LENGTH_SUM
from biodata_guard.units._scan import LOG_BASES, NEG_ROW_SHARE, Scan

_EST_COUNTS_INT_SHARE = 0.25  # estimated counts (salmon/RSEM): many values still integers


def _in_band(S: np.ndarray, target: float, lo: float) -> np.ndarray:
    return (target * lo <= S) & (target * (1 + _SUM_RTOL) >= S)


def _tight(S: np.ndarray, target: float) -> np.ndarray:
    return np.abs(S / target - 1.0) <= _SUM_RTOL


def _linear_labels(
    st: dict[str, np.ndarray],
    *,
    integer: np.ndarray,
    int_share: np.ndarray | None,
    has_lengths: bool,
    lo: float,
) -> np.ndarray:
    """Per-row linear-scale labels from row statistics (``~`` = weak, no exact evidence)."""
    S = st["S"]
    lab = np.full(len(S), "unknown~" if has_lengths else "rpkm~", dtype=object)
    band = _in_band(S, CPM_TARGET, lo)
    if int_share is not None:
        lab[int_share >= _EST_COUNTS_INT_SHARE] = "counts~"
    lab[_tight(S, CPM_TARGET)] = "cpm_or_tpm"
    if has_lengths:
        lband = _in_band(st["SL"], RPKM_LENGTH_SUM, lo)
        lab[lband] = "rpkm"
        on_grid = st["len_m"] > 0
        lab[on_grid] = "normalized"
        lab[on_grid & lband] = "rpkm"
        lab[on_grid & band] = "tpm"
    on_grid = st["grid_m"] > 0
    lab[on_grid] = "normalized"
    lab[on_grid & band] = "cpm"
    lab[integer] = "counts"
    lab[st["n_pos"] == 0] = "empty"
    return lab


def _refine(lab: np.ndarray, S: np.ndarray, consider: np.ndarray, lo: float) -> np.ndarray:
    """Dataset-level relabelling that needs all samples: sums at 1e6 up to filtering,
    constant sums at another target, integers that sum to 1e6 (rounded CPM/TPM)."""
    lab = lab.copy()
    weak = consider & np.isin(lab, ["rpkm~", "unknown~"])
    if weak.any():
        band = _in_band(S, CPM_TARGET, lo)
        if band[weak].mean() >= 0.9:
            lab[weak & band] = "cpm_or_tpm~"
        elif weak.sum() >= 2 and relative_range(S[weak]) <= _SUM_RTOL:
            lab[weak] = "normalized~"
    ints = consider & (lab == "counts")
    # Samples whose scale factor happens to be an integer (library size dividing the target)
    # look like counts; they belong with the normalised samples when they share the sum.
    on_grid = consider & np.isin(lab, ["normalized", "cpm"])
    if ints.any() and on_grid.any() and relative_range(S[on_grid]) <= _SUM_RTOL:
        target = float(np.median(S[on_grid]))
        same = ints & _tight(S, target)
        lab[same] = "cpm" if abs(target / CPM_TARGET - 1) <= _SUM_RTOL else "normalized"
        ints &= ~same
        # samples with too few values to test the grid, at the same constant sum
        few = consider & np.isin(lab, ["rpkm~", "unknown~"]) & _tight(S, target)
        lab[few] = "normalized~"
    if ints.sum() >= 2 and _tight(S, CPM_TARGET)[ints].mean() >= 0.9:
        lab[ints & _tight(S, CPM_TARGET)] = "cpm_or_tpm~"
    return lab


def _structured(lab: np.ndarray) -> np.ndarray:
    return ~np.isin(lab, ["rpkm~", "unknown~", "counts~", "empty"])


def _log_label(base: str, pseudo: float, inner: str) -> str:
    if inner == "?":
        return "log"
    if abs(pseudo - 1.0) <= 1e-9:
        return {"e": f"log1p({inner})", "2": f"log2({inner}+1)", "10": f"log10({inner}+1)"}[base]
    prefix = "log" if base == "e" else f"log{base}"
    return f"{prefix}({inner}+{pseudo:.3g})"


def _display(internal: str) -> str:
    if internal.startswith("log|"):
        _, base, pseudo, inner = internal.split("|")
        return _log_label(base, float(pseudo), _display(inner) if inner != "?" else "?")
    return internal.rstrip("~")


def _parse(label: str) -> tuple[str, str | None, str | None]:
    """Display label -> (units, "base:pseudocount" of a log, inner units)."""
    if label == "log":
        return "log", None, None
    m = re.fullmatch(r"log(1p|2|10)?\((\w+?)(?:\+([0-9.e+-]+))?\)", label)
    if m:
        base = {"1p": "e", None: "e"}.get(m.group(1), m.group(1))
        return "log", f"{base}:{float(m.group(3) or 1):.3g}", m.group(2)
    return label, None, None


def _compatible(a: str, b: str) -> bool:
    """Whether two display labels may be the same units (ambiguity is not a mismatch)."""
    if a == b:
        return True
    ua, ba, ia = _parse(a)
    ub, bb, ib = _parse(b)
    if ua == "log" or ub == "log":
        if ua != ub:
            return False
        if ia is None or ib is None:
            return True
        return ba == bb and _compatible(ia, ib)
    ca, cb = set(_CANDIDATES.get(ua, ())), set(_CANDIDATES.get(ub, ()))
    return bool(ca & cb)


@dataclass(frozen=True, eq=False)
class _Decision:
    """The per-sample labels of a matrix and the column-level findings behind them."""

    internal: np.ndarray  # per-row internal labels
    display: np.ndarray  # per-row display labels
    base: str | None  # chosen log base
    feature_scaled: dict[str, Any]
    mixed_cols: np.ndarray | None
    mixed_kind: str | None


def _classify(scan: Scan, *, has_lengths: bool, lo: float) -> _Decision:
    """Label every sample: linear units, then log transforms, negatives and scaled features."""
    nnz = scan.nnz
    neg_row = (scan.n_neg > 0) & (scan.n_neg >= NEG_ROW_SHARE * np.maximum(nnz, 1))
    lab = _raw_labels(scan, neg_row, has_lengths=has_lengths, lo=lo)
    # log transforms: pick the base whose back-transform gives structure to most candidates
    cand = scan.cand & (neg_row | ~_structured(lab))
    best = None
    if cand.any():
        best, best_labels = _best_log_base(scan, cand, has_lengths=has_lengths, lo=lo)
        lab = _label_logs(scan, lab, cand, best, best_labels)
    lab = _label_negatives(scan, lab, neg_row & ~cand)
    fs = _feature_scaling(scan)
    if fs:
        lab = _label_scaled(scan, lab, fs)
    lab[(nnz == 0) & (scan.n_neg == 0)] = "empty"
    mixed_cols, kind = _column_mix(scan)
    display = np.array([_display(x) for x in lab], dtype=object) if scan.n else np.array([])
    return _Decision(lab, display, best, fs, mixed_cols, kind)


def _raw_labels(scan: Scan, neg_row: np.ndarray, *, has_lengths: bool, lo: float) -> np.ndarray:
    """Linear-scale labels of the values as stored (no back-transform)."""
    nnz = scan.nnz
    n_pos = nnz - scan.n_neg
    integer = (scan.n_nonint == 0) & (n_pos > 0)
    int_share = 1.0 - scan.n_nonint / np.maximum(nnz, 1)
    raw_stats = {**scan.raw, "S": scan.S, "n_pos": n_pos}
    lab = _linear_labels(
        raw_stats, integer=integer, int_share=int_share, has_lengths=has_lengths, lo=lo
    )
    lab[nnz == 0] = "empty"
    return _refine(lab, scan.S, ~neg_row, lo)


def _best_log_base(
    scan: Scan, cand: np.ndarray, *, has_lengths: bool, lo: float
) -> tuple[str | None, np.ndarray | None]:
    """The log base whose back-transform gives known units to most candidate samples."""
    best, best_labels, best_score = None, None, 0
    for b in LOG_BASES:
        st = scan.log[b]
        lab_b = _linear_labels(
            st, integer=st["int_ok"], int_share=None, has_lengths=has_lengths, lo=lo
        )
        lab_b = _refine(lab_b, st["S"], cand, lo)
        score = int((_structured(lab_b) & cand).sum())
        if score > best_score:
            best, best_labels, best_score = b, lab_b, score
    return best, best_labels


def _label_logs(
    scan: Scan,
    lab: np.ndarray,
    cand: np.ndarray,
    best: str | None,
    best_labels: np.ndarray | None,
) -> np.ndarray:
    """``log|base|pseudocount|inner`` labels of the log candidates (``log|?|1|?`` if none fit)."""
    lab = lab.copy()
    lab[cand] = "log|?|1|?"
    if best is not None:
        good = cand & _structured(best_labels)
        offsets = scan.log[best]["offset"]
        for i in np.flatnonzero(good):
            lab[i] = f"log|{best}|{float(f'{offsets[i]:.6g}')}|{best_labels[i]}"
    return lab


def _label_negatives(scan: Scan, lab: np.ndarray, other_neg: np.ndarray) -> np.ndarray:
    """Samples with negative values that are not a log(x + p) pattern: scaled or unknown."""
    if not other_neg.any():
        return lab
    lab = lab.copy()
    m = scan.m
    mean = scan.S / max(m, 1)
    sd = np.sqrt(np.maximum(scan.sumsq / max(m, 1) - mean**2, 0.0))
    centred = np.abs(mean) <= 0.25 * sd
    lab[other_neg & centred] = "scaled~"
    lab[other_neg & ~centred] = "unknown"
    return lab


def _feature_scaling(scan: Scan) -> dict[str, Any]:
    """Whether features are centred (z-scored / centred) or have unit variance; {} if untested."""
    n = scan.n
    fmean = scan.f_sum / max(n, 1)
    fsd = np.sqrt(np.maximum(scan.f_sumsq / max(n, 1) - fmean**2, 0.0))
    ok = fsd > 1e-12
    if not (ok.any() and n >= 3):
        return {}
    z = np.abs(fmean[ok]) / fsd[ok]
    return {
        "median_abs_mean_over_sd": float(np.median(z)),
        "median_sd": float(np.median(fsd[ok])),
        "centred": bool(np.mean(z <= 0.1) >= 0.9),
        "unit_variance": bool(abs(np.median(fsd[ok]) - 1.0) <= 0.05),
    }


def _label_scaled(scan: Scan, lab: np.ndarray, fs: dict[str, Any]) -> np.ndarray:
    """Scaled labels when the features are centred (with negatives) or have unit variance."""
    lab = lab.copy()
    rows_present = (scan.nnz > 0) | (scan.n_neg > 0)
    if fs["centred"] and scan.n_neg.sum() > 0:
        lab[rows_present] = "scaled"
    elif fs["unit_variance"] and scan.n_neg.sum() == 0:
        weak = rows_present & ~_structured(lab)
        if weak.sum() > 0.5 * rows_present.sum():
            lab[weak] = "scaled~"
    return lab


def _column_mix(scan: Scan) -> tuple[np.ndarray | None, str | None]:
    """Feature columns on another scale than the rest (log or scaled columns among counts)."""
    f_nnz = scan.f_nnz
    present = f_nnz > 0
    k = int(present.sum())
    if k < 2:
        return None, None
    neg_cols = present & (scan.f_neg >= 0.2 * f_nnz)
    if neg_cols.any() and neg_cols.sum() < 0.5 * k:
        return neg_cols, "negative"
    no_neg = present & (scan.f_neg == 0)
    int_cols = no_neg & (scan.f_nonint == 0)
    nonint_cols = no_neg & (scan.f_nonint >= 0.9 * f_nnz)
    partial = no_neg & (scan.f_nonint > 0) & (scan.f_nonint < 0.9 * f_nnz)
    if int_cols.sum() >= 0.5 * k and nonint_cols.any() and not partial.any():
        small = bool((scan.f_large[nonint_cols] == 0).all())
        return nonint_cols, "log-scale" if small else "non-integer"
    return None, None
