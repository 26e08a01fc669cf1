"""Per-sample units labels from the scan's statistics, and feature columns on another scale."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import poisson

from biodata_guard.stats import relative_range
from biodata_guard.units._call import _CANDIDATES, _SUM_RTOL, CPM_TARGET, RPKM_LENGTH_SUM
from biodata_guard.units._scan import LOG_BASES, NEG_ROW_SHARE, Scan

_EST_COUNTS_INT_SHARE = 0.25  # estimated counts (salmon/RSEM): many values still integers


def _in_band(S: np.ndarray, target: float, lo: float) -> np.ndarray:
    return (target * lo <= S) & (target * (1 + _SUM_RTOL) >= S)


def _tight(S: np.ndarray, target: float) -> np.ndarray:
    return np.abs(S / target - 1.0) <= _SUM_RTOL


#: How far the sum of RPKM x gene length may stray from 1e9 when the lengths are the shipped
#: ones (another annotation release than the data's: the lengths of revised genes differ).
_SHIPPED_LENGTH_RTOL = 0.15


def _linear_labels(
    st: dict[str, np.ndarray],
    *,
    integer: np.ndarray,
    int_share: np.ndarray | None,
    lengths: str | None,
    lo: float,
) -> np.ndarray:
    """Per-row linear-scale labels from exact structure only (``~`` = no exact evidence).

    Integers, a per-sample lattice of the values (size-factor normalised: count / s) or of
    value x gene length (length-normalised: count / (length x s)), and sums exactly at 1e6 or
    value x length exactly at 1e9 hold or fail sample by sample; sums that only fall in a band
    (1e6 less filtered genes) are judged over all samples at once by :func:`_refine`, so that
    samples of one matrix in one unit never get different labels by chance.
    """
    S = st["S"]
    tight = _tight(S, CPM_TARGET)
    lab = np.full(len(S), "unknown~" if lengths == "user" else "rpkm~", dtype=object)
    if int_share is not None:
        lab[int_share >= _EST_COUNTS_INT_SHARE] = "counts~"
    lab[tight] = "cpm_or_tpm"
    if lengths is not None:
        rtol = _SUM_RTOL if lengths == "user" else _SHIPPED_LENGTH_RTOL
        lband = (RPKM_LENGTH_SUM * lo <= st["SL"]) & (RPKM_LENGTH_SUM * (1 + rtol) >= st["SL"])
        lab[lband & ~tight] = "rpkm"
        lab[st["len_grid"] & ~lband] = "lennorm~"  # length-normalised, sums neither 1e6 nor 1e9
        lab[st["len_grid"] & lband] = "rpkm"
        lab[st["len_grid"] & tight] = "tpm"
    on_grid = st["grid"]
    lab[on_grid] = "normalized"
    lab[on_grid & tight] = "cpm"
    lab[integer] = "counts"
    lab[st["n_pos"] == 0] = "empty"
    return lab


def _refine(lab: np.ndarray, S: np.ndarray, consider: np.ndarray, lo: float) -> np.ndarray:
    """Dataset-level relabelling that needs all samples: sums at 1e6 up to filtering, constant
    sums at another target, exact 1e6 sums that are chance among varying ones, integers that
    sum to 1e6 (rounded CPM/TPM). Each rule relabels a whole group of samples or none."""
    lab = lab.copy()
    band = _in_band(S, CPM_TARGET, lo)
    for exact, loose, filtered in _SUM_GROUPS:
        group = consider & np.isin(lab, [exact, *loose])
        if not group.any():
            continue
        if band[group].all():  # 1e6 less filtered genes in every sample
            lab[group & (lab != exact)] = filtered
        elif (group & (lab == exact)).any() and not _beyond_chance(S, group, lab == exact):
            lab[group & (lab == exact)] = loose[0]  # a sum at 1e6 by chance among varying sums
    weak = consider & np.isin(lab, ["rpkm~", "unknown~"])
    if weak.sum() >= 2 and relative_range(S[weak]) <= _SUM_RTOL:
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


#: (label of samples summing to exactly 1e6, labels of the same structure whose sums vary,
#: label of the varying ones when every sum is at 1e6 less filtered genes).
_SUM_GROUPS = (
    ("cpm", ("normalized",), "cpm"),
    ("tpm", ("lennorm~",), "tpm"),
    ("cpm_or_tpm", ("rpkm~", "unknown~"), "cpm_or_tpm~"),
)

#: False-alarm rate of "these samples sum to exactly 1e6 on purpose" among samples whose sums
#: vary: the number of exact sums is compared with what the density of the other sums predicts.
_EXACT_SUM_ALPHA = 1e-3
_DENSITY_WINDOW = 0.1  # relative half-width around 1e6 over which the density is estimated


def _beyond_chance(S: np.ndarray, group: np.ndarray, exact: np.ndarray) -> bool:
    """Whether the samples of ``group`` summing to exactly 1e6 are more than the varying sums
    of the others put there by chance (Poisson tail at :data:`_EXACT_SUM_ALPHA`)."""
    k = int((group & exact).sum())
    others = S[group & ~exact] / CPM_TARGET
    if not len(others):
        return True
    near = np.mean(np.abs(others - 1.0) <= _DENSITY_WINDOW)
    density = max(near, 1.0 / len(others)) / (2 * _DENSITY_WINDOW)
    lam = len(others) * density * 2 * _SUM_RTOL
    return bool(poisson.sf(k - 1, lam) <= _EXACT_SUM_ALPHA)


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
    return _DISPLAY.get(internal, internal.rstrip("~"))


#: Internal labels shown as another unit: length-normalised data whose sums are neither TPM's
#: nor RPKM's (e.g. FPKM of a subset of genes) are RPKM-like.
_DISPLAY = {"lennorm~": "rpkm"}


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


def _classify(scan: Scan, *, lengths: str | None, lo: float) -> _Decision:
    """Label every sample: linear units, then log transforms, negatives and scaled features."""
    nnz = scan.nnz
    neg_row = (scan.n_neg > 0) & (scan.n_neg >= NEG_ROW_SHARE * np.maximum(nnz, 1))
    lab = _raw_labels(scan, neg_row, lengths=lengths, lo=lo)
    # log transforms: pick the base whose back-transform gives structure to most candidates
    cand = scan.cand & (neg_row | ~_structured(lab))
    best = None
    if cand.any():
        best, best_labels = _best_log_base(scan, cand, lengths=lengths, lo=lo)
        lab = _label_logs(scan, lab, cand, best, best_labels)
    lab = _label_negatives(scan, lab, neg_row & ~cand)
    fs = _feature_scaling(scan)
    lab = _label_scaled(scan, lab, fs)
    lab[(nnz == 0) & (scan.n_neg == 0)] = "empty"
    mixed_cols, kind = _column_mix(scan)
    display = np.array([_display(x) for x in lab], dtype=object) if scan.n else np.array([])
    return _Decision(lab, display, best, fs, mixed_cols, kind)


def _raw_labels(scan: Scan, neg_row: np.ndarray, *, lengths: str | None, lo: float) -> np.ndarray:
    """Linear-scale labels of the values as stored (no back-transform)."""
    nnz = scan.nnz
    n_pos = nnz - scan.n_neg
    integer = (scan.n_nonint == 0) & (n_pos > 0)
    int_share = 1.0 - scan.n_nonint / np.maximum(nnz, 1)
    raw_stats = {**scan.raw, "S": scan.S, "n_pos": n_pos}
    lab = _linear_labels(raw_stats, integer=integer, int_share=int_share, lengths=lengths, lo=lo)
    lab[nnz == 0] = "empty"
    return _refine(lab, scan.S, ~neg_row, lo)


def _best_log_base(
    scan: Scan, cand: np.ndarray, *, lengths: str | None, lo: float
) -> tuple[str | None, np.ndarray | None]:
    """The log base whose back-transform gives known units to most candidate samples."""
    best, best_labels, best_score = None, None, 0
    for b in LOG_BASES:
        st = scan.log[b]
        lab_b = _linear_labels(st, integer=st["int_ok"], int_share=None, lengths=lengths, lo=lo)
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
    """Samples with negative values that are not a log(x + p) pattern: ``signed`` (scaled or
    unknown is decided for all of them at once by :func:`_label_scaled`)."""
    lab = lab.copy()
    lab[other_neg] = "signed"
    return lab


def _feature_scaling(scan: Scan) -> dict[str, Any]:
    """Whether features are centred or have exactly unit variance; {} if untested.

    Centred: the median over features of |mean| / sd is at most ``max(0.1, 2 / sqrt(n))``.
    Features centred on these samples give 0; features scaled with the statistics of a
    larger population (a test split scaled with the training split's) give about
    ``0.67 / sqrt(n)``; a non-centred scale (log expression) gives mean / sd of 1 to 10.
    Unit variance: exact (sd 1 within 1e-6 with ddof 0 or 1 for 99% of the features), the
    structure of ``StandardScaler(with_mean=False)``, not an sd that happens to be near 1.
    """
    n = scan.n
    fmean = scan.f_sum / max(n, 1)
    var0 = np.maximum(scan.f_sumsq / max(n, 1) - fmean**2, 0.0)
    fsd = np.sqrt(var0)
    ok = fsd > 1e-12
    if not (ok.any() and n >= 3):
        return {}
    z = np.abs(fmean[ok]) / fsd[ok]
    limit = max(0.1, 2.0 / np.sqrt(n))
    sd1 = np.sqrt(var0[ok] * n / (n - 1))
    exact = (np.abs(fsd[ok] - 1) <= 1e-6) | (np.abs(sd1 - 1) <= 1e-6)
    return {
        "median_abs_mean_over_sd": float(np.median(z)),
        "centred_limit": float(limit),
        "median_sd": float(np.median(fsd[ok])),
        "centred": bool(np.median(z) <= limit),
        "unit_variance": bool(np.mean(exact) >= 0.99),
    }


def _label_scaled(scan: Scan, lab: np.ndarray, fs: dict[str, Any]) -> np.ndarray:
    """One label for every signed sample, decided over all of them: ``scaled`` when the
    features are centred (then every sample is scaled: a sample above every feature's mean
    is not another unit), ``scaled~`` when the signed samples are centred, else ``unknown``.
    Features with exactly unit variance and no negative value (``StandardScaler(
    with_mean=False)``) make the samples without exact structure ``scaled``."""
    lab = lab.copy()
    signed = lab == "signed"
    rows_present = (scan.nnz > 0) | (scan.n_neg > 0)
    if fs and fs["centred"] and scan.n_neg.sum() > 0:
        lab[rows_present] = "scaled"
        return lab
    if fs and fs["unit_variance"] and scan.n_neg.sum() == 0:
        unresolved = (lab == "log|?|1|?") | ~_structured(lab)  # small values, no structure
        lab[rows_present & unresolved] = "scaled"
    if signed.any():
        m = max(scan.m, 1)
        mean = scan.S / m
        sd = np.sqrt(np.maximum(scan.sumsq / m - mean**2, 0.0))
        centred = np.median(np.abs(mean[signed]) / np.maximum(sd[signed], 1e-300)) <= 0.25
        lab[signed] = "scaled~" if centred else "unknown"
    return lab


def _column_mix(scan: Scan) -> tuple[np.ndarray | None, str | None]:
    """Feature columns on another scale than the rest (log or scaled columns among counts).

    Columns with negative values (in >= 20% of their non-zero values; fewer are stray values,
    reported as invalid) are another scale only when they are a minority *and* most columns
    hold no negative value at all: in a scaled matrix a few columns that happen to stay
    non-negative are scaled too, not a mix.
    """
    f_nnz = scan.f_nnz
    present = f_nnz > 0
    k = int(present.sum())
    if k < 2:
        return None, None
    neg_cols = present & (scan.f_neg >= 0.2 * f_nnz)
    no_neg = present & (scan.f_neg == 0)
    if neg_cols.any() and neg_cols.sum() < 0.5 * k and no_neg.sum() > 0.5 * k:
        return neg_cols, "negative"
    int_cols = no_neg & (scan.f_nonint == 0)
    nonint_cols = no_neg & (scan.f_nonint >= 0.9 * f_nnz)
    partial = no_neg & (scan.f_nonint > 0) & (scan.f_nonint < 0.9 * f_nnz)
    if int_cols.sum() >= 0.5 * k and nonint_cols.any() and not partial.any():
        small = bool((scan.f_large[nonint_cols] == 0).all())
        return nonint_cols, "log-scale" if small else "non-integer"
    return None, None
