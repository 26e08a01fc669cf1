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

from biodata_guard.alignment._sex_atlas import (
    PRIOR_COUNT,
    AtlasCalls,
    atlas_note,
    atlas_scores,
)
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
#: Defaults of :func:`infer_sex`: fewest samples with a clear per-sample (GTEx v8 threshold)
#: call; fewest scored samples for the two-cluster fit, least separation of the two clusters
#: (pooled robust SDs), furthest a confident call may sit from its cluster (robust SDs).
MIN_CLEAR_SAMPLES = 4
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
        (fewer than ``min_samples`` samples with a clear per-sample call, or scores that do not
        split into two clusters ``min_separation`` spreads apart: a single-sex cohort, shallow
        libraries, filtered or unexpressed genes). Only ``"ok"`` has calls.
    method
        ``"atlas"`` (each sample against GTEx v8 thresholds, :mod:`._sex_atlas`) or
        ``"clusters"`` (a two-cluster split of the cohort's scores).
    genes
        Symbol -> the matrix columns used for it.
    score
        Per sample (index: sample id): chrY expression against XIST (high = male; for
        ``"atlas"`` centred on the GTEx v8 midpoints); NaN when not computable.
    inferred
        Per sample: ``"female"``, ``"male"``, ``"uncertain"`` (between the two thresholds, or
        further than ``max_z`` robust SDs from its cluster towards the other) or ``<NA>``
        (not scored).
    min_samples
        The fewest samples the method needs (clear calls for ``"atlas"``, scored samples for
        ``"clusters"``).
    n_clear
        Samples with a female or male call (``"atlas"``).
    female_at_most, male_at_least
        The per-sample thresholds (``"atlas"``).
    threshold, female_center, male_center, female_spread, male_spread, separation
        The two-cluster split of the scores (:class:`ClusterSplit`, ``"clusters"``).
    transform
        How values were scaled before scoring.
    """

    status: str
    genes: Mapping[str, list[str]]
    score: pd.Series
    inferred: pd.Series
    transform: str = ""
    method: str = "clusters"
    min_samples: int = MIN_SAMPLES
    n_clear: int = 0
    female_at_most: float = math.nan
    male_at_least: float = math.nan
    threshold: float = math.nan
    female_center: float = math.nan
    male_center: float = math.nan
    female_spread: float = math.nan
    male_spread: float = math.nan
    separation: float = math.nan

    def evidence(self) -> dict[str, Any]:
        out = {
            "status": self.status,
            "method": self.method,
            "genes": dict(self.genes),
            "transform": self.transform,
            "min_samples": self.min_samples,
        }
        if self.method == "atlas":
            out.update(
                n_clear=self.n_clear,
                female_at_most=self.female_at_most,
                male_at_least=self.male_at_least,
            )
            return out
        out.update(
            threshold=self.threshold,
            female_center=self.female_center,
            male_center=self.male_center,
            female_spread=self.female_spread,
            male_spread=self.male_spread,
            separation=self.separation,
        )
        return out


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
) -> tuple[np.ndarray, np.ndarray, str]:
    """The given columns as a dense (n x len(cols)) array, read in row chunks (nothing else is
    densified), each row's total over all columns, and what the values are: ``"counts"``
    (non-negative integers), ``"per_million"`` (other non-negative values reaching above 50:
    CPM, TPM, FPKM, normalised counts) or ``"log"`` (log or scaled values)."""
    acc = accumulate(
        view,
        sex_columns_key(cols),
        lambda: SexColumns(view.n_obs, cols),
        chunk_size=chunk_size,
    )
    finite = acc.values[np.isfinite(acc.values)]
    non_negative = bool(finite.size) and finite.min() >= 0
    if non_negative and np.all(finite == np.round(finite)):
        return acc.values, acc.totals, "counts"
    if non_negative and finite.max() > 50:
        return acc.values, acc.totals, "per_million"
    return acc.values, acc.totals, "log"


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


def _log_scale(values: np.ndarray, totals: np.ndarray, kind: str) -> tuple[np.ndarray, str]:
    """The sex-gene values on a log scale, and how they were scaled."""
    if kind == "counts":
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(totals > 0, 1e6 / totals, np.nan)
        values = np.log((values + PRIOR_COUNT) * scale[:, None])
        return values, f"log counts per million (per-sample totals, prior count {PRIOR_COUNT:g})"
    if kind == "per_million":
        return np.log1p(values), "log1p"
    return values, "none (log or scaled values)"


def _per_gene(values: np.ndarray, found: dict[str, list[int]], cols: np.ndarray) -> dict:
    """Symbol -> the mean of its columns, per sample."""
    where = {int(c): j for j, c in enumerate(cols)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return {sym: np.nanmean(values[:, [where[i] for i in found[sym]]], axis=1) for sym in found}


def _sex_scores(per_gene: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Per sample: mean chrY-gene value minus the XIST value (log scale; either part alone
    when the other is absent)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        y_part = [per_gene[g] for g in Y_GENES if g in per_gene]
        score = np.zeros(n)
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


def _atlas_inference(
    atlas: AtlasCalls,
    genes: Mapping[str, list[str]],
    kind: str,
    index: pd.Index,
    *,
    min_clear_samples: int,
    min_samples: int,
) -> SexInference | None:
    """The per-sample (GTEx v8 threshold) inference; None when too few samples have a clear
    call but enough are scored for the two-cluster fit (e.g. shallow single-cell libraries)."""
    n_scored = int(np.isfinite(atlas.score).sum())
    clear = atlas.n_clear >= min_clear_samples
    if not clear and n_scored >= min_samples:
        return None
    prior = "prior count 2" if kind == "counts" else "prior 0.1 per million"
    base = {
        "genes": MappingProxyType(dict(genes)),
        "score": pd.Series(atlas.score, index=index, dtype=np.float64),
        "transform": f"log per million (per-sample totals, {prior}); {atlas_note(atlas)}",
        "method": "atlas",
        "min_samples": min_clear_samples,
        "n_clear": atlas.n_clear,
        "female_at_most": atlas.female_at_most,
        "male_at_least": atlas.male_at_least,
    }
    if clear:
        return SexInference("ok", inferred=atlas.calls(index), **base)
    none = pd.Series(pd.NA, index=index, dtype="string")
    status = "too_few_samples" if n_scored < min_clear_samples else "weak_signal"
    return SexInference(status, inferred=none, **base)


def _cluster_inference(
    values: np.ndarray,
    totals: np.ndarray,
    kind: str,
    found: dict[str, list[int]],
    cols: np.ndarray,
    base: dict[str, Any],
    *,
    min_samples: int,
    min_separation: float,
    max_z: float,
) -> SexInference:
    """The two-cluster inference on the cohort's log-scale scores."""
    logged, transform = _log_scale(values, totals, kind)
    score = _sex_scores(_per_gene(logged, found, cols), len(values))
    index = base["score"].index
    base = {**base, "score": pd.Series(score, index=index, dtype=np.float64)}
    base.update(transform=transform, min_samples=max(2, min_samples))
    ok = np.isfinite(score)
    none = pd.Series(pd.NA, index=index, dtype="string")
    if ok.sum() < max(2, min_samples):
        return SexInference("too_few_samples", inferred=none, **base)
    split = split_clusters(np.sort(score[ok]))
    if not split.separation >= min_separation:
        return SexInference("weak_signal", inferred=none, **base, **dataclasses.asdict(split))
    inferred = _calls(score, split, max_z, index)
    return SexInference("ok", inferred=inferred, **base, **dataclasses.asdict(split))


def infer_sex(
    X: Any,
    *,
    gene_symbols: Any = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    min_clear_samples: int = MIN_CLEAR_SAMPLES,
    min_samples: int = MIN_SAMPLES,
    min_separation: float = MIN_SEPARATION,
    max_z: float = MAX_Z,
) -> SexInference:
    """Infer each sample's sex from XIST and chrY-gene expression.

    Only the sex-gene columns are kept (read chunk by chunk; a sparse or backed matrix is never
    densified), with each sample's total over all columns.

    *Per sample* (``method="atlas"``), when the values are read counts or other non-negative
    values on a linear scale (CPM, TPM, FPKM, normalised counts) and both XIST and a chrY gene
    are present: each chrY gene's log level relative to the library size is compared with
    XIST's in the same sample, centred on GTEx v8 midpoints and averaged; the sample is
    ``"female"`` or ``"male"`` beyond the GTEx v8 thresholds (see
    ``biodata_guard.alignment._sex_atlas``) and ``"uncertain"`` in between. No cohort is
    needed: ``min_clear_samples`` samples with a clear call make the inference ``"ok"``.

    *From the cohort* (``method="clusters"``), for log or scaled values, a single kind of sex
    gene, or shallow libraries (fewer than ``min_clear_samples`` clear per-sample calls) with at
    least ``min_samples`` samples: counts become log counts per million with a prior count of
    2 (edgeR's ``cpm(log=TRUE)``), other non-negative values above 50 are log1p-transformed, log
    or scaled values are used as they are. The score is the mean chrY-gene value minus the
    XIST value (either part alone when the other is absent), split into two clusters (exact 1-D
    two-means); the upper one is male, and a score further than ``max_z`` robust SDs from its
    cluster's median towards the other cluster is ``"uncertain"``.

    Parameters
    ----------
    X
        Samples x genes: AnnData, DataFrame, ndarray or scipy.sparse (or a MatrixView).
    gene_symbols
        Optional gene symbols / Ensembl ids aligned with the columns (e.g.
        ``adata.var["feature_name"]``), matched in addition to the column names.
    min_clear_samples
        Per-sample method: fewer clear calls give ``"weak_signal"`` (``"too_few_samples"``
        when fewer samples are scored at all), unless the cohort is large enough to cluster.
    min_samples
        Cluster method: fewer scored samples give ``status="too_few_samples"``.
    min_separation
        Cluster medians closer than this many pooled robust SDs give ``status="weak_signal"``.
    max_z
        A call needs the score within this many robust SDs of its cluster's median on the
        side facing the other cluster; scores further into the gap are ``"uncertain"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> male = np.arange(6) % 2 == 0
    >>> X = pd.DataFrame({"XIST": rng.poisson(np.where(male, 1, 300)),
    ...                   "RPS4Y1": rng.poisson(np.where(male, 200, 0.5)),
    ...                   "GAPDH": rng.poisson(1000, 6)})
    >>> res = infer_sex(X)
    >>> res.status, res.method, res.inferred.tolist()
    ('ok', 'atlas', ['male', 'female', 'male', 'female', 'male', 'female'])
    """
    view = as_matrix(X)
    found = sex_gene_columns(view, gene_symbols)
    genes = {sym: [str(view.var_names[i]) for i in found[sym]] for sym in SEX_GENES if sym in found}
    if not found:
        empty = pd.Series(np.nan, index=view.obs_names, dtype=np.float64)
        none = pd.Series(pd.NA, index=view.obs_names, dtype="string")
        return SexInference("genes_absent", MappingProxyType(genes), empty, none)
    cols = columns_of(found)
    values, totals, kind = _read_sex_columns(view, cols, chunk_size)
    if kind != "log":
        atlas = atlas_scores(_per_gene(values, found, cols), totals, counts=kind == "counts")
        if atlas is not None:
            res = _atlas_inference(
                atlas,
                genes,
                kind,
                view.obs_names,
                min_clear_samples=min_clear_samples,
                min_samples=min_samples,
            )
            if res is not None:
                return res
    base = {"genes": MappingProxyType(genes), "score": pd.Series(np.nan, index=view.obs_names)}
    return _cluster_inference(
        values,
        totals,
        kind,
        found,
        cols,
        base,
        min_samples=min_samples,
        min_separation=min_separation,
        max_z=max_z,
    )
