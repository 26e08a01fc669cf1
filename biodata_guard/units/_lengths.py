"""Gene lengths from an AnnData's ``.var`` and aligned to a matrix's features."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._format import fraction, preview
from biodata_guard.errors import InputError
from biodata_guard.io.gene_lengths import shipped_gene_lengths, validate_gene_lengths
from biodata_guard.io.matrix import MatrixView


def gene_lengths_from_var(adata: Any, *, column: str | None = None) -> pd.Series | None:
    """Gene lengths from an AnnData ``.var`` column.

    With ``column=None`` the first of ``length``, ``gene_length``, ``gene_len``, ``len``,
    ``length_bp`` (case-insensitive) is used, and ``None`` is returned when there is none.

    Raises
    ------
    InputError
        ``column`` is given but missing, or its values are not positive numbers.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> a = ad.AnnData(np.ones((2, 2)), var=pd.DataFrame({"Length": [900, 2100]}, index=["A", "B"]))
    >>> gene_lengths_from_var(a).to_dict()
    {'A': 900.0, 'B': 2100.0}
    """
    var = adata.var
    if column is None:
        lower = {str(c).lower(): c for c in var.columns}
        column = next(
            (
                lower[c]
                for c in ("length", "gene_length", "gene_len", "len", "length_bp")
                if c in lower
            ),
            None,
        )
        if column is None:
            return None
    elif column not in var.columns:
        raise InputError(
            f"<AnnData>.var: no column '{column}'; columns are {list(var.columns)[:10]}",
            path="<AnnData>.var",
            column=column,
            hint="Pass the .var column holding gene lengths in bp.",
        )
    s = pd.Series(var[column].to_numpy(), index=pd.Index(var.index.astype(str)))
    return validate_gene_lengths(s, f"<AnnData>.var['{column}']")


def _align_lengths(lengths: pd.Series, var_names: pd.Index, *, name: str) -> np.ndarray:
    """Lengths in the order of ``var_names`` (NaN where unknown); versions stripped if needed."""
    lengths = validate_gene_lengths(lengths, "gene_lengths")
    aligned = lengths.reindex(var_names).to_numpy(dtype=float)
    matched = np.isfinite(aligned)
    if matched.mean() < 0.5:
        strip = re.compile(r"\.\d+$")
        by_base = pd.Series(lengths.to_numpy(), index=[strip.sub("", i) for i in lengths.index])
        by_base = by_base[~by_base.index.duplicated(keep="first")]
        alt = by_base.reindex([strip.sub("", v) for v in var_names]).to_numpy(dtype=float)
        if np.isfinite(alt).sum() > matched.sum():
            aligned, matched = alt, np.isfinite(alt)
    if len(var_names) and matched.mean() < 0.5:
        missing = [v for v, ok in zip(var_names, matched, strict=True) if not ok]
        raise InputError(
            f"gene_lengths: only {fraction(int(matched.sum()), len(var_names))} features of "
            f"{name} have a length (missing e.g. {preview(missing, total=len(missing))}; "
            f"length ids look like {preview(list(lengths.index[:3]))})",
            path="gene_lengths",
            hint="Key the lengths by the matrix's feature ids (same id type, e.g. Ensembl).",
        )
    return aligned


def _view_lengths(
    view: MatrixView,
    gene_lengths: pd.Series | None,
    *,
    strict: bool,
    source: str | None = "given",
) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """Gene lengths aligned to ``view``'s features (NaN where unknown) and how many matched.
    Lengths that match no feature raise when ``strict``, else are ignored. ``source`` names
    where they come from (``"given"`` by the user, or the shipped table's sentence)."""
    if gene_lengths is None:
        return None, None
    try:
        lengths = _align_lengths(gene_lengths, view.var_names, name=view.name)
    except InputError:
        if strict:
            raise
        return None, None
    info = {"n_matched": int(np.isfinite(lengths).sum()), "n_features": view.n_vars}
    return lengths, {**info, "source": source, "shipped": source != "given"}


def _resolve_lengths(
    view: MatrixView, gene_lengths: pd.Series | None, adata: Any, *, shipped: bool
) -> tuple[pd.Series | None, bool, str]:
    """The gene lengths to use, whether a mismatch with the features is an error, and their
    source: the user's (raise on mismatch), an AnnData ``.var`` length column, or the shipped
    human / mouse table when the feature ids are Ensembl ids or symbols it knows."""
    if gene_lengths is not None:
        return gene_lengths, True, "given"
    if adata is not None:
        from_var = gene_lengths_from_var(adata)
        if from_var is not None:
            return from_var, False, "given"
    if shipped:
        found = shipped_gene_lengths(view.var_names)
        if found is not None:
            return found[0], False, found[1]
    return None, False, "given"
