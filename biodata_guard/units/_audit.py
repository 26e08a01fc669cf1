"""The units group of an audit: every feature input, its AnnData matrices, pairwise mismatch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, not_checked
from biodata_guard.units._anndata import _anndata_units, _lengths_source
from biodata_guard.units._call import UnitsCall
from biodata_guard.units._detect import _detect
from biodata_guard.units._findings import (
    UNEXPECTED,
    _check_expected,
    _matrix_findings,
    _unexpected_findings,
)
from biodata_guard.units._lengths import _resolve_lengths, _view_lengths, gene_lengths_from_var
from biodata_guard.units._mismatch import MISMATCH, _mismatch_findings
from biodata_guard.units._scan import HIST_EDGES, Scan, scan_accumulator

_MAX_PLOT_POINTS = 2000


@dataclass(frozen=True)
class _InputUnits:
    """The units findings of one feature input and the call of its audited view."""

    findings: list[Finding]
    call: UnitsCall
    artifacts: list[dict[str, Any]]
    n_layer_expectations: int  # AnnData layers whose name promises units
    n_derived_checks: int  # AnnData matrices compared with the counts layer


def audit_units(ctx: Any) -> list[Finding]:
    """Units checks for one audit.

    For each ``ctx.features[i]``: the single-matrix checks on its view; when ``.adata`` is
    set, on every matrix of the AnnData (``X``, ``raw``, layers) with the layout checks of
    :func:`check_anndata_units`. ``ctx.config.expected_units`` is compared with each input's
    audited view; inputs are compared pairwise (``units.mismatch``). Gene lengths come from
    ``ctx.gene_lengths``, for AnnData a ``.var`` length column, else the shipped human /
    mouse lengths when the feature ids are Ensembl ids or symbols. Streams rows in
    ``ctx.config.chunk_size`` blocks. Plot data (sub-sampled per-sample sums and a value
    histogram per matrix) go to ``ctx.artifacts["units"]["matrices"]``.

    Examples
    --------
    >>> import numpy as np
    >>> from biodata_guard._context import AuditContext, FeatureInput
    >>> from biodata_guard.config import AuditConfig
    >>> from biodata_guard.io.matrix import as_matrix
    >>> counts = np.random.default_rng(0).poisson(20, (30, 200)).astype(float)
    >>> cpm = counts / counts.sum(1, keepdims=True) * 1e6
    >>> ctx = AuditContext(config=AuditConfig(), features=[
    ...     FeatureInput("a.csv", as_matrix(counts, name="a.csv")),
    ...     FeatureInput("b.csv", as_matrix(cpm, name="b.csv"))])
    >>> [(f.check, str(f.severity)) for f in audit_units(ctx) if f.severity != "info"]
    [('units.mismatch', 'error')]
    """
    expected = ctx.config.expected_units
    _check_expected(expected)
    chunk = int(ctx.config.chunk_size)
    inputs = [_audit_input(ctx, fi, chunk) for fi in ctx.features]
    findings: list[Finding] = []
    for res in inputs:
        findings += res.findings
        if expected is not None:
            findings += _unexpected_findings(res.call, expected, source="expected_units")
    findings += _mismatch_findings([res.call for res in inputs])
    findings += _not_checked(inputs, expected)
    matrices = [art for res in inputs for art in res.artifacts]
    if matrices:
        ctx.artifacts.setdefault("units", {})["matrices"] = matrices
    return findings


def _audit_input(ctx: Any, fi: Any, chunk: int) -> _InputUnits:
    """The findings of one feature input (all matrices of an AnnData) and its view's call."""
    main = None
    findings: list[Finding] = []
    artifacts: list[dict[str, Any]] = []
    n_expectations = n_derived = 0
    if fi.adata is not None:
        res = _anndata_units(
            fi.adata, name=fi.name, gene_lengths=ctx.gene_lengths, chunk_size=chunk, primary=fi.view
        )
        findings += res.findings
        for m in res.matrices:
            artifacts.append(_artifact(m.call, m.scan, m.role))
            if m.view.name == fi.view.name and m.view.shape == fi.view.shape:
                main = m.call
        n_expectations, n_derived = res.n_layer_expectations, res.n_derived_checks
    if main is None:
        lengths = ctx.gene_lengths
        strict = lengths is not None
        if lengths is None and fi.adata is not None:
            lengths = gene_lengths_from_var(fi.adata)
        main, scan = _detect(
            fi.view,
            gene_lengths=lengths,
            chunk_size=chunk,
            name=fi.name,
            max_filtered_share=0.25,
            strict_lengths=strict,
        )
        findings += _matrix_findings(main)
        artifacts.append(_artifact(main, scan))
    return _InputUnits(findings, main, artifacts, n_expectations, n_derived)


def _not_checked(inputs: list[_InputUnits], expected: str | None) -> list[Finding]:
    """``not checked`` findings of the checks that had nothing to compare."""
    if not inputs:
        return []  # no feature matrix: the audit reports the missing need
    out = []
    if expected is None and not any(res.n_layer_expectations for res in inputs):
        out.append(not_checked(UNEXPECTED, "no expected units given (--expected-units)"))
    if len(inputs) < 2 and not any(res.n_derived_checks for res in inputs):
        out.append(
            not_checked(
                MISMATCH,
                f"{len(inputs)} feature matrix, needs >= 2 (--features twice) or an AnnData "
                "with a counts layer",
                n_matrices=len(inputs),
            )
        )
    return out


def _artifact(call: UnitsCall, scan: Scan, role: str | None = None) -> dict[str, Any]:
    """Plot data of one matrix: sub-sampled per-sample sums and a histogram of its values."""
    n = scan.n
    idx = np.unique(np.linspace(0, n - 1, min(n, _MAX_PLOT_POINTS)).astype(int)) if n else []
    labels = call.sample_units.to_numpy() if call.sample_units is not None else []
    art: dict[str, Any] = {
        "name": call.name,
        "role": role,
        "units": call.units,
        "label": call.label,
        "sample_ids": [str(call.sample_units.index[i]) for i in idx] if n else [],
        "sample_sums": scan.S[idx].tolist() if n else [],
        "sample_units": [str(labels[i]) for i in idx] if n else [],
        "histogram": {
            "scale": "asinh",
            "edges": np.sinh(HIST_EDGES).tolist(),
            "counts": scan.hist.tolist(),
            "n_sampled_nonzero": scan.n_hist_sampled,
            "n_zero": int(scan.n * scan.m - scan.nnz.sum() - scan.n_neg.sum() * 0),
        },
    }
    if call.log_base is not None and n:
        art["linear_sums"] = scan.log[call.log_base]["S"][idx].tolist()
    return art


def stream_accumulators(ctx: Any, fi: Any) -> dict[tuple, Scan]:
    """The units scan of ``fi.view``, for the audit's shared pass (same key as the audit's)."""
    layer = ctx.config.layer
    role = ".X" if layer is None else ".raw.X" if layer == "raw" else f"layers['{layer}']"
    source = _lengths_source(fi.adata, ctx.gene_lengths, role)
    given, _, origin = _resolve_lengths(fi.view, source, None, shipped=True)
    try:
        lengths, info = _view_lengths(
            fi.view, given, strict=ctx.gene_lengths is not None, source=origin
        )
    except InputError:
        return {}  # the check itself reports it
    shipped = info is not None and info["shipped"]
    key, acc = scan_accumulator(fi.view, lengths, exact_lengths=not shipped)
    return {key: acc}
