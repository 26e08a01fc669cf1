"""Units of every matrix of an AnnData (``.X``, ``.raw.X``, layers) and whether they agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard._format import fraction, preview
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, _is_anndata, anndata_matrices
from biodata_guard.units._call import UnitsCall
from biodata_guard.units._detect import _check_options, _detect
from biodata_guard.units._findings import (
    DETECTED,
    _check_expected,
    _matrix_findings,
    _unexpected_findings,
)
from biodata_guard.units._lengths import _align_lengths, gene_lengths_from_var
from biodata_guard.units._mismatch import MISMATCH
from biodata_guard.units._scan import BASE_VALUE, Scan

#: Layer names whose content users expect in given units (lower-cased key -> units).
_LAYER_EXPECTATIONS = {
    **dict.fromkeys(("counts", "raw_counts", "count", "umi", "umis", "umi_counts"), "counts"),
    **dict.fromkeys(
        (
            "log1p",
            "lognorm",
            "log_norm",
            "logcounts",
            "log_counts",
            "log_normalized",
            "lognormalized",
            "log",
        ),
        "log",
    ),
    "cpm": "cpm",
    "tpm": "tpm",
    "rpkm": "rpkm",
    "fpkm": "rpkm",
    **dict.fromkeys(("scaled", "scale", "zscore", "z_score", "z_scored"), "scaled"),
}

_DERIVED_ROWS = 100  # samples checked for a per-sample transform of the counts matrix
_DERIVED_BLOCK = 25


class _Matrix(NamedTuple):
    """One matrix of an AnnData: its call, view, scan and role (``.X``, ``layers['counts']``)."""

    call: UnitsCall
    view: MatrixView
    scan: Scan
    role: str


@dataclass(frozen=True)
class _Consistency:
    """How many of the first samples of a matrix are not a per-sample multiple of the counts."""

    rows_checked: int
    rows_inconsistent: int
    examples: tuple[int, ...]


@dataclass(frozen=True)
class _AnnDataUnits:
    """The findings on one AnnData, its matrices, and how much of the layout could be tested."""

    findings: list[Finding]
    matrices: list[_Matrix]
    n_layer_expectations: int  # matrices whose layer name promises units
    n_derived_checks: int  # matrices compared with the counts matrix sample by sample


def _anndata_roles(adata: Any) -> list[str]:
    roles = [".X"] if adata.X is not None else []
    if adata.raw is not None:
        roles.append(".raw.X")
    roles += [f"layers['{k}']" for k in adata.layers if k is not None]
    return roles


def _layer_expectation(role: str) -> tuple[str, str] | None:
    """The layer key and the units its name promises, or None."""
    key = role[len("layers['") : -2] if role.startswith("layers[") else None
    expected = _LAYER_EXPECTATIONS.get(key.lower()) if key else None
    return None if expected is None else (key, expected)


def _back_transform(block: np.ndarray, call: UnitsCall) -> np.ndarray:
    if call.units != "log":
        return block
    base = BASE_VALUE[call.log_base or "e"]
    with np.errstate(over="ignore"):
        return np.power(base, block) - (call.pseudocount or 1.0)


def _testable_linear(
    view: MatrixView, call: UnitsCall, counts_view: MatrixView, lengths: np.ndarray | None
) -> str | None:
    """The linear units to compare with the counts, or None when the pair cannot be tested."""
    linear = call.log_of if call.units == "log" else call.units
    if call.units == "log" and call.log_base is None:
        return None
    if linear not in ("counts", "cpm", "normalized", "tpm", "rpkm"):
        return None
    if linear in ("tpm", "rpkm") and lengths is None:
        return None
    if view.shape != counts_view.shape or not view.var_names.equals(counts_view.var_names):
        return None
    return linear


def _dense_rows(view: MatrixView, start: int, stop: int) -> np.ndarray:
    block = view.rows(slice(start, stop))
    return np.asarray(block.toarray() if sp.issparse(block) else block, dtype=np.float64)


def _inconsistent_rows(A: np.ndarray, C: np.ndarray) -> list[int]:
    """Rows of ``A`` that are not a constant multiple of the same row of counts ``C``
    (other non-zero genes, or a ratio that varies)."""
    bad = []
    for i in range(A.shape[0]):
        a, c = A[i], C[i]
        scale = np.nanmax(np.abs(a)) if a.size else 0.0
        support_a = np.abs(a) > 1e-6 * max(scale, 1e-300)
        if not np.array_equal(support_a, c > 0):
            bad.append(i)
            continue
        if not support_a.any():
            continue
        ratio = a[support_a] / c[support_a]
        if (ratio.max() - ratio.min()) > 1e-3 * abs(np.median(ratio)):
            bad.append(i)
    return bad


def _derived_consistency(
    view: MatrixView,
    call: UnitsCall,
    counts_view: MatrixView,
    lengths: np.ndarray | None,
    *,
    n_rows: int = _DERIVED_ROWS,
) -> _Consistency | None:
    """Whether ``view`` back-transforms row by row to a multiple of ``counts_view`` on the
    first ``n_rows`` samples (same non-zero genes, constant ratio). None when not testable."""
    linear = _testable_linear(view, call, counts_view, lengths)
    if linear is None:
        return None
    k = min(n_rows, view.n_obs)
    bad: list[int] = []
    for start in range(0, k, _DERIVED_BLOCK):
        stop = min(k, start + _DERIVED_BLOCK)
        A = _back_transform(_dense_rows(view, start, stop), call)
        C = _dense_rows(counts_view, start, stop)
        if linear in ("tpm", "rpkm"):
            keep = np.isfinite(lengths)
            A, C = A[:, keep] * lengths[keep], C[:, keep]
        bad += [start + i for i in _inconsistent_rows(A, C)]
    return _Consistency(k, len(bad), tuple(bad))


def _lengths_source(adata: Any, gene_lengths: pd.Series | None, role: str) -> pd.Series | None:
    """Gene lengths for one matrix of an AnnData: the given ones, else a ``.var`` column."""
    if gene_lengths is not None or adata is None:
        return gene_lengths
    return gene_lengths_from_var(adata.raw if role == ".raw.X" else adata)


def _anndata_units(
    adata: Any,
    *,
    name: str,
    gene_lengths: pd.Series | None,
    chunk_size: int,
    max_filtered_share: float = 0.25,
    primary: MatrixView | None = None,
) -> _AnnDataUnits:
    """Every matrix's call and findings, then the layout: is each normalised/log matrix a
    transform of the counts matrix, sample by sample?

    ``primary``: the audit's view of one of these matrices; scanning that very object reuses
    the statistics of the audit's shared pass.
    """
    findings, matrices, n_expected = _matrix_calls(
        adata,
        name=name,
        gene_lengths=gene_lengths,
        chunk_size=chunk_size,
        max_filtered_share=max_filtered_share,
        primary=primary,
    )
    counts = [r for r in matrices if r.call.units == "counts" and r.role != ".X"]
    counts.sort(key=lambda r: (r.role != "layers['counts']", r.role))
    checks: dict[str, Any] = {}
    if counts:
        checks = _derived_checks(adata, matrices, counts[0], gene_lengths)
        findings += [
            _derived_finding(name, r.call, r.view, r.role, counts[0].role, checks[r.role])
            for r in matrices
            if r.role in checks and checks[r.role].rows_inconsistent
        ]
    if len(matrices) > 1:
        findings.append(_layout_finding(name, matrices, checks, counts[0].role if counts else ""))
    return _AnnDataUnits(findings, matrices, n_expected, len(checks))


def _matrix_calls(
    adata: Any,
    *,
    name: str,
    gene_lengths: pd.Series | None,
    chunk_size: int,
    max_filtered_share: float,
    primary: MatrixView | None,
) -> tuple[list[Finding], list[_Matrix], int]:
    """Each matrix's call and single-matrix findings, and layers whose name promises units."""
    views = [
        primary if primary is not None and v.name == primary.name else v
        for v in anndata_matrices(adata, name=name)
    ]
    strict = gene_lengths is not None
    matrices: list[_Matrix] = []
    findings: list[Finding] = []
    n_expected = 0
    for view, role in zip(views, _anndata_roles(adata), strict=True):
        call, scan = _detect(
            view,
            gene_lengths=_lengths_source(adata, gene_lengths, role),
            chunk_size=chunk_size,
            name=view.name,
            max_filtered_share=max_filtered_share,
            strict_lengths=strict,
        )
        matrices.append(_Matrix(call, view, scan, role))
        findings += _matrix_findings(call, role=role)
        promise = _layer_expectation(role)
        if promise is not None:
            n_expected += 1
            key, expected = promise
            findings += _unexpected_findings(call, expected, source=f"layer name '{key}'")
    return findings, matrices, n_expected


def _derived_checks(
    adata: Any, matrices: list[_Matrix], counts: _Matrix, gene_lengths: pd.Series | None
) -> dict[str, _Consistency]:
    """Per role, the per-sample comparison of a normalised/log matrix with ``counts``."""
    checks: dict[str, _Consistency] = {}
    for call, view, _, role in matrices:
        if role == counts.role or call.units in ("counts", "unknown", "scaled"):
            continue
        lengths = None
        if call.evidence.get("gene_lengths"):
            src = gene_lengths if gene_lengths is not None else gene_lengths_from_var(adata)
            if src is not None:
                lengths = _align_lengths(src, view.var_names, name=view.name)
        res = _derived_consistency(view, call, counts.view, lengths)
        if res is not None:
            checks[role] = res
    return checks


def _derived_finding(
    name: str, call: UnitsCall, view: MatrixView, role: str, c_role: str, res: _Consistency
) -> Finding:
    ids = [str(view.obs_names[i]) for i in res.examples]
    return Finding(
        MISMATCH,
        Severity.WARNING,
        f"{name}: {role} ({call.label}) is not a per-sample transform of "
        f"{c_role} in {fraction(res.rows_inconsistent, res.rows_checked)} "
        f"checked samples (e.g. {preview(ids, total=res.rows_inconsistent)})",
        evidence={
            "matrix": role,
            "counts_matrix": c_role,
            "rows_checked": res.rows_checked,
            "rows_inconsistent": res.rows_inconsistent,
        },
        subjects=ids,
        hint=(
            f"Rebuild {role} from {c_role} (e.g. adata.X = "
            "adata.layers['counts'].copy(); sc.pp.normalize_total(adata); "
            "sc.pp.log1p(adata)) or check that both were subset and "
            "reordered together."
        ),
        input=name,
    )


def _layout_finding(
    name: str, matrices: list[_Matrix], checks: dict[str, _Consistency], c_role: str
) -> Finding:
    """``units.detected`` (info) for the layout: each matrix's units, and which back-transform
    to the counts matrix sample by sample."""
    layout: dict[str, Any] = {r.role: r.call.label for r in matrices}
    parts = ", ".join(f"{role} {label}" for role, label in layout.items())
    standard = layout.get(".X", "").startswith(("log1p(", "log")) and any(
        r.call.units == "counts" for r in matrices if r.role != ".X"
    )
    derived = [r for r, c in checks.items() if not c.rows_inconsistent]
    tail = (
        f"; {', '.join(derived)} back-transform(s) to {c_role} sample by sample" if derived else ""
    )
    evidence_checks = {
        role: {
            "from": c_role,
            "rows_checked": c.rows_checked,
            "rows_inconsistent": c.rows_inconsistent,
            "examples": list(c.examples),
        }
        for role, c in checks.items()
    }
    return Finding(
        DETECTED,
        Severity.INFO,
        f"{name}: matrices {parts}"
        + (" (the standard scanpy layout: log-normalised .X, raw counts kept)" if standard else "")
        + tail,
        evidence={"layout": layout, "standard_layout": standard, "derived_checks": evidence_checks},
        input=name,
    )


def check_anndata_units(
    adata: Any,
    *,
    name: str = "<AnnData>",
    gene_lengths: pd.Series | None = None,
    expected_units: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    max_filtered_share: float = 0.25,
) -> list[Finding]:
    """Unit checks for every matrix of an AnnData (``.X``, ``.raw.X``, each layer).

    Each matrix gets the single-matrix checks of :func:`check_units` (its ``role`` in the
    evidence). Different units across ``.X``, ``.raw`` and layers are expected (that is what
    layers are for) and reported as info, e.g. the standard scanpy layout (log-normalised
    ``.X`` + ``layers['counts']``). Problems are: a layer whose name promises units it does
    not hold (``layers['counts']`` with log values: ``units.unexpected``, error), and a
    normalised/log matrix that does not back-transform sample by sample to the counts layer
    (first 100 samples checked: ``units.mismatch``, warning — the layers are out of sync).
    ``expected_units`` applies to ``.X``.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> counts = np.random.default_rng(0).poisson(3, (50, 80)).astype(np.float32)
    >>> a = ad.AnnData(np.log1p(counts / counts.sum(1, keepdims=True) * 1e4))
    >>> a.layers["counts"] = counts
    >>> sorted({(f.check, str(f.severity)) for f in check_anndata_units(a)})
    [('units.detected', 'info')]
    >>> a.layers["counts"] = a.X.copy()  # log values stored under "counts"
    >>> [f.check for f in check_anndata_units(a) if f.severity == "error"]
    ['units.unexpected']
    """
    if not _is_anndata(adata):
        raise InputError(
            f"{name}: expected an AnnData; got {type(adata).__name__} instead",
            path=name,
            hint="Use check_units() for arrays, sparse matrices and DataFrames.",
        )
    _check_options(chunk_size, max_filtered_share)
    _check_expected(expected_units)
    res = _anndata_units(
        adata,
        name=name,
        gene_lengths=gene_lengths,
        chunk_size=chunk_size,
        max_filtered_share=max_filtered_share,
    )
    findings = res.findings
    if expected_units is not None:
        main = next((r.call for r in res.matrices if r.role == ".X"), None)
        if main is not None:
            findings += _unexpected_findings(main, expected_units, source="expected_units")
    return findings
