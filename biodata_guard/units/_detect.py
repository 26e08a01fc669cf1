"""Units detection: one streaming scan, per-sample labels, and the matrix's call."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import subjects as _first
from biodata_guard.errors import ConfigError
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, _is_anndata, as_matrix
from biodata_guard.stats import relative_range
from biodata_guard.units._call import (
    _CANDIDATES,
    _CONFIDENCE,
    _NO_NEGATIVES,
    _SUM_RTOL,
    CPM_TARGET,
    RPKM_LENGTH_SUM,
    UnitsCall,
)
from biodata_guard.units._classify import _classify, _compatible, _Decision, _display, _parse
from biodata_guard.units._lengths import _resolve_lengths, _view_lengths
from biodata_guard.units._reason import _counts_columns_reason, _reason, _undetermined
from biodata_guard.units._scan import Scan, scan_matrix


def _confidence(internal: str) -> float:
    if internal.startswith("log|"):
        inner = internal.split("|")[3]
        return 0.4 if inner == "?" else 0.95 * _CONFIDENCE.get(inner, 0.5)
    return _CONFIDENCE.get(internal, 0.5)


def _summary(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "max": float(values.max()),
    }


@dataclass(frozen=True, eq=False)
class _Majority:
    """The majority label of the non-empty samples and the samples that agree with it."""

    label: str  # display label
    internal: str  # the most common internal label among its samples
    rows: np.ndarray  # samples with exactly that label
    agree: np.ndarray  # samples whose label may be the same units
    confidence: float  # mean confidence of its samples' labels


@dataclass(frozen=True)
class _Form:
    """The units a majority label stands for."""

    units: str
    key: str  # internal label of the linear units ("?" for a log whose inner units are unknown)
    linear: str | None  # the linear units (under the log, for a log)
    candidates: tuple[str, ...]
    log_base: str | None = None
    log_of: str | None = None
    pseudo: float | None = None


def _build_call(
    view: MatrixView,
    scan: Scan,
    dec: _Decision,
    *,
    lengths_info: dict[str, Any] | None,
    lo: float,
) -> UnitsCall:
    """The matrix's call from the per-sample labels: majority, evidence, reason, offenders."""
    present = dec.display != "empty"
    sample_units = pd.Series(dec.display, index=view.obs_names, dtype=object)
    ev = _matrix_evidence(view, scan, present, dec.display, lengths_info)
    offenders = _invalid_values(view, scan, ev)
    if not present.any():
        return _empty_call(view, ev, offenders, sample_units)
    has_lengths = lengths_info is not None
    maj = _majority(scan, dec, present)
    form = _form(maj.internal, maj.label)
    unresolved_log = form.units == "log" and form.log_of is None
    if unresolved_log and ev["n_negative"] == 0:
        form = replace(form, candidates=_UNRESOLVED_LOG)
    stats = scan.log[form.log_base] if form.log_base is not None else {**scan.raw, "S": scan.S}
    ev.update(_form_evidence(form, stats, maj.rows, dec, has_lengths=has_lengths))
    ev["undetermined"] = _undetermined(
        form.linear,
        form.key,
        unresolved_log=unresolved_log,
        has_lengths=has_lengths,
        signed=ev["n_negative"] > 0,
    )
    reason = _reason(
        form.key,
        form.units,
        ev,
        log_base=form.log_base,
        pseudo=form.pseudo,
        has_lengths=has_lengths,
    )
    confidence = maj.confidence
    n_present = int(present.sum())
    if dec.mixed_cols is not None:
        ev.update(_mixed_column_evidence(scan, dec))
        offenders["mixed_features"] = _first(view.var_names[dec.mixed_cols])
        n_counts = _counts_beside_odd_columns(scan, dec.mixed_cols)
        if n_counts is not None:
            form, maj, confidence = _COUNTS_COLUMNS, replace(maj, label="counts"), 0.7
            reason = _counts_columns_reason(
                n_counts, ev["n_features_nonzero"], ev["n_mixed_features"], dec.mixed_kind
            )
        n_agree = n_present  # row calls are blurred by the odd columns; not assessed
    else:
        offenders["mixed_samples"] = _mixed_rows(view, dec, present & ~maj.agree, ev)
        n_agree = int(maj.agree.sum())
    ev["n_samples_agreeing"] = n_agree
    ev["n_samples_nonempty"] = n_present
    if _forbids_negatives(form):
        offenders.update(_forbidden_negatives(view, scan, dec, ev))
    return UnitsCall(
        units=form.units,
        confidence=round(confidence * n_agree / n_present, 3),
        reason=reason,
        evidence=ev,
        label=maj.label,
        candidates=form.candidates,
        log_base=form.log_base,
        log_of=form.log_of,
        pseudocount=form.pseudo,
        name=view.name,
        sample_units=sample_units,
        offenders=offenders,
    )


def _empty_call(
    view: MatrixView, ev: dict[str, Any], offenders: dict[str, list[str]], sample_units: pd.Series
) -> UnitsCall:
    """The call of a matrix without a non-zero value: unknown units."""
    n, m = view.shape
    why = "all values are zero or missing" if n and m else "the matrix is empty"
    return UnitsCall(
        "unknown",
        0.0,
        why,
        ev,
        label="unknown",
        name=view.name,
        sample_units=sample_units,
        offenders=offenders,
    )


def _counts_beside_odd_columns(scan: Scan, mixed_cols: np.ndarray) -> int | None:
    """How many non-empty columns other than ``mixed_cols`` there are, when all of them hold
    integers >= 0 (counts beside a few odd columns); None otherwise."""
    rest = (scan.f_nnz > 0) & ~mixed_cols
    if (scan.f_nonint[rest] == 0).all() and (scan.f_neg[rest] == 0).all():
        return int(rest.sum())
    return None


def _mixed_rows(
    view: MatrixView, dec: _Decision, mixed_rows: np.ndarray, ev: dict[str, Any]
) -> list[str]:
    """Samples in other units than the majority: their count and units to ``ev``, first ids
    returned."""
    ev["n_mixed_samples"] = int(mixed_rows.sum())
    ev["mixed_units"] = dict(sorted(Counter(dec.display[mixed_rows].tolist()).items()))
    return _first(view.obs_names[mixed_rows])


#: What small non-negative non-integer values may be when no back-transform gives known
#: units: a log scale, or linear values that happen to be small (RPKM of low-expressed genes).
_UNRESOLVED_LOG = ("log", "rpkm", "normalized")

#: The call of a matrix whose majority columns are integers >= 0 beside a few odd columns.
_COUNTS_COLUMNS = _Form("counts", "counts", "counts", ("counts",))


def _matrix_evidence(
    view: MatrixView,
    scan: Scan,
    present: np.ndarray,
    display: np.ndarray,
    lengths_info: dict[str, Any] | None,
) -> dict[str, Any]:
    """The figures every call carries: shape, value range, sums, per-sample labels."""
    n, m = view.shape
    n_present = int(present.sum())
    tally = Counter(display[present].tolist())
    return {
        "n_samples": n,
        "n_features": m,
        "n_nonzero": int(scan.nnz.sum()),
        "min": float(scan.mn.min()) if n and m else None,
        "max": float(scan.mx.max()) if n and m else None,
        "fraction_non_integer": float(scan.n_nonint.sum() / max(scan.nnz.sum(), 1)),
        "n_negative": int(scan.n_neg.sum()),
        "n_nan": int(scan.n_nan.sum()),
        "n_inf": int(scan.n_inf.sum()),
        "sample_sum": _summary(scan.S[present]),
        "sample_sum_spread": relative_range(scan.S[present]) if n_present else None,
        "sample_units": dict(sorted(tally.items())),
        "n_empty_samples": n - n_present,
        "gene_lengths": lengths_info,
        "dtype": scan.dtype,
    }


def _invalid_values(view: MatrixView, scan: Scan, ev: dict[str, Any]) -> dict[str, list[str]]:
    """NaN/inf samples and all-zero samples and features (independent of the units): their
    counts go to ``ev``, their first ids are returned."""
    n, m = view.shape
    nonfinite_rows = (scan.n_nan + scan.n_inf) > 0
    zero_rows = (scan.nnz == 0) & (scan.n_neg == 0) & ~nonfinite_rows
    zero_cols = (scan.f_nnz == 0) & (scan.f_nonfinite == 0)
    ev["n_samples_with_nan_or_inf"] = int(nonfinite_rows.sum())
    ev["n_zero_samples"] = int(zero_rows.sum()) if m else 0
    ev["n_zero_features"] = int(zero_cols.sum()) if n else 0
    return {
        "nan_samples": _first(view.obs_names[nonfinite_rows]),
        "zero_samples": _first(view.obs_names[zero_rows]) if m else [],
        "zero_features": _first(view.var_names[zero_cols]) if n else [],
    }


def _majority(scan: Scan, dec: _Decision, present: np.ndarray) -> _Majority:
    """The most common display label (ties: alphabetical) and the samples compatible with it."""
    display = dec.display
    tally = Counter(display[present].tolist())
    majority = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    compat = {lab: _compatible(lab, majority) for lab in tally}
    agree = present & np.array([compat.get(d, False) for d in display], dtype=bool)
    major_rows = present & (display == majority)
    internal = Counter(dec.internal[major_rows].tolist()).most_common(1)[0][0]
    if internal.endswith("~"):
        # Beside a call without exact evidence (RPKM-like, unknown), a row called "log" only
        # for being small and non-integer is ambiguous, not another unit -- unless its sum is
        # an order of magnitude below the others' (log values appended to linear ones).
        bare_log = present & (display == "log")
        typical = float(np.median(scan.S[major_rows]))
        agree |= bare_log & (scan.S >= 0.1 * typical)
    confidence = float(np.mean([_confidence(x) for x in dec.internal[major_rows]]))
    return _Majority(majority, internal, major_rows, agree, confidence)


def _form(internal: str, label: str) -> _Form:
    """The units, linear units, candidates and log transform of a majority label."""
    units = _parse(label)[0]
    log_base = log_of = pseudo = None
    if units == "log":
        if internal.startswith("log|") and internal.split("|")[1] != "?":
            _, log_base, p, inner_internal = internal.split("|")
            pseudo = float(p)
            log_of = _display(inner_internal)
        key = internal.split("|")[3] if internal.startswith("log|") else "?"
    else:
        key = internal
    linear = log_of if units == "log" else units
    candidates: tuple[str, ...] = _CANDIDATES.get(units, ())
    if key == "rpkm~":
        candidates = ("rpkm", "normalized")
    if key == "unknown~" or units == "unknown":
        units, candidates = "unknown", ()
    return _Form(units, key, linear, candidates, log_base, log_of, pseudo)


def _form_evidence(
    form: _Form,
    stats: dict[str, np.ndarray],
    major_rows: np.ndarray,
    dec: _Decision,
    *,
    has_lengths: bool,
) -> dict[str, Any]:
    """The figures behind the units: log transform, target sum, length sum, integer grid."""
    ev: dict[str, Any] = {}
    if form.log_base is not None:
        ev["log_base"], ev["pseudocount"] = form.log_base, form.pseudo
        ev["linear_sum"] = _summary(stats["S"][major_rows])
    S = stats["S"][major_rows]
    if form.linear in ("cpm", "tpm", "cpm_or_tpm", "normalized") and len(S):
        ev["target_sum"] = float(np.median(S))
        ev["linear_sum_spread"] = relative_range(S)
        if form.linear != "normalized" and ev["target_sum"] < CPM_TARGET * (1 - _SUM_RTOL):
            ev["filtered_share"] = 1.0 - ev["target_sum"] / CPM_TARGET
    if has_lengths and "SL" in stats and len(S):
        ev["length_sum_over_1e9"] = float(np.median(stats["SL"][major_rows]) / RPKM_LENGTH_SUM)
    ev["fraction_on_integer_grid"] = float(np.mean(stats["grid"][major_rows]))
    if stats["grid"][major_rows].any():
        ev["lattice_share"] = float(np.median(stats["grid_share"][major_rows & stats["grid"]]))
    if "len_grid" in stats:
        ev["fraction_on_length_lattice"] = float(np.mean(stats["len_grid"][major_rows]))
    if stats["rounded"][major_rows].any():
        ev["n_rounded_samples"] = int(stats["rounded"][major_rows].sum())
    if dec.feature_scaled:
        ev["features"] = dec.feature_scaled
    return ev


def _mixed_column_evidence(scan: Scan, dec: _Decision) -> dict[str, Any]:
    """Feature columns on another scale than the rest: how many, of what kind."""
    return {
        "n_mixed_features": int(dec.mixed_cols.sum()),
        "mixed_feature_kind": dec.mixed_kind,
        "n_features_nonzero": int((scan.f_nnz > 0).sum()),
        **(
            {"n_features_nonnegative": int(((scan.f_nnz > 0) & (scan.f_neg == 0)).sum())}
            if dec.mixed_kind == "negative"
            else {}
        ),
    }


def _forbids_negatives(form: _Form) -> bool:
    """Whether the units cannot hold negative values (a log with pseudocount >= 1 cannot)."""
    if form.units in _NO_NEGATIVES:
        return True
    return form.units == "log" and form.pseudo is not None and form.pseudo >= 1


def _forbidden_negatives(
    view: MatrixView, scan: Scan, dec: _Decision, ev: dict[str, Any]
) -> dict[str, list[str]]:
    """Negative values in units that forbid them (outside odd columns): counts to ``ev``,
    first offending samples (or features, when columns are mixed) returned."""
    cols_neg = scan.f_neg.copy()
    if dec.mixed_cols is not None:
        cols_neg[dec.mixed_cols] = 0
    ev["n_negative_forbidden"] = int(cols_neg.sum())
    ev["n_features_with_negatives"] = int((cols_neg > 0).sum())
    if dec.mixed_cols is not None:
        return {"negative_features": _first(view.var_names[cols_neg > 0])}
    neg_rows = scan.n_neg > 0
    ev["n_samples_with_negatives"] = int(neg_rows.sum())
    return {"negative_samples": _first(view.obs_names[neg_rows])}


def _as_view(X: Any, name: str | None) -> MatrixView:
    if isinstance(X, MatrixView):
        return X
    return as_matrix(X, name=name)


def _check_options(chunk_size: int, max_filtered_share: float) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(
            f"chunk_size must be a positive integer; got {chunk_size!r} instead",
            key="chunk_size",
            hint="Use e.g. chunk_size=10_000 (--chunk-size).",
        )
    if not 0.0 <= max_filtered_share < 1.0:
        raise ConfigError(
            f"max_filtered_share must be in [0, 1); got {max_filtered_share!r} instead",
            key="max_filtered_share",
            hint="Use e.g. max_filtered_share=0.25.",
        )


def _detect(
    X: Any,
    *,
    gene_lengths: pd.Series | None,
    chunk_size: int,
    name: str | None,
    max_filtered_share: float,
    strict_lengths: bool = True,
    shipped_lengths: bool = True,
) -> tuple[UnitsCall, Scan]:
    """Detect units and keep the scan (for artifacts). Lengths found automatically (an
    AnnData ``.var`` column, the shipped table) that do not match are ignored; the user's
    raise unless ``strict_lengths=False``."""
    _check_options(chunk_size, max_filtered_share)
    adata = X if _is_anndata(X) else None
    view = _as_view(X, name)
    lengths_in, strict, source = _resolve_lengths(
        view, gene_lengths, adata, shipped=shipped_lengths
    )
    lengths, lengths_info = _view_lengths(
        view, lengths_in, strict=strict and strict_lengths, source=source
    )
    mode = None if lengths_info is None else "shipped" if lengths_info["shipped"] else "user"
    scan = scan_matrix(view, lengths, chunk_size, exact_lengths=mode != "shipped")
    lo = 1.0 - max_filtered_share
    with np.errstate(all="ignore"):
        dec = _classify(scan, lengths=mode, lo=lo)
        return _build_call(view, scan, dec, lengths_info=lengths_info, lo=lo), scan


def detect_units(
    X: Any,
    *,
    gene_lengths: pd.Series | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    name: str | None = None,
    max_filtered_share: float = 0.25,
    shipped_lengths: bool = True,
) -> UnitsCall:
    """Infer the units of a samples x features matrix in one streaming pass over its rows.

    Per sample it measures sums, non-zeros, min/max, non-integer and negative values,
    NaN/inf, whether the values sit on a per-sample lattice of integer counts (count / s:
    CPM and size-factor normalised values do; TPM and RPKM do only after multiplying by
    gene length; the lattice test has a false-alarm rate below 4e-8 per sample),
    the sum of value x gene length (1e9 for RPKM/FPKM) and the same after undoing log
    transforms (base e, 2, 10, pseudocount 1 or the sample minimum); per feature it keeps
    sums and sums of squares (scaled detection). Each sample gets its own call
    (``sample_units``); the matrix gets the majority call.

    Parameters
    ----------
    X
        Dense array, scipy.sparse matrix, DataFrame (rows = samples), AnnData (``.X``; in
        memory or backed) or a ``MatrixView``. Never densified: rows are read in chunks.
    gene_lengths
        Gene lengths in bp indexed by feature id (see :func:`read_gene_lengths`). Without
        them, an AnnData's ``.var`` length column is used when present, else the lengths
        shipped with the package when the features are human or mouse Ensembl ids or
        symbols (``shipped_lengths``). With lengths, TPM, CPM and RPKM are told apart (value
        x length sits on a per-sample lattice of counts for TPM and RPKM); without them TPM vs
        CPM may stay ``"cpm_or_tpm"`` and RPKM is unconfirmed (``candidates == ("rpkm",
        "normalized")``). Which lengths were used is in ``evidence["gene_lengths"]``.
    chunk_size
        Rows per block (memory is bounded by one block).
    name
        Name used in messages.
    max_filtered_share
        CPM/TPM samples may sum to less than 1e6 by up to this share (genes filtered after
        normalising); decided over all samples at once, never sample by sample.
    shipped_lengths
        Look the features up in the shipped human / mouse gene lengths (Ensembl 100) when
        no lengths are given; ``False`` decides from the values alone.

    Returns
    -------
    UnitsCall

    Raises
    ------
    InputError
        Non-numeric or non-2-D input; gene lengths that match fewer than half the features.
    ConfigError
        ``chunk_size`` < 1 or ``max_filtered_share`` outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(20, (30, 200))
    >>> detect_units(counts).units
    'counts'
    >>> detect_units(np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)).label
    'log1p(normalized)'
    """
    call, _ = _detect(
        X,
        gene_lengths=gene_lengths,
        chunk_size=chunk_size,
        name=name,
        max_filtered_share=max_filtered_share,
        shipped_lengths=shipped_lengths,
    )
    return call
