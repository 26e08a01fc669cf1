"""alignment.sex_discordance: the reported sex against the sex the expression shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import AuditContext, FeatureInput
from biodata_guard._format import MAX_SUBJECTS, fraction, preview, subjects
from biodata_guard.alignment._sex_inference import (
    GENE_ID_COLUMNS,
    MAX_Z,
    MIN_CLEAR_SAMPLES,
    MIN_SAMPLES,
    MIN_SEPARATION,
    SEX_GENES,
    SexColumns,
    SexInference,
    columns_of,
    infer_sex,
    match_sex_genes,
    normalise_sex,
    sex_columns_key,
    sex_gene_columns,
)
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, MatrixView, as_matrix
from biodata_guard.registry import declare_check

SEX_DISCORDANCE = declare_check(
    "alignment.sex_discordance",
    group="alignment",
    severities=("error", "warning"),
    needs=("sex", "features"),
    doc="Reported sex contradicts XIST / chrY expression (swapped samples, broken merge).",
)

#: Reported samples of each sex below which a unimodal expression is no surprise.
MIN_PER_SEX = 3


@dataclass(frozen=True, eq=False)
class SexComparison:
    """The reported sex (normalised, one entry per matrix row) against the inferred sex.

    ``discordant`` and ``uncertain`` are sample ids; they are empty unless the inference's
    status is ``"ok"``, and ``n_compared`` (confident calls with a known reported sex) is 0.
    """

    inference: SexInference
    reported: pd.Series
    inferred: pd.Series
    n_samples: int
    n_features: int
    n_reported_female: int
    n_reported_male: int
    n_reported_unknown: int
    n_compared: int
    discordant: pd.Index
    uncertain: pd.Index


def compare_sex(
    res: SexInference, reported: pd.Series, obs_names: pd.Index, n_features: int
) -> SexComparison:
    """Compare the normalised reported sex (aligned to ``obs_names``) with ``res``."""
    inferred = res.inferred.reindex(obs_names)
    known = reported.notna().to_numpy(dtype=bool)
    discordant = uncertain = obs_names[:0]
    n_compared = 0
    if res.status == "ok":
        confident = inferred.isin(["female", "male"]).to_numpy(dtype=bool)
        compared = confident & known
        differs = reported.to_numpy(dtype=object, na_value=None) != inferred.to_numpy(
            dtype=object, na_value=None
        )
        discordant = obs_names[compared & differs]
        n_compared = int(compared.sum())
        uncertain = obs_names[(inferred == "uncertain").to_numpy(dtype=bool, na_value=False)]
    return SexComparison(
        inference=res,
        reported=reported,
        inferred=inferred,
        n_samples=len(obs_names),
        n_features=n_features,
        n_reported_female=int((reported == "female").sum()),
        n_reported_male=int((reported == "male").sum()),
        n_reported_unknown=int((~known).sum()),
        n_compared=n_compared,
        discordant=discordant,
        uncertain=uncertain,
    )


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


def _weak_signal(res: SexInference, label: str, min_separation: float) -> str:
    """Why the expression gives no calls (status ``weak_signal``), with the numbers."""
    genes = ", ".join(res.genes)
    if res.method == "atlas":
        n_scored = int(np.isfinite(res.score.to_numpy(dtype=np.float64)).sum())
        return (
            f"{res.n_clear} of {n_scored} samples of {label} have a clear {genes} call "
            f"(GTEx v8 thresholds: centred chrY-vs-XIST score <= {res.female_at_most:g} or >= "
            f"{res.male_at_least:g}), needs >= {res.min_samples}"
        )
    return (
        f"{genes} expression in {label} does not split into two sex clusters (separation "
        f"{res.separation:.3g} < {min_separation:.3g} robust SDs)"
    )


def _unverifiable_finding(
    c: SexComparison, where: str, label: str, min_separation: float, sex_name: str
) -> Finding:
    res = c.inference
    return Finding(
        SEX_DISCORDANCE,
        Severity.WARNING,
        f"{where}: the reported sex ({c.n_reported_female} female, {c.n_reported_male} male) "
        f"cannot be verified: {_weak_signal(res, label, min_separation)}",
        evidence={
            **res.evidence(),
            "min_separation": min_separation,
            "n_reported_female": c.n_reported_female,
            "n_reported_male": c.n_reported_male,
        },
        hint="Check that the sex genes are expressed and not filtered out, and that "
        "the matrix rows are samples; biodata_guard.alignment.infer_sex(X).score shows "
        "the per-sample scores.",
        input=sex_name,
    )


def _discordance_finding(c: SexComparison, where: str, label: str, sex_name: str) -> Finding:
    res, ids, n_bad = c.inference, c.discordant, len(c.discordant)
    shown = ids[:MAX_SUBJECTS]
    pretty = [f"{i} (reported {c.reported[i]}, expression {c.inferred[i]})" for i in ids[:5]]
    coding = (
        " Most samples disagree: the column is probably coded the other way round "
        "(PLINK: 1 = male, 2 = female)."
        if n_bad > c.n_compared / 2
        else ""
    )
    return Finding(
        SEX_DISCORDANCE,
        Severity.ERROR,
        f"{where}: {fraction(n_bad, c.n_compared)} samples' reported sex contradicts "
        f"{', '.join(res.genes)} expression in {label} ({preview(pretty, total=n_bad)}); "
        "swapped samples or a broken merge",
        evidence={
            "n_discordant": n_bad,
            "n_compared": c.n_compared,
            "n_samples": c.n_samples,
            "n_uncertain": len(c.uncertain),
            "n_reported_unknown": c.n_reported_unknown,
            "n_reported_female": c.n_reported_female,
            "n_reported_male": c.n_reported_male,
            **res.evidence(),
            "scores": {i: float(res.score[i]) for i in shown},
            "reported": {i: str(c.reported[i]) for i in shown},
            "inferred": {i: str(c.inferred[i]) for i in shown},
            "uncertain_samples": subjects(c.uncertain),
        },
        subjects=subjects(ids),
        hint="Trace these samples back through the sample sheet and every merge "
        "(biodata_guard.alignment.audited_merge shows what a merge did); fix the swapped "
        "rows or drop them." + coding,
        input=sex_name,
    )


def _concordance_findings(
    c: SexComparison,
    *,
    label: str,
    sex_name: str,
    sex_col: str,
    min_separation: float,
    min_per_sex: int,
) -> list[Finding]:
    where = f"{sex_name}, {sex_col}"
    status = c.inference.status
    if status == "weak_signal" and min(c.n_reported_female, c.n_reported_male) >= min_per_sex:
        return [_unverifiable_finding(c, where, label, min_separation, sex_name)]
    if status != "ok" or not len(c.discordant):
        return []
    return [_discordance_finding(c, where, label, sex_name)]


def _not_checked_reason(
    c: SexComparison, *, label: str, min_separation: float, min_per_sex: int
) -> tuple[str, dict[str, Any]] | None:
    """Why :func:`_concordance_findings` compared nothing (with the figures), or None when it
    did (an empty result is then concordance)."""
    res = c.inference
    n_scored = int(np.isfinite(res.score.to_numpy(dtype=np.float64)).sum())
    figures: dict[str, Any] = {"status": res.status, "n_samples": c.n_samples}
    if res.status == "genes_absent":
        return (
            f"none of the sex genes ({', '.join(SEX_GENES)}) is among the {c.n_features} "
            f"columns of {label}",
            {**figures, "n_features": c.n_features},
        )
    if res.status == "too_few_samples":
        need = res.min_samples
        return (
            f"{n_scored} of {c.n_samples} samples of {label} have a sex-gene score, "
            f"needs >= {need}",
            {**figures, "n_scored": n_scored, "min_samples": need, "method": res.method},
        )
    sexes = {"n_reported_female": c.n_reported_female, "n_reported_male": c.n_reported_male}
    if res.status == "weak_signal":
        return (
            f"{_weak_signal(res, label, min_separation)} and the reported sex "
            f"({c.n_reported_female} female, {c.n_reported_male} male) has fewer than "
            f"{min_per_sex} samples of one sex, as a single-sex cohort would",
            {**figures, **sexes, **res.evidence(), "min_per_sex": min_per_sex},
        )
    if c.n_compared == 0:
        return (
            f"no sample has both a recognised reported sex and a confident call "
            f"({c.n_reported_unknown} of {c.n_samples} reported values unrecognised, "
            f"{len(c.uncertain)} calls uncertain)",
            {**figures, **sexes, "n_reported_unknown": c.n_reported_unknown},
        )
    return None


def _compare(
    view: MatrixView,
    sex: Any,
    *,
    gene_symbols: Any,
    sex_name: str,
    sex_col: str,
    chunk_size: int,
    min_clear_samples: int,
    min_samples: int,
    min_separation: float,
    max_z: float,
    result: SexInference | None,
) -> SexComparison:
    res = result or infer_sex(
        view,
        gene_symbols=gene_symbols,
        chunk_size=chunk_size,
        min_clear_samples=min_clear_samples,
        min_samples=min_samples,
        min_separation=min_separation,
        max_z=max_z,
    )
    reported = normalise_sex(_align_to(sex, view.obs_names, sex_name, sex_col))
    return compare_sex(res, reported, view.obs_names, view.n_vars)


def check_sex_concordance(
    X: Any,
    sex: Any,
    *,
    gene_symbols: Any = None,
    name: str | None = None,
    sex_name: str = "metadata",
    sex_col: str = "sex",
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    min_clear_samples: int = MIN_CLEAR_SAMPLES,
    min_samples: int = MIN_SAMPLES,
    min_separation: float = MIN_SEPARATION,
    max_z: float = MAX_Z,
    min_per_sex: int = MIN_PER_SEX,
    result: SexInference | None = None,
) -> list[Finding]:
    """Compare the reported sex with the sex inferred from XIST / chrY expression.

    ``alignment.sex_discordance`` (error) lists the samples whose reported sex (normalised by
    :func:`normalise_sex`; unknown values are skipped) contradicts a confident call of
    :func:`infer_sex` — the classic sign of swapped samples or a broken merge. Each sample is
    called from its own expression when the values allow it (counts or linear-scale values
    with XIST and a chrY gene: GTEx v8 thresholds), so a cohort of ``min_clear_samples`` (4)
    samples with a clear call is checked; otherwise (log or scaled values, shallow libraries)
    the cohort's scores are split into two clusters, which needs ``min_samples`` (10). The
    evidence holds each listed sample's score, reported and inferred sex; uncertain calls are
    counted but never reported as discordant.

    When the expression gives no calls although the reported sex holds at least
    ``min_per_sex`` samples of each sex, the check returns one ``alignment.sex_discordance``
    *warning* saying that the reported sex cannot be verified, and why. It returns ``[]`` when
    none of the six genes is in the matrix, with too few scored samples, and for a weak signal
    in a (reported) single-sex cohort: an absent finding then means "not checked", never
    "concordant" (:func:`infer_sex` gives the status; the audit reports these cases as
    ``not checked`` info findings).

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
    >>> rng = np.random.default_rng(1)
    >>> ids = [f"s{i}" for i in range(30)]
    >>> male = pd.Series(np.arange(30) % 3 == 0, index=ids)
    >>> X = pd.DataFrame({"XIST": rng.poisson(np.where(male, 2, 250)),
    ...                   "DDX3Y": rng.poisson(np.where(male, 150, 1)),
    ...                   "ACTB": rng.poisson(800, 30)}, index=ids)
    >>> reported = male.map({True: "M", False: "F"})
    >>> reported["s0"] = "F"  # swapped
    >>> (f,) = check_sex_concordance(X, reported)
    >>> f.check, str(f.severity), f.subjects
    ('alignment.sex_discordance', 'error', ['s0'])
    """
    view = as_matrix(X, name=name)
    c = _compare(
        view,
        sex,
        gene_symbols=gene_symbols,
        sex_name=sex_name,
        sex_col=sex_col,
        chunk_size=chunk_size,
        min_clear_samples=min_clear_samples,
        min_samples=min_samples,
        min_separation=min_separation,
        max_z=max_z,
        result=result,
    )
    return _concordance_findings(
        c,
        label=name or view.name,
        sex_name=sex_name,
        sex_col=sex_col,
        min_separation=min_separation,
        min_per_sex=min_per_sex,
    )


def _gene_symbols_from_var(fi: FeatureInput, view: MatrixView) -> Any:
    """A ``.var`` column of an AnnData input holding symbols / Ensembl ids, when the matrix
    column names match no sex gene."""
    adata = fi.adata
    if adata is None or match_sex_genes(view.var_names):
        return None
    var = adata.var
    if adata.raw is not None and len(var) != view.n_vars and len(adata.raw.var) == view.n_vars:
        var = adata.raw.var
    if len(var) != view.n_vars:
        return None
    for col in GENE_ID_COLUMNS:
        if col in var.columns and match_sex_genes(var[col].astype(str)):
            return var[col].astype(str).to_numpy()
    return None


def stream_accumulators(ctx: AuditContext, fi: FeatureInput) -> dict[Any, Any]:
    """The sex-gene columns :func:`audit_sex_concordance` reads, for the audit's shared pass."""
    cfg = ctx.config
    if not cfg.sex_col or not ctx.features or fi is not ctx.features[0]:
        return {}
    try:
        found = sex_gene_columns(fi.view, _gene_symbols_from_var(fi, fi.view))
    except InputError:
        return {}  # the check reports it itself
    if not found:
        return {}
    cols = columns_of(found)
    return {sex_columns_key(cols): SexColumns(fi.view.n_obs, cols)}


def _reported_sex(
    samples: pd.DataFrame, col: str, view: MatrixView, *, aligned: bool
) -> pd.Series | str:
    """The sex column aligned to the matrix rows, or why it cannot be."""
    if aligned and len(samples) == view.n_obs:
        return pd.Series(samples[col].to_numpy(), index=view.obs_names)
    index = pd.Index(samples.index.astype(str))
    if not index.is_unique:
        n_dup = int(index.duplicated(keep=False).sum())
        return f"{n_dup} rows share a sample id, so '{col}' cannot be matched to the matrix rows"
    if not view.obs_names.isin(index).any():
        return f"none of the {view.n_obs} matrix rows has a sample id among the {len(index)} rows"
    return samples[col].set_axis(index).reindex(view.obs_names)


def audit_sex_concordance(ctx: AuditContext) -> list[Finding]:
    """Sex concordance for what the audit configures.

    Reads ``sex_col`` (nothing to do without it: the audit reports the missing need) from
    ``ctx.samples``, the first feature matrix ``ctx.features[0].view`` (only its sex-gene
    columns are kept) and, for an AnnData input whose var_names are neither symbols nor Ensembl
    ids, a ``.var`` column of :data:`GENE_ID_COLUMNS`. Writes nothing to ``ctx.artifacts``.
    When the check cannot compare anything (sample ids that do not match, sex genes absent, too
    few samples, a single-sex cohort without two clusters, no recognised reported sex) it
    returns one ``not checked`` info finding saying why.
    """
    cfg = ctx.config
    col = cfg.sex_col
    if col is None or ctx.samples is None or col not in ctx.samples.columns or not ctx.features:
        return []
    fi = ctx.features[0]
    view = fi.view
    where = f"{ctx.samples_name} vs {fi.name}"
    sex = _reported_sex(ctx.samples, col, view, aligned=ctx.aligned)
    if isinstance(sex, str):
        return [not_checked(SEX_DISCORDANCE, f"{where}: {sex}", input=ctx.samples_name)]
    c = _compare(
        view,
        sex,
        gene_symbols=_gene_symbols_from_var(fi, view),
        sex_name=ctx.samples_name,
        sex_col=col,
        chunk_size=cfg.chunk_size,
        min_clear_samples=MIN_CLEAR_SAMPLES,
        min_samples=MIN_SAMPLES,
        min_separation=MIN_SEPARATION,
        max_z=MAX_Z,
        result=None,
    )
    limits = {"min_separation": MIN_SEPARATION, "min_per_sex": MIN_PER_SEX}
    found = _concordance_findings(
        c, label=fi.name, sex_name=ctx.samples_name, sex_col=col, **limits
    )
    if found:
        return found
    why = _not_checked_reason(c, label=fi.name, **limits)
    if why is None:
        return []
    reason, figures = why
    return [not_checked(SEX_DISCORDANCE, reason, input=ctx.samples_name, **figures)]
