"""AnnData structure: ``.raw`` that does not line up with ``.X``, matrices in each other's roles,
and ``uns["log1p"]`` that contradicts the values. Values are judged by the units scan
(:func:`biodata_guard.units.detect_units`, streamed in row blocks: nothing is densified)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard._format import fraction, preview, subjects
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, as_matrix
from biodata_guard.registry import declare_check, declare_need
from biodata_guard.units import UnitsCall, detect_units

declare_need(
    "anndata",
    says="an AnnData input (--features FILE.h5ad or a .zarr store)",
    present=lambda ctx: any(fi.adata is not None for fi in ctx.features),
)
RAW_MISMATCH = declare_check(
    "features.raw_mismatch",
    group="features",
    severities=("error",),
    needs=("anndata",),
    doc=".raw does not line up with .X: features of .X absent from .raw, or the same features "
    "in another order (adata.X = adata.raw.X then swaps genes).",
)
MATRIX_ROLES = declare_check(
    "features.matrix_roles",
    group="features",
    severities=("warning", "error"),
    needs=("anndata",),
    doc="AnnData matrices in each other's roles: counts in .X while .raw.X is not counts "
    "(error), or a processed .X duplicated into .raw (warning).",
)
LOG1P_MARKER = declare_check(
    "features.log1p_marker",
    group="features",
    severities=("warning", "error"),
    needs=("anndata",),
    doc="uns['log1p'] contradicts the values: present while no matrix is log-transformed, or "
    "with another base (error); absent while .X is log-transformed (warning).",
)

_LINEAR = ("counts", "cpm", "tpm", "rpkm", "normalized", "cpm_or_tpm")
_BASES = {2: "2", 10: "10"}  # int or float keys: 2.0 == 2
_WANT = {"e": "None", "2": "2", "10": "10"}  # the uns value recording each base
_FIRST_ROWS = 256  # rows compared before a full streamed comparison of two matrices


@dataclass(frozen=True)
class RawLayout:
    """How ``.raw.var_names`` relate to ``.var_names`` (numbers only)."""

    n_vars: int
    n_raw_vars: int
    n_missing_from_raw: int
    missing: tuple[str, ...]  # the first features of .X absent from .raw
    same_set: bool
    first_order_difference: int | None  # same set: first position where the orders differ


def raw_layout(var_names: pd.Index, raw_var_names: pd.Index) -> RawLayout:
    """Compare the features of ``.X`` and ``.raw``.

    Examples
    --------
    >>> raw_layout(pd.Index(["a", "b", "c"]), pd.Index(["c", "b", "a"])).first_order_difference
    0
    """
    raw = set(raw_var_names.tolist())
    missing = [str(v) for v in var_names if v not in raw]
    same = not missing and len(raw) == len(var_names) == len(raw_var_names)
    order = None
    if same:
        differs = np.flatnonzero(var_names.to_numpy() != raw_var_names.to_numpy())
        order = int(differs[0]) if len(differs) else None
    return RawLayout(len(var_names), len(raw_var_names), len(missing), tuple(missing[:50]), same,
                     order)  # fmt: skip


def raw_mismatch_findings(name: str, lay: RawLayout) -> list[Finding]:
    ev = {"n_vars": lay.n_vars, "n_raw_vars": lay.n_raw_vars}
    if lay.n_missing_from_raw:
        return [
            Finding(
                RAW_MISMATCH,
                Severity.ERROR,
                f"{name}: {fraction(lay.n_missing_from_raw, lay.n_vars)} features of .X are "
                f"absent from .raw ({preview(lay.missing, total=lay.n_missing_from_raw)}); "
                ".raw was built on other feature ids",
                evidence={**ev, "kind": "missing", "n_missing": lay.n_missing_from_raw},
                subjects=subjects(lay.missing),
                hint="Rename .raw's features like .X's (rebuild it: adata.raw = "
                "adata.raw.to_adata() with var_names set as in adata.var_names), or set "
                "var_names back to the ids .raw uses.",
                input=name,
            )
        ]
    if lay.first_order_difference is not None:
        i = lay.first_order_difference
        return [
            Finding(
                RAW_MISMATCH,
                Severity.ERROR,
                f"{name}: .raw holds the same {lay.n_vars} features as .X in another order "
                f"(first difference at position {i}); copying .raw.X into .X or a layer by "
                "position swaps genes",
                evidence={**ev, "kind": "order", "first_order_difference": i},
                hint="Select .raw by name, never by position: adata.layers['counts'] = "
                "adata.raw[:, adata.var_names].X.",
                input=name,
            )
        ]
    return []


def _first_rows(view: MatrixView) -> Any:
    block = view.rows(slice(0, min(_FIRST_ROWS, view.n_obs)))
    return sp.csr_matrix(block) if sp.issparse(block) else np.asarray(block)


def _blocks_equal(a: Any, b: Any) -> bool:
    if a.shape != b.shape:
        return False
    if sp.issparse(a) or sp.issparse(b):
        diff = sp.csr_matrix(a, dtype=np.float64) - sp.csr_matrix(b, dtype=np.float64)
        return diff.count_nonzero() == 0
    return bool(np.array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def same_values(x: MatrixView, y: MatrixView, *, chunk_size: int) -> bool:
    """Whether two matrices hold the same values, streamed in row blocks (the first rows are
    compared first: different matrices almost always differ there)."""
    if x.shape != y.shape or not x.var_names.equals(y.var_names):
        return False
    if not _blocks_equal(_first_rows(x), _first_rows(y)):
        return False
    chunks = zip(x.iter_chunks(chunk_size), y.iter_chunks(chunk_size), strict=True)
    return all(_blocks_equal(a, b) for (_, _, a), (_, _, b) in chunks)


def roles_findings(name: str, x: UnitsCall, raw: UnitsCall, duplicate: bool) -> list[Finding]:
    """Reversed roles (counts in .X, not in .raw) and a processed .X duplicated into .raw."""
    ev = {"x_units": x.label, "raw_units": raw.label}
    if x.units == "counts" and raw.units not in ("counts", "unknown"):
        return [
            Finding(
                MATRIX_ROLES,
                Severity.ERROR,
                f"{name}: .X holds counts while .raw.X holds {raw.label}: the roles are "
                "reversed (tools read raw counts from .raw and processed values from .X)",
                evidence={**ev, "kind": "reversed"},
                hint="Swap them: keep the counts as adata.layers['counts'] = adata.X.copy(), "
                "put the processed values in .X (adata.X = adata.raw[:, adata.var_names].X), "
                "and set adata.raw = None or rebuild it from the counts.",
                input=name,
            )
        ]
    if duplicate and x.units != "counts":
        return [
            Finding(
                MATRIX_ROLES,
                Severity.WARNING,
                f"{name}: .raw.X duplicates .X ({x.label}): .raw holds no unprocessed data",
                evidence={**ev, "kind": "duplicate"},
                hint="Keep the unprocessed counts in .raw or a layer (adata.layers['counts']) "
                "before normalising, or drop the copy (adata.raw = None).",
                input=name,
            )
        ]
    return []


def marker_base(marker: Any) -> str | None:
    """The log base ``uns['log1p']`` records (``"e"`` for ``base: None``); None if unreadable."""
    base = marker.get("base") if isinstance(marker, dict) else None
    if isinstance(base, np.generic):
        base = base.item()
    if isinstance(base, (int, float)) and not isinstance(base, bool):
        return _BASES.get(base) or ("e" if abs(base - np.e) < 1e-9 else f"{base:g}")
    return "e" if base is None else None


def log1p_findings(
    name: str, marker: Any, x: UnitsCall, logged: dict[str, UnitsCall]
) -> list[Finding]:
    """``uns['log1p']`` against the values: ``logged`` are the other matrices that are log."""
    has = marker is not None
    ev: dict[str, Any] = {"marker": has, "x_units": x.label, "x_log_base": x.log_base}
    if has and x.units in _LINEAR and not logged:
        what = (
            f"uns['log1p'] says the data are log-transformed but .X holds {x.label} and no "
            "other matrix is log-transformed"
        )
        hint = (
            "If .X was never logged, delete the marker (del adata.uns['log1p']) and run "
            "sc.pp.log1p(adata); if the log values were overwritten, restore them."
        )
        return [_marker_finding(name, Severity.ERROR, {**ev, "kind": "not_log"}, what, hint)]
    base = marker_base(marker) if has else None
    if has and x.units == "log" and x.log_base is not None and base not in (None, x.log_base):
        what = (
            f"uns['log1p'] records base {base} but .X is {x.label} (base {x.log_base}): "
            "fold changes are computed in the wrong base"
        )
        hint = (
            f"Record the base of the values: adata.uns['log1p'] = {{'base': {_WANT[x.log_base]}}}."
        )
        ev = {**ev, "kind": "base", "marker_base": base}
        return [_marker_finding(name, Severity.ERROR, ev, what, hint)]
    if not has and x.units == "log":
        what = (
            f".X is {x.label} but uns has no 'log1p' entry: scanpy logs it again without a "
            "warning and assumes base e for fold changes"
        )
        hint = (
            f"Record the transform: adata.uns['log1p'] = {{'base': {_WANT[x.log_base or 'e']}}} "
            "(None means natural log)."
        )
        return [_marker_finding(name, Severity.WARNING, {**ev, "kind": "missing"}, what, hint)]
    return []


def _marker_finding(name: str, sev: Severity, ev: dict, what: str, hint: str) -> Finding:
    return Finding(LOG1P_MARKER, sev, f"{name}: {what}", evidence=ev, hint=hint, input=name)


def check_anndata_structure(
    adata: Any,
    *,
    name: str = "<AnnData>",
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    x_view: MatrixView | None = None,
) -> list[Finding]:
    """Structure checks of one AnnData (in memory or backed): ``.raw`` against ``.X``
    (``features.raw_mismatch``), the roles of ``.X`` and ``.raw.X``
    (``features.matrix_roles``) and ``uns['log1p']`` against the values
    (``features.log1p_marker``). A layer named ``counts`` that holds no counts is
    ``units.unexpected`` (the units checks).

    ``x_view``: the audit's view of ``.X`` (its units scan is then reused).

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> counts = np.random.default_rng(0).poisson(3, (60, 80)).astype(np.float32)
    >>> a = ad.AnnData(counts)
    >>> a.raw = ad.AnnData(np.log1p(counts / counts.sum(1, keepdims=True) * 1e4))
    >>> [(f.check, f.evidence["kind"]) for f in check_anndata_structure(a)]
    [('features.matrix_roles', 'reversed')]
    """
    findings: list[Finding] = []
    if adata.X is None:
        return findings
    xv = x_view if x_view is not None else as_matrix(adata, name=name)
    x_call = detect_units(xv, chunk_size=chunk_size, name=name)
    raw_call = None
    if adata.raw is not None:
        rv = as_matrix(adata, layer="raw", name=name)
        findings += raw_mismatch_findings(name, raw_layout(xv.var_names, rv.var_names))
        raw_call = detect_units(rv, chunk_size=chunk_size, name=rv.name)
        dup = x_call.units == raw_call.units and same_values(xv, rv, chunk_size=chunk_size)
        findings += roles_findings(name, x_call, raw_call, dup)
    marker = adata.uns.get("log1p") if hasattr(adata.uns, "get") else None
    if marker is not None or x_call.units == "log":
        logged = {}
        if marker is not None and x_call.units in _LINEAR:
            logged = _logged_matrices(adata, name, raw_call, chunk_size)
        findings += log1p_findings(name, marker, x_call, logged)
    return findings


def _logged_matrices(
    adata: Any, name: str, raw_call: UnitsCall | None, chunk_size: int
) -> dict[str, UnitsCall]:
    """The matrices other than ``.X`` that are log-transformed (the marker may describe one)."""
    out = {}
    if raw_call is not None and raw_call.units == "log":
        out[".raw.X"] = raw_call
    for key in [k for k in adata.layers if k is not None]:
        call = detect_units(as_matrix(adata, layer=key, name=name), chunk_size=chunk_size)
        if call.units == "log":
            out[f"layers['{key}']"] = call
    return out
