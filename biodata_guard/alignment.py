"""Label/input alignment: lengths, keys, order, missing labels, merges, sex concordance."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard._context import AuditContext
from biodata_guard._format import MAX_SUBJECTS, fraction, preview, subjects
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, as_matrix
from biodata_guard.stream import accumulate

__all__ = [
    "KEY_DUPLICATES",
    "LENGTH_MISMATCH",
    "MERGE_EXPLOSION",
    "MISSING_LABELS",
    "ORDER_MISMATCH",
    "SEX_DISCORDANCE",
    "SEX_GENES",
    "UNMATCHED_KEYS",
    "Y_GENES",
    "SexInference",
    "audit_alignment",
    "audit_sex_concordance",
    "audited_merge",
    "check_alignment",
    "check_merge",
    "check_missing_labels",
    "check_sex_concordance",
    "infer_sex",
    "normalise_sex",
]

LENGTH_MISMATCH = "alignment.length_mismatch"
KEY_DUPLICATES = "alignment.key_duplicates"
UNMATCHED_KEYS = "alignment.unmatched_keys"
ORDER_MISMATCH = "alignment.order_mismatch"
MISSING_LABELS = "alignment.missing_labels"
MERGE_EXPLOSION = "alignment.merge_explosion"
SEX_DISCORDANCE = "alignment.sex_discordance"

_ALIGN_HINT = (
    "Align by id, never by position: y = labels.set_index('{key}').loc[X.index, '{label}'] "
    "(or biodata_guard.alignment.audited_merge(features, labels, on='{key}'))."
)


def _hint(key: str, label: str = "label") -> str:
    return _ALIGN_HINT.format(key=key, label=label)


def check_alignment(
    left_ids: Sequence[Any] | pd.Index,
    right_ids: Sequence[Any] | pd.Index,
    *,
    left_name: str = "features",
    right_name: str = "labels",
    key: str = "sample_id",
    label_col: str = "label",
) -> list[Finding]:
    """Check that two inputs describe the same samples, once each, in the same order.

    Reports ``alignment.length_mismatch`` (different row counts), ``alignment.key_duplicates``
    (an id on several rows of one side), ``alignment.unmatched_keys`` (ids on one side only:
    rows an inner join silently drops) and ``alignment.order_mismatch`` (the same ids in a
    different order: pairing by position mislabels rows).

    Parameters
    ----------
    left_ids, right_ids
        The sample ids of each input, in row order.
    left_name, right_name
        Input names for messages.
    key
        Name of the id column (for messages and hints).
    label_col
        Name of the label column (for hints).

    Examples
    --------
    >>> [f.check for f in check_alignment(["a", "b", "c"], ["b", "a", "c"])]
    ['alignment.order_mismatch']
    """
    left = pd.Index(pd.Index(left_ids).astype(str))
    right = pd.Index(pd.Index(right_ids).astype(str))
    out: list[Finding] = []
    if len(left) != len(right):
        out.append(
            Finding(
                LENGTH_MISMATCH,
                Severity.ERROR,
                f"{left_name} has {len(left)} rows but {right_name} has {len(right)}: "
                "pairing them by position misaligns every row after the first difference",
                evidence={f"n_{left_name}": len(left), f"n_{right_name}": len(right)},
                hint=_hint(key, label_col),
                input=right_name,
            )
        )
    for name, ids in ((left_name, left), (right_name, right)):
        dup_mask = ids.duplicated(keep=False)
        if dup_mask.any():
            dup = ids[dup_mask].unique()
            out.append(
                Finding(
                    KEY_DUPLICATES,
                    Severity.ERROR,
                    f"{name}, {key}: {fraction(len(dup), ids.nunique())} ids occur on more than "
                    f"one row ({int(dup_mask.sum())} rows; e.g. {preview(dup)})",
                    evidence={
                        "n_duplicated_ids": len(dup),
                        "n_rows_involved": int(dup_mask.sum()),
                        "n_rows": len(ids),
                    },
                    subjects=subjects(dup),
                    hint=f"Deduplicate {name} on '{key}' (df.drop_duplicates('{key}')) or find "
                    "the upstream join that repeated rows.",
                    input=name,
                )
            )
    only_left = left.difference(right, sort=False).unique()
    only_right = right.difference(left, sort=False).unique()
    if len(only_left) or len(only_right):
        n_inner = int(left.isin(right).sum())
        parts = []
        if len(only_left):
            parts.append(f"{len(only_left)} only in {left_name} (e.g. {preview(only_left)})")
        if len(only_right):
            parts.append(f"{len(only_right)} only in {right_name} (e.g. {preview(only_right)})")
        dropped = len(left) - n_inner
        out.append(
            Finding(
                UNMATCHED_KEYS,
                Severity.ERROR,
                f"{left_name} vs {right_name}, {key}: {'; '.join(parts)}; an inner join keeps "
                f"{fraction(n_inner, len(left))} {left_name} rows and silently drops {dropped}",
                evidence={
                    f"n_only_in_{left_name}": len(only_left),
                    f"n_only_in_{right_name}": len(only_right),
                    "n_matched_rows": n_inner,
                    f"n_{left_name}": len(left),
                    f"n_{right_name}": len(right),
                },
                subjects=subjects(list(only_left) + list(only_right)),
                hint=f"Find out why ids differ (prefixes, suffixes like '-1', case, whitespace) "
                f"and fix them at the source; then join on '{key}' with validate='one_to_one'.",
                input=right_name,
            )
        )
    same_set = (
        len(left) == len(right)
        and left.is_unique
        and right.is_unique
        and not len(only_left)
        and not len(only_right)
    )
    if same_set and not left.equals(right):
        moved = int((left.to_numpy() != right.to_numpy()).sum())
        mism = left[left.to_numpy() != right.to_numpy()]
        out.append(
            Finding(
                ORDER_MISMATCH,
                Severity.ERROR,
                f"{left_name} vs {right_name}, {key}: same ids in a different order; pairing by "
                f"position gives {fraction(moved, len(left))} rows the wrong label "
                f"(e.g. {preview(mism)})",
                evidence={"n_misplaced": moved, "n_rows": len(left)},
                subjects=subjects(mism),
                hint=_hint(key, label_col),
                input=right_name,
            )
        )
    return out


def check_missing_labels(
    labels: pd.Series,
    *,
    name: str = "labels",
    label_col: str | None = None,
) -> list[Finding]:
    """Report samples whose label is missing (NaN/None/empty), e.g. after a left join.

    Examples
    --------
    >>> y = pd.Series(["a", None, "b"], index=["s1", "s2", "s3"], name="label")
    >>> check_missing_labels(y)[0].evidence["n_missing"]
    1
    """
    col = label_col or labels.name or "label"
    missing = labels.isna() | labels.astype(str).str.strip().eq("")
    n = int(missing.sum())
    if n == 0:
        return []
    ids = labels.index[missing.to_numpy()]
    return [
        Finding(
            MISSING_LABELS,
            Severity.ERROR,
            f"{name}, {col}: {fraction(n, len(labels))} samples have no label "
            f"(e.g. {preview(ids)}); a left join with unmatched keys produces exactly this",
            evidence={"n_missing": n, "n_samples": len(labels)},
            subjects=subjects(ids),
            hint="Check the join that attached the labels (how='left' keeps unmatched rows as "
            "NaN); drop unlabeled samples explicitly with y.dropna() if that is intended.",
            input=name,
        )
    ]


def check_merge(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    on: str | list[str],
    left_name: str = "left",
    right_name: str = "right",
) -> list[Finding]:
    """Predict what ``left.merge(right, on=on)`` does before doing it: many-to-many explosion.

    A key duplicated on both sides multiplies rows (``a x b`` rows per key); the result has more
    rows than either input and repeats samples, silently inflating the training set.

    Examples
    --------
    >>> left = pd.DataFrame({"id": ["a", "a", "b"], "x": [1, 2, 3]})
    >>> right = pd.DataFrame({"id": ["a", "a", "b"], "y": [1, 2, 3]})
    >>> check_merge(left, right, on="id")[0].evidence["n_result_rows"]
    5
    """
    keys = [on] if isinstance(on, str) else list(on)
    for df, name in ((left, left_name), (right, right_name)):
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise InputError(
                f"{name}: merge key column(s) {missing} not found; columns are "
                f"{list(df.columns)[:10]}",
                path=name,
                column=missing[0],
                hint="Pass on= with a column present in both tables.",
            )
    lc = left.groupby(keys, dropna=False, observed=True).size().rename("n_left")
    rc = right.groupby(keys, dropna=False, observed=True).size().rename("n_right")
    both = pd.concat([lc, rc], axis=1, join="inner")
    exploding = both[(both["n_left"] > 1) & (both["n_right"] > 1)]
    if exploding.empty:
        return []
    n_result = int((both["n_left"] * both["n_right"]).sum())
    extra = int((exploding["n_left"] * exploding["n_right"]).sum()) - int(
        np.maximum(exploding["n_left"], exploding["n_right"]).sum()
    )
    key_label = ", ".join(keys)
    ex_keys = [k if not isinstance(k, tuple) else "/".join(map(str, k)) for k in exploding.index]
    return [
        Finding(
            MERGE_EXPLOSION,
            Severity.ERROR,
            f"{left_name} x {right_name}, {key_label}: {len(exploding)} keys are duplicated on "
            f"both sides (e.g. {preview(ex_keys)}); the merge yields {n_result} rows from "
            f"{len(left)} and {len(right)} ({extra} rows more than a one-to-many merge)",
            evidence={
                "n_exploding_keys": len(exploding),
                "n_result_rows": n_result,
                "n_left_rows": len(left),
                "n_right_rows": len(right),
                "n_extra_rows": extra,
            },
            subjects=subjects(ex_keys),
            hint=f"Deduplicate one side on {keys} first, or merge on a key that is unique on "
            "one side; pass validate='one_to_many' to pandas.merge to make this an error.",
            input=right_name,
        )
    ]


def audited_merge(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    on: str | list[str],
    how: str = "inner",
    left_name: str = "left",
    right_name: str = "right",
    label_col: str | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Perform ``pandas.merge`` and report exactly what it did.

    Returns the merged frame and findings: keys duplicated on either side, keys unmatched on each
    side (rows dropped by an inner join, NaN-filled by an outer one), many-to-many explosion, and
    labels (``label_col``, from either side) that became missing.

    Examples
    --------
    >>> feats = pd.DataFrame({"sample_id": ["s1", "s2", "s3"], "x": [0.1, 0.2, 0.3]})
    >>> labs = pd.DataFrame({"sample_id": ["s1", "s2", "s4"], "label": ["a", "b", "a"]})
    >>> merged, findings = audited_merge(feats, labs, on="sample_id", how="left",
    ...                                  label_col="label")
    >>> len(merged), sorted({f.check for f in findings})
    (3, ['alignment.missing_labels', 'alignment.unmatched_keys'])
    """
    findings = check_merge(left, right, on=on, left_name=left_name, right_name=right_name)
    keys = [on] if isinstance(on, str) else list(on)
    lkey = _key_index(left, keys)
    rkey = _key_index(right, keys)
    key_name = "+".join(keys)
    for f in check_alignment(lkey, rkey, left_name=left_name, right_name=right_name, key=key_name):
        if f.check in (KEY_DUPLICATES, UNMATCHED_KEYS):
            findings.append(f)
    merged = left.merge(right, on=on, how=how)  # type: ignore[arg-type]
    if label_col is not None and label_col in merged.columns:
        y = merged[label_col].copy()
        y.index = _key_index(merged, keys)
        findings += check_missing_labels(y, name=f"{left_name}+{right_name}", label_col=label_col)
    return merged, findings


def _key_index(df: pd.DataFrame, keys: list[str]) -> pd.Index:
    if len(keys) == 1:
        return pd.Index(df[keys[0]].astype(str))
    return pd.Index(df[keys].astype(str).agg("/".join, axis=1))


# --- alignment.sex_discordance ----------------------------------------------------------------

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


def _match_sex_genes(names: Any) -> dict[str, list[int]]:
    """Positions of each sex gene among ``names`` (symbols or Ensembl ids, possibly versioned or
    combined as ``ENSG...|XIST``), case-insensitive."""
    upper = pd.Series(pd.Index(names).astype(str)).str.strip().str.upper()
    found: dict[str, list[int]] = {}
    for symbol, ensembl in SEX_GENES.items():
        pattern = rf"(?:^|{_SEP})(?:{symbol}|{ensembl}(?:\.\d+)?)(?:$|{_SEP})"
        hits = np.flatnonzero(upper.str.contains(pattern, regex=True).to_numpy())
        if len(hits):
            found[symbol] = hits.tolist()
    return found


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
        The two-cluster split of the scores: cluster medians, robust SDs (1.4826 MAD), the
        threshold equidistant in SDs from both, and the gap in pooled SDs.
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


class _SexColumns:
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


def _read_sex_columns(
    view: MatrixView, cols: np.ndarray, chunk_size: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The given columns as a dense (n x len(cols)) array, read in row chunks (nothing else is
    densified), and each row's total when the columns look like raw counts (non-negative
    integers)."""
    acc = accumulate(
        view,
        ("alignment.sex_columns", tuple(cols.tolist())),
        lambda: _SexColumns(view.n_obs, cols),
        chunk_size=chunk_size,
    )
    finite = acc.values[np.isfinite(acc.values)]
    counts = bool(finite.size) and finite.min() >= 0 and np.all(finite == np.round(finite))
    return acc.values, acc.totals if counts else None


def _sex_gene_columns(view: MatrixView, gene_symbols: Any) -> dict[str, list[int]]:
    """Column positions of each sex gene found among the column names or ``gene_symbols``."""
    found = _match_sex_genes(view.var_names)
    if gene_symbols is not None:
        symbols = pd.Index(pd.Series(gene_symbols, dtype=object).astype(str))
        if len(symbols) != view.n_vars:
            raise InputError(
                f"{view.name}: gene_symbols has {len(symbols)} entries for {view.n_vars} columns",
                path=view.name,
                hint="Pass one symbol per column, e.g. adata.var['feature_name'].",
            )
        for symbol, hits in _match_sex_genes(symbols).items():
            found[symbol] = sorted(set(found.get(symbol, [])) | set(hits))
    return found


def _columns_of(found: dict[str, list[int]]) -> np.ndarray:
    return np.array(sorted({i for hits in found.values() for i in hits}), dtype=np.int64)


def stream_accumulators(ctx: AuditContext, fi: Any) -> dict[tuple, Any]:
    """The sex-gene columns :func:`audit_sex_concordance` reads, for the audit's shared pass."""
    cfg = ctx.config
    if not cfg.sex_col or not ctx.features or fi is not ctx.features[0]:
        return {}
    try:
        found = _sex_gene_columns(fi.view, _gene_symbols_from_var(fi, fi.view))
    except InputError:
        return {}  # the check reports it itself
    if not found:
        return {}
    cols = _columns_of(found)
    return {("alignment.sex_columns", tuple(cols.tolist())): _SexColumns(fi.view.n_obs, cols)}


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
    if len(x) < 2:
        return 0.0
    mad = 1.4826 * float(np.median(np.abs(x - np.median(x))))
    return mad if mad > 0 else float(np.std(x))


def infer_sex(
    X: Any,
    *,
    gene_symbols: Any = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    min_samples: int = 10,
    min_separation: float = 4.0,
    max_z: float = 4.0,
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
    found = _sex_gene_columns(view, gene_symbols)
    genes = {sym: [str(view.var_names[i]) for i in found[sym]] for sym in SEX_GENES if sym in found}
    empty = pd.Series(np.nan, index=view.obs_names, dtype=np.float64)
    none = pd.Series(pd.NA, index=view.obs_names, dtype="string")
    if not found:
        return SexInference("genes_absent", MappingProxyType(genes), empty, none)
    cols = _columns_of(found)
    values, totals = _read_sex_columns(view, cols, chunk_size)
    finite = values[np.isfinite(values)]
    if totals is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(totals > 0, 1e6 / totals, np.nan)
        values = np.log((values + PRIOR_COUNT) * scale[:, None])
        transform = f"log counts per million (per-sample totals, prior count {PRIOR_COUNT:g})"
    elif finite.size and finite.min() >= 0 and finite.max() > 50:
        values = np.log1p(values)
        transform = "log1p"
    else:
        transform = "none (log or scaled values)"
    where = {int(c): j for j, c in enumerate(cols)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        per_gene = {
            sym: np.nanmean(values[:, [where[i] for i in found[sym]]], axis=1) for sym in found
        }
        y_part = [per_gene[g] for g in Y_GENES if g in per_gene]
        score = np.zeros(view.n_obs)
        if y_part:
            score += np.nanmean(np.column_stack(y_part), axis=1)
        if "XIST" in per_gene:
            score -= per_gene["XIST"]
    score_s = pd.Series(score, index=view.obs_names, dtype=np.float64)
    ok = np.isfinite(score)
    base = {"genes": MappingProxyType(genes), "score": score_s, "transform": transform}
    if ok.sum() < max(2, min_samples):
        return SexInference("too_few_samples", inferred=none, **base)
    x = np.sort(score[ok])
    k = _two_means(x)
    low, high = x[:k], x[k:]
    c_f, c_m = float(np.median(low)), float(np.median(high))
    s_f, s_m = _spread(low), _spread(high)
    if len(low) < 5 and len(high) >= 5:
        s_f = s_m
    if len(high) < 5 and len(low) >= 5:
        s_m = s_f
    gap = c_m - c_f
    floor = 1e-9 * max(gap, 1e-12)
    s_f, s_m = max(s_f, floor), max(s_m, floor)
    pooled = math.sqrt((len(low) * s_f**2 + len(high) * s_m**2) / len(x))
    separation = gap / pooled if pooled > 0 else math.inf
    threshold = (c_f * s_m + c_m * s_f) / (s_f + s_m)
    stats_ = {
        "threshold": threshold,
        "female_center": c_f,
        "male_center": c_m,
        "female_spread": s_f,
        "male_spread": s_m,
        "separation": separation,
    }
    if not separation >= min_separation:
        return SexInference("weak_signal", inferred=none, **base, **stats_)
    male = score > threshold
    inside = np.where(male, score >= c_m - max_z * s_m, score <= c_f + max_z * s_f)
    call = np.where(male, "male", "female").astype(object)
    call[~inside] = "uncertain"
    call[~ok] = None
    inferred = pd.Series(call, index=view.obs_names).astype("string")
    return SexInference("ok", inferred=inferred, **base, **stats_)


def _align_to(values: Any, ids: pd.Index, name: str, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        index = pd.Index(values.index.astype(str))
        if index.is_unique and ids.isin(index).any():
            return values.set_axis(index).reindex(ids)
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    if arr.ndim != 1 or len(arr) != len(ids):
        raise InputError(
            f"{name}: the {what} column must have one entry per matrix row; got {len(arr)} for "
            f"{len(ids)} rows and no shared sample ids",
            path=name,
            hint="Pass a Series indexed by sample id (e.g. metadata.set_index('sample_id')"
            "['sex']).",
        )
    return pd.Series(arr, index=ids)


def check_sex_concordance(
    X: Any,
    sex: Any,
    *,
    gene_symbols: Any = None,
    name: str | None = None,
    sex_name: str = "metadata",
    sex_col: str = "sex",
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    min_samples: int = 10,
    min_separation: float = 4.0,
    max_z: float = 4.0,
    min_per_sex: int = 3,
    result: SexInference | None = None,
) -> list[Finding]:
    """Compare the reported sex with the sex inferred from XIST / chrY expression.

    ``alignment.sex_discordance`` (error) lists the samples whose reported sex (normalised by
    :func:`normalise_sex`; unknown values are skipped) contradicts a confident call of
    :func:`infer_sex` — the classic sign of swapped samples or a broken merge. Its evidence
    holds each listed sample's score, reported and inferred sex; uncertain calls are counted
    but never reported as discordant.

    When the expression does not separate into two clusters although the reported sex holds at
    least ``min_per_sex`` samples of each sex, the check returns one ``alignment.sex_discordance``
    *warning* saying that the reported sex cannot be verified, and why. It returns ``[]`` when
    none of the six genes is in the matrix, with fewer than ``min_samples`` scored samples, and
    for a weak signal in a (reported) single-sex cohort: an absent finding then means "not
    checked", never "concordant" (:func:`infer_sex` gives the status).

    Parameters
    ----------
    X
        Samples x genes expression: AnnData, DataFrame, ndarray or scipy.sparse.
    sex
        Reported sex per sample: a Series indexed by sample id (aligned to the matrix rows by
        id), or a sequence in row order.
    gene_symbols
        Optional symbols / Ensembl ids aligned with the columns when the column names are
        neither (e.g. ``adata.var["feature_name"]``).
    name, sex_name, sex_col
        Names of the matrix, the table holding the sex column, and the column, for messages.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> male = np.arange(40) % 2 == 0
    >>> X = pd.DataFrame({"XIST": rng.poisson(np.where(male, 1, 300)),
    ...                   "RPS4Y1": rng.poisson(np.where(male, 200, 0.5)),
    ...                   "GAPDH": rng.poisson(1000, 40)},
    ...                  index=[f"s{i}" for i in range(40)])
    >>> reported = pd.Series(np.where(male, "M", "F"), index=X.index)
    >>> reported["s0"] = "F"  # swapped
    >>> (f,) = check_sex_concordance(X, reported)
    >>> f.check, str(f.severity), f.subjects
    ('alignment.sex_discordance', 'error', ['s0'])
    """
    view = as_matrix(X, name=name)
    label = name or view.name
    res = result or infer_sex(
        view,
        gene_symbols=gene_symbols,
        chunk_size=chunk_size,
        min_samples=min_samples,
        min_separation=min_separation,
        max_z=max_z,
    )
    reported = normalise_sex(_align_to(sex, view.obs_names, sex_name, sex_col))
    n_female = int((reported == "female").sum())
    n_male = int((reported == "male").sum())
    gene_list = ", ".join(res.genes)
    where = f"{sex_name}, {sex_col}"
    if res.status == "weak_signal" and min(n_female, n_male) >= min_per_sex:
        return [
            Finding(
                SEX_DISCORDANCE,
                Severity.WARNING,
                f"{where}: the reported sex ({n_female} female, {n_male} male) cannot be "
                f"verified: {gene_list} expression in {label} does not split into two sex "
                f"clusters (separation {res.separation:.3g} < {min_separation:.3g} robust SDs)",
                evidence={
                    **res.evidence(),
                    "min_separation": min_separation,
                    "n_reported_female": n_female,
                    "n_reported_male": n_male,
                },
                hint="Check that the sex genes are expressed and not filtered out, and that "
                "the matrix rows are samples; biodata_guard.alignment.infer_sex(X).score shows "
                "the per-sample scores.",
                input=sex_name,
            )
        ]
    if res.status != "ok":
        return []
    inferred = res.inferred.reindex(view.obs_names)
    confident = inferred.isin(["female", "male"]).to_numpy(dtype=bool)
    known = reported.notna().to_numpy(dtype=bool)
    compared = confident & known
    discordant = compared & (
        reported.to_numpy(dtype=object, na_value=None) != inferred.to_numpy(dtype=object)
    )
    n_bad, n_compared = int(discordant.sum()), int(compared.sum())
    if not n_bad:
        return []
    ids = view.obs_names[discordant]
    shown = ids[:MAX_SUBJECTS]
    uncertain = view.obs_names[(inferred == "uncertain").to_numpy(dtype=bool)]
    pretty = [f"{i} (reported {reported[i]}, expression {inferred[i]})" for i in ids[:5]]
    coding = (
        " Most samples disagree: the column is probably coded the other way round "
        "(PLINK: 1 = male, 2 = female)."
        if n_bad > n_compared / 2
        else ""
    )
    return [
        Finding(
            SEX_DISCORDANCE,
            Severity.ERROR,
            f"{where}: {fraction(n_bad, n_compared)} samples' reported sex contradicts "
            f"{gene_list} expression in {label} ({preview(pretty, total=n_bad)}); swapped "
            "samples or a broken merge",
            evidence={
                "n_discordant": n_bad,
                "n_compared": n_compared,
                "n_samples": view.n_obs,
                "n_uncertain": len(uncertain),
                "n_reported_unknown": int((~known).sum()),
                "n_reported_female": n_female,
                "n_reported_male": n_male,
                **res.evidence(),
                "scores": {i: float(res.score[i]) for i in shown},
                "reported": {i: str(reported[i]) for i in shown},
                "inferred": {i: str(inferred[i]) for i in shown},
                "uncertain_samples": subjects(uncertain),
            },
            subjects=subjects(ids),
            hint="Trace these samples back through the sample sheet and every merge "
            "(biodata_guard.alignment.audited_merge shows what a merge did); fix the swapped "
            "rows or drop them." + coding,
            input=sex_name,
        )
    ]


def _gene_symbols_from_var(fi: Any, view: MatrixView) -> Any:
    """A ``.var`` column of an AnnData input holding symbols / Ensembl ids, when the matrix
    column names match no sex gene."""
    adata = fi.adata
    if adata is None or _match_sex_genes(view.var_names):
        return None
    var = adata.var
    if adata.raw is not None and len(var) != view.n_vars and len(adata.raw.var) == view.n_vars:
        var = adata.raw.var
    if len(var) != view.n_vars:
        return None
    for col in GENE_ID_COLUMNS:
        if col in var.columns and _match_sex_genes(var[col].astype(str)):
            return var[col].astype(str).to_numpy()
    return None


def audit_sex_concordance(ctx: AuditContext) -> list[Finding]:
    """Sex concordance for what the audit configures.

    Reads ``sex_col`` (nothing to do without it) from ``ctx.samples``, the first feature matrix
    ``ctx.features[0].view`` (only its sex-gene columns are kept) and, for an AnnData input whose
    var_names are neither symbols nor Ensembl ids, a ``.var`` column of :data:`GENE_ID_COLUMNS`.
    Writes nothing to ``ctx.artifacts``. Reports nothing when the genes are absent (see
    :func:`check_sex_concordance`).
    """
    cfg = ctx.config
    col = cfg.sex_col
    if col is None or ctx.samples is None or col not in ctx.samples.columns or not ctx.features:
        return []
    fi = ctx.features[0]
    view = fi.view
    samples = ctx.samples
    if ctx.aligned and len(samples) == view.n_obs:
        sex = pd.Series(samples[col].to_numpy(), index=view.obs_names)
    else:
        index = pd.Index(samples.index.astype(str))
        if not index.is_unique or not view.obs_names.isin(index).any():
            return []
        sex = samples[col].set_axis(index).reindex(view.obs_names)
    return check_sex_concordance(
        view,
        sex,
        gene_symbols=_gene_symbols_from_var(fi, view),
        name=fi.name,
        sex_name=ctx.samples_name,
        sex_col=col,
        chunk_size=cfg.chunk_size,
    )


def audit_alignment(ctx: AuditContext) -> list[Finding]:
    """Alignment between the feature matrices, the labels and the metadata."""
    tables = ctx.tables
    cfg = ctx.config
    out: list[Finding] = []
    key = cfg.id_col or next((t[2] for t in tables.values()), "sample_id")
    if ctx.features:
        for fi in ctx.features:
            for role in ("labels", "metadata"):
                if role in tables:
                    df, name, id_col = tables[role]
                    out += check_alignment(
                        fi.view.obs_names,
                        df[id_col],
                        left_name=fi.name,
                        right_name=name,
                        key=id_col,
                        label_col=cfg.label_col or "label",
                    )
        for other in ctx.features[1:]:
            first = ctx.features[0]
            out += [
                f
                for f in check_alignment(
                    first.view.obs_names,
                    other.view.obs_names,
                    left_name=first.name,
                    right_name=other.name,
                    key=key,
                )
                if f.check != KEY_DUPLICATES
            ]
    elif "labels" in tables and "metadata" in tables:
        mdf, mname, mid = tables["metadata"]
        ldf, lname, lid = tables["labels"]
        out += check_alignment(mdf[mid], ldf[lid], left_name=mname, right_name=lname, key=mid)
    if cfg.label_col is not None:
        source = next(
            (
                r
                for r in ("labels", "metadata")
                if r in tables and cfg.label_col in tables[r][0].columns
            ),
            None,
        )
        if source is not None:
            df, name, id_col = tables[source]
            y = pd.Series(df[cfg.label_col].to_numpy(), index=df[id_col], name=cfg.label_col)
            out += check_missing_labels(y, name=name, label_col=cfg.label_col)
        elif ctx.samples is not None and cfg.label_col in ctx.samples.columns:
            out += check_missing_labels(
                ctx.samples[cfg.label_col], name=ctx.samples_name, label_col=cfg.label_col
            )
    return out + audit_sex_concordance(ctx)
