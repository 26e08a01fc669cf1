"""Sex inferred from XIST / chrY-gene expression: the genes, the scores, the two-cluster split."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard.errors import InputError
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, as_matrix
from biodata_guard.stats import robust_sd
from biodata_guard.stream import accumulate

#: The sex-marker genes: symbol -> Ensembl gene id (GRCh38; versioned ids such as
#: ``ENSG00000229807.12`` match too). XIST is expressed from the inactive X (female); the
#: other five are chrY genes expressed in male cells.
SEX_GENES: Mapping[str, str] = MappingProxyType(
    {
        "XIST": "ENSG00000229807",
        "RPS4Y1": "ENSG00000129824",
        "DDX3Y": "ENSG00000067048",
        "KDM5D": "ENSG00000012817",
        "UTY": "ENSG00000183878",
        "EIF1AY": "ENSG00000198692",
    }
)
Y_GENES = ("RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY")
#: Prior count added to raw counts before log-CPM (as edgeR's ``cpm(log=TRUE)``).
PRIOR_COUNT = 2.0
#: AnnData ``.var`` columns that may hold gene symbols or Ensembl ids, in the order tried.
GENE_ID_COLUMNS = (
    "gene_symbols",
    "gene_symbol",
    "feature_name",
    "gene_name",
    "gene_names",
    "symbol",
    "gene_ids",
    "gene_id",
    "ensembl_id",
    "feature_id",
)
#: Defaults of :func:`infer_sex`: fewest scored samples, least separation of the two clusters
#: (pooled robust SDs), furthest a confident call may sit from its cluster (robust SDs).
MIN_SAMPLES = 10
MIN_SEPARATION = 4.0
MAX_Z = 4.0
#: A cluster with fewer members borrows the other cluster's spread.
_MIN_CLUSTER = 5

_FEMALE = frozenset({"f", "female", "woman", "women", "girl", "fem", "2", "xx"})
_MALE = frozenset({"m", "male", "man", "men", "boy", "1", "xy"})
_SEP = r"[|:;,_\s]"


def normalise_sex(values: Any) -> pd.Series:
    """Reported sex as ``"female"`` / ``"male"`` / ``<NA>`` (unknown, missing, other).

    F / female / woman / 2 / XX are female; M / male / man / 1 / XY male (case and
    surrounding space ignored; ``1``/``2`` follow the PLINK coding, also as ``1.0``/``2.0``).
    Everything else (NA, ``0``, unknown, other ...) is ``<NA>`` and is not compared.

    Examples
    --------
    >>> normalise_sex(["F", " male", 2, "1.0", "unknown", None]).tolist()
    ['female', 'male', 'female', 'male', <NA>, <NA>]
    """
    s = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    key = s.astype(str).str.strip().str.lower().str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    out[key.isin(_FEMALE) & s.notna()] = "female"
    out[key.isin(_MALE) & s.notna()] = "male"
    return out


def match_sex_genes(names: Any) -> dict[str, list[int]]:
    """Positions of each sex gene among ``names`` (symbols or Ensembl ids, possibly versioned or
    combined as ``ENSG...|XIST``), case-insensitive.

    Examples
    --------
    >>> match_sex_genes(["GAPDH", "xist", "ENSG00000129824.16", "ENSG00000067048|DDX3Y"])
    {'XIST': [1], 'RPS4Y1': [2], 'DDX3Y': [3]}
    """
    upper = pd.Series(pd.Index(names).astype(str)).str.strip().str.upper()
    found: dict[str, list[int]] = {}
    for symbol, ensembl in SEX_GENES.items():
        pattern = rf"(?:^|{_SEP})(?:{symbol}|{ensembl}(?:\.\d+)?)(?:$|{_SEP})"
        hits = np.flatnonzero(upper.str.contains(pattern, regex=True).to_numpy())
        if len(hits):
            found[symbol] = hits.tolist()
    return found


@dataclass(frozen=True)
class ClusterSplit:
    """The two-cluster split of the sex scores: cluster medians, robust SDs (1.4826 MAD), the
    threshold equidistant in SDs from both, and the gap in pooled SDs."""

    threshold: float
    female_center: float
    male_center: float
    female_spread: float
    male_spread: float
    separation: float


@dataclass(frozen=True, eq=False)
class SexInference:
    """Sex inferred from XIST / chrY expression, one call per sample.

    Attributes
    ----------
    status
        ``"ok"``; ``"genes_absent"`` (none of the six genes is in the matrix);
        ``"too_few_samples"`` (fewer than ``min_samples`` scored samples); ``"weak_signal"``
        (the scores do not split into two clusters ``min_separation`` spreads apart: a
        single-sex cohort, filtered or unexpressed genes). Only ``"ok"`` has calls.
    genes
        Symbol -> the matrix columns used for it.
    score
        Per sample (index: sample id): mean chrY expression minus XIST expression on the
        transformed scale (high = male); NaN when not computable.
    inferred
        Per sample: ``"female"``, ``"male"``, ``"uncertain"`` (further than ``max_z`` robust SDs
        from its cluster towards the other) or ``<NA>`` (not scored).
    threshold, female_center, male_center, female_spread, male_spread, separation
        The two-cluster split of the scores (:class:`ClusterSplit`).
    transform
        How values were scaled before scoring.
    """

    status: str
    genes: Mapping[str, list[str]]
    score: pd.Series
    inferred: pd.Series
    transform: str = ""
    threshold: float = math.nan
    female_center: float = math.nan
    male_center: float = math.nan
    female_spread: float = math.nan
    male_spread: float = math.nan
    separation: float = math.nan

    def evidence(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "genes": dict(self.genes),
            "transform": self.transform,
            "threshold": self.threshold,
            "female_center": self.female_center,
            "male_center": self.male_center,
            "female_spread": self.female_spread,
            "male_spread": self.male_spread,
            "separation": self.separation,
        }


class SexColumns:
    """The sex-gene columns (dense, n x len(cols)) and every row's total over all genes, as an
    accumulator of the audit's shared pass (``biodata_guard.stream``)."""

    def __init__(self, n: int, cols: np.ndarray) -> None:
        self.cols = cols
        self.values = np.empty((n, len(cols)), dtype=np.float64)
        self.totals = np.empty(n, dtype=np.float64)

    def task(self) -> tuple[Any, dict[str, Any]]:
        return _sex_block, {"cols": self.cols}

    def absorb(self, start: int, stop: int, part: tuple[np.ndarray, np.ndarray]) -> None:
        self.values[start:stop], self.totals[start:stop] = part


def _sex_block(block: Any, start: int, stop: int, *, cols: np.ndarray) -> tuple[np.ndarray, ...]:
    sub = block[:, cols]
    values = sub.toarray() if sp.issparse(sub) else np.asarray(sub, dtype=np.float64)
    return values, np.asarray(block.sum(axis=1), dtype=np.float64).ravel()


def sex_columns_key(cols: np.ndarray) -> Hashable:
    """The memo key of the :class:`SexColumns` of ``cols`` on a view (the shared pass's key,
    not a check id)."""
    return ("alignment.sex_columns", tuple(cols.tolist()))


def _read_sex_columns(
    view: MatrixView, cols: np.ndarray, chunk_size: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The given columns as a dense (n x len(cols)) array, read in row chunks (nothing else is
    densified), and each row's total when the columns look like raw counts (non-negative
    integers)."""
    acc = accumulate(
        view,
        sex_columns_key(cols),
        lambda: SexColumns(view.n_obs, cols),
        chunk_size=chunk_size,
    )
    finite = acc.values[np.isfinite(acc.values)]
    counts = bool(finite.size) and finite.min() >= 0 and np.all(finite == np.round(finite))
    return acc.values, acc.totals if counts else None


def sex_gene_columns(view: MatrixView, gene_symbols: Any) -> dict[str, list[int]]:
    """Column positions of each sex gene found among the column names or ``gene_symbols``."""
    found = match_sex_genes(view.var_names)
    if gene_symbols is not None:
        symbols = pd.Index(pd.Series(gene_symbols, dtype=object).astype(str))
        if len(symbols) != view.n_vars:
            raise InputError(
                f"{view.name}: gene_symbols has {len(symbols)} entries for {view.n_vars} columns",
                path=view.name,
                hint="Pass one symbol per column, e.g. adata.var['feature_name'].",
            )
        for symbol, hits in match_sex_genes(symbols).items():
            found[symbol] = sorted(set(found.get(symbol, [])) | set(hits))
    return found


def columns_of(found: dict[str, list[int]]) -> np.ndarray:
    """Every column position of ``found``, sorted."""
    return np.array(sorted({i for hits in found.values() for i in hits}), dtype=np.int64)


def _log_scale(values: np.ndarray, totals: np.ndarray | None) -> tuple[np.ndarray, str]:
    """The sex-gene values on a log scale, and how they were scaled."""
    finite = values[np.isfinite(values)]
    if totals is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(totals > 0, 1e6 / totals, np.nan)
        values = np.log((values + PRIOR_COUNT) * scale[:, None])
        return values, f"log counts per million (per-sample totals, prior count {PRIOR_COUNT:g})"
    if finite.size and finite.min() >= 0 and finite.max() > 50:
        return np.log1p(values), "log1p"
    return values, "none (log or scaled values)"


def _sex_scores(values: np.ndarray, found: dict[str, list[int]], cols: np.ndarray) -> np.ndarray:
    """Per sample: mean chrY-gene value minus the XIST value (each gene the mean of its
    columns; either part alone when the other is absent)."""
    where = {int(c): j for j, c in enumerate(cols)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        per_gene = {
            sym: np.nanmean(values[:, [where[i] for i in found[sym]]], axis=1) for sym in found
        }
        y_part = [per_gene[g] for g in Y_GENES if g in per_gene]
        score = np.zeros(values.shape[0])
        if y_part:
            score += np.nanmean(np.column_stack(y_part), axis=1)
        if "XIST" in per_gene:
            score -= per_gene["XIST"]
    return score


def _two_means(x: np.ndarray) -> int:
    """Size of the lower cluster of the exact 1-D two-means split of sorted ``x``."""
    s = x - x.mean()
    n = len(s)
    cs, cs2 = np.cumsum(s), np.cumsum(s**2)
    k = np.arange(1, n)
    left = cs2[:-1] - cs[:-1] ** 2 / k
    right = (cs2[-1] - cs2[:-1]) - (cs[-1] - cs[:-1]) ** 2 / (n - k)
    return int(np.argmin(left + right)) + 1


def _spread(x: np.ndarray) -> float:
    """The robust SD of ``x``; its SD when the MAD is 0, and 0 for fewer than 2 values."""
    if len(x) < 2:
        return 0.0
    mad = robust_sd(x)
    return mad if mad > 0 else float(np.std(x))


def split_clusters(x: np.ndarray) -> ClusterSplit:
    """Split sorted scores ``x`` into a female (low) and a male (high) cluster.

    Examples
    --------
    >>> s = split_clusters(np.array([-5.0, -4.8, -5.2, -5.1, -4.9, 5.0, 4.8, 5.2, 5.1, 4.9]))
    >>> round(s.threshold, 6), round(s.female_center, 6), round(s.male_center, 6)
    (0.0, -5.0, 5.0)
    """
    k = _two_means(x)
    low, high = x[:k], x[k:]
    c_f, c_m = float(np.median(low)), float(np.median(high))
    s_f, s_m = _spread(low), _spread(high)
    if len(low) < _MIN_CLUSTER and len(high) >= _MIN_CLUSTER:
        s_f = s_m
    if len(high) < _MIN_CLUSTER and len(low) >= _MIN_CLUSTER:
        s_m = s_f
    gap = c_m - c_f
    floor = 1e-9 * max(gap, 1e-12)
    s_f, s_m = max(s_f, floor), max(s_m, floor)
    pooled = math.sqrt((len(low) * s_f**2 + len(high) * s_m**2) / len(x))
    return ClusterSplit(
        threshold=(c_f * s_m + c_m * s_f) / (s_f + s_m),
        female_center=c_f,
        male_center=c_m,
        female_spread=s_f,
        male_spread=s_m,
        separation=gap / pooled if pooled > 0 else math.inf,
    )


def _calls(score: np.ndarray, split: ClusterSplit, max_z: float, index: pd.Index) -> pd.Series:
    """``"female"`` / ``"male"`` per score, ``"uncertain"`` beyond ``max_z`` spreads into the
    gap, ``<NA>`` where the score is not finite."""
    male = score > split.threshold
    inside = np.where(
        male,
        score >= split.male_center - max_z * split.male_spread,
        score <= split.female_center + max_z * split.female_spread,
    )
    call = np.where(male, "male", "female").astype(object)
    call[~inside] = "uncertain"
    call[~np.isfinite(score)] = None
    return pd.Series(call, index=index).astype("string")


def infer_sex(
    X: Any,
    *,
    gene_symbols: Any = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    min_samples: int = MIN_SAMPLES,
    min_separation: float = MIN_SEPARATION,
    max_z: float = MAX_Z,
) -> SexInference:
    """Infer each sample's sex from XIST and chrY-gene expression.

    Only the sex-gene columns are kept (read chunk by chunk; a sparse or backed matrix is never
    densified). Values are put on a log scale whatever the units: raw counts (non-negative
    integers) become log counts per million with a prior count of 2 (edgeR's ``cpm(log=TRUE)``
    default, which keeps zero-or-one-count noise from spreading the clusters), scaled by each
    sample's total over all genes; other non-negative values above 50 (TPM, CPM ...) are
    log1p-transformed; log or scaled values are used as they are. The score is the mean
    chrY-gene value minus the XIST value (either part alone when the other is absent). The
    scores are split into two clusters (exact 1-D two-means); the upper one is male. A score
    further than ``max_z`` robust SDs from its cluster's median towards the other cluster is
    ``"uncertain"``.

    Parameters
    ----------
    X
        Samples x genes: AnnData, DataFrame, ndarray or scipy.sparse (or a MatrixView).
    gene_symbols
        Optional gene symbols / Ensembl ids aligned with the columns (e.g.
        ``adata.var["feature_name"]``), matched in addition to the column names.
    min_samples
        Fewer scored samples give ``status="too_few_samples"``.
    min_separation
        Cluster medians closer than this many pooled robust SDs give ``status="weak_signal"``.
    max_z
        A call needs the score within this many robust SDs of its cluster's median on the
        side facing the other cluster; scores further into the gap are ``"uncertain"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> male = np.arange(40) % 2 == 0
    >>> X = pd.DataFrame({"XIST": rng.poisson(np.where(male, 1, 300)),
    ...                   "RPS4Y1": rng.poisson(np.where(male, 200, 0.5)),
    ...                   "GAPDH": rng.poisson(1000, 40)})
    >>> res = infer_sex(X)
    >>> res.status, int((res.inferred == "male").sum())
    ('ok', 20)
    """
    view = as_matrix(X)
    found = sex_gene_columns(view, gene_symbols)
    genes = {sym: [str(view.var_names[i]) for i in found[sym]] for sym in SEX_GENES if sym in found}
    none = pd.Series(pd.NA, index=view.obs_names, dtype="string")
    if not found:
        empty = pd.Series(np.nan, index=view.obs_names, dtype=np.float64)
        return SexInference("genes_absent", MappingProxyType(genes), empty, none)
    cols = columns_of(found)
    values, transform = _log_scale(*_read_sex_columns(view, cols, chunk_size))
    score = _sex_scores(values, found, cols)
    base = {
        "genes": MappingProxyType(genes),
        "score": pd.Series(score, index=view.obs_names, dtype=np.float64),
        "transform": transform,
    }
    ok = np.isfinite(score)
    if ok.sum() < max(2, min_samples):
        return SexInference("too_few_samples", inferred=none, **base)
    split = split_clusters(np.sort(score[ok]))
    if not split.separation >= min_separation:
        return SexInference("weak_signal", inferred=none, **base, **dataclasses.asdict(split))
    inferred = _calls(score, split, max_z, view.obs_names)
    return SexInference("ok", inferred=inferred, **base, **dataclasses.asdict(split))
