"""The shipped Ensembl gene id <-> symbol tables (GENCODE 48 human, M37 mouse) and mapping."""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import pandas as pd

from biodata_guard.errors import ConfigError

__all__ = ["ORGANISMS", "TABLE_RELEASE", "gene_table", "map_feature_ids"]

ORGANISMS = ("human", "mouse")
#: The GENCODE release each table was derived from (``biodata_guard/data/PROVENANCE.md``).
TABLE_RELEASE = {"human": "GENCODE 48 (GRCh38)", "mouse": "GENCODE M37 (GRCm39)"}
_FILES = {"human": "gene_ids_human.tsv.gz", "mouse": "gene_ids_mouse.tsv.gz"}
_VERSION = re.compile(r"\.\d+(?:_PAR_Y)?$")
_ENSEMBL = re.compile(r"^ENS(?:MUS)?G\d{11}")


@functools.lru_cache(maxsize=2)
def gene_table(organism: str) -> pd.DataFrame:
    """The shipped table of one organism: ``gene_id`` (unversioned), ``version``, ``symbol``.

    Examples
    --------
    >>> t = gene_table("human")
    >>> t.set_index("gene_id").loc["ENSG00000141510", "symbol"]
    'TP53'
    """
    _check_organism(organism)
    ref = resources.files("biodata_guard") / "data" / _FILES[organism]
    with resources.as_file(ref) as path:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@functools.lru_cache(maxsize=2)
def symbol_set(organism: str) -> frozenset[str]:
    """Every symbol of an organism's table (exact case)."""
    return frozenset(gene_table(organism)["symbol"])


@functools.lru_cache(maxsize=2)
def _to_symbol(organism: str) -> dict[str, str]:
    t = gene_table(organism)
    return dict(zip(t["gene_id"], t["symbol"], strict=True))


@functools.lru_cache(maxsize=2)
def _to_ensembl(organism: str) -> dict[str, str]:
    """Symbol -> gene id for symbols that name exactly one gene (ambiguous ones are left out)."""
    t = gene_table(organism)
    unique = t[~t["symbol"].duplicated(keep=False)]
    return dict(zip(unique["symbol"], unique["gene_id"], strict=True))


def _check_organism(organism: Any) -> None:
    if organism not in ORGANISMS:
        raise ConfigError(
            f"organism must be one of {', '.join(ORGANISMS)}; got {organism!r} instead",
            key="organism",
            hint="Pass organism='human' or organism='mouse'.",
        )


def map_feature_ids(ids: Any, *, to: str, organism: str) -> pd.Index:
    """Map feature ids between Ensembl gene ids and symbols with the shipped GENCODE table.

    ``to="symbol"``: Ensembl gene ids (versioned or not) become their symbol; ``to="ensembl"``:
    symbols become their unversioned Ensembl gene id. Ids the table cannot map (unknown, or a
    symbol shared by several genes) are kept as they are, so the result has the input's length
    and order: use it as new column names or ``var_names``.

    Parameters
    ----------
    ids
        Feature ids (a list, ``pandas.Index``, ``adata.var_names``, ``df.columns``).
    to
        ``"symbol"`` or ``"ensembl"``.
    organism
        ``"human"`` (GENCODE 48) or ``"mouse"`` (GENCODE M37).

    Examples
    --------
    >>> list(map_feature_ids(["ENSG00000141510.17", "ENSG00000012048"], to="symbol",
    ...                      organism="human"))
    ['TP53', 'BRCA1']
    >>> list(map_feature_ids(["Xist", "Gapdh", "not_a_gene"], to="ensembl", organism="mouse"))
    ['ENSMUSG00000086503', 'ENSMUSG00000057666', 'not_a_gene']
    """
    _check_organism(organism)
    values = [str(v) for v in ids]
    if to == "symbol":
        table = _to_symbol(organism)
        out = [table.get(_VERSION.sub("", v), v) if _ENSEMBL.match(v) else v for v in values]
    elif to == "ensembl":
        table = _to_ensembl(organism)
        out = [table.get(v, v) for v in values]
    else:
        raise ConfigError(
            f"to must be 'symbol' or 'ensembl'; got {to!r} instead",
            key="to",
            hint="Pass to='symbol' or to='ensembl'.",
        )
    return pd.Index(out, dtype=str)
