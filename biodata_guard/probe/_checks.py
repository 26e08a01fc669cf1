"""The probe's verdicts: ``batch.predictable``, ``batch.split_predictable``, ``probe.summary``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from biodata_guard._format import GROUP_PLACEHOLDER, fraction, preview, subjects
from biodata_guard.errors import InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import as_matrix
from biodata_guard.probe._engine import _probe_targets, batch_probe
from biodata_guard.probe._inputs import _Options
from biodata_guard.probe._result import ProbeResult
from biodata_guard.registry import declare_check

#: What the probe checks of an audit read (the folds, alpha, seed and chunk size are shared).
_PARAMS = (
    "probe",
    "probe_components",
    "probe_permutations",
    "probe_max_samples",
    "probe_compile_cache",
    "n_folds",
    "alpha",
    "seed",
    "chunk_size",
)
PREDICTABLE = declare_check(
    "batch.predictable",
    group="probe",
    severities=("warning", "error"),
    needs=("probe", "features", "batch"),
    params=_PARAMS,
    doc="A linear probe on the features predicts the batch (permutation test), or predicts "
    "it better than the label.",
)
SPLIT_PREDICTABLE = declare_check(
    "batch.split_predictable",
    group="probe",
    severities=("warning", "error"),
    needs=("probe", "features", "split"),
    params=_PARAMS,
    doc="A linear probe on the features tells the splits apart (a distribution shift).",
)
SUMMARY = declare_check(
    "probe.summary",
    group="probe",
    severities=("info",),
    needs=("probe", "features"),
    params=_PARAMS,
    doc="What each probe (batch, label, split) measured, with its self-checks.",
)

#: The effect (balanced accuracy above chance as a share of the possible gain, 0..1) from
#: which a significant probe is a warning, and an error.
MIN_EFFECT = 0.1
ERROR_EFFECT = 0.5


def _verdict(
    res: ProbeResult, *, alpha: float, min_effect: float, error_effect: float, rival: float | None
) -> Severity | None:
    if res.p_value > alpha:
        return None
    if res.effect >= error_effect:
        return Severity.ERROR
    if res.effect >= min_effect or (rival is not None and res.effect > rival):
        return Severity.WARNING
    if _recognisable(res, error_effect):  # one batch of many can stand out on its own
        return Severity.WARNING
    return None


def _recognisable(res: ProbeResult, error_effect: float) -> dict[str, float]:
    """Classes recalled far above chance (recall effect >= ``error_effect``): a single batch
    that the features give away, even when the balanced accuracy over many batches is low."""
    gain = max(1e-12, 1.0 - res.chance)
    return {
        c: r
        for c, r in sorted(res.per_class_recall.items(), key=lambda kv: (-kv[1], kv[0]))
        if np.isfinite(r) and (r - res.chance) / gain >= error_effect
    }


def _probe_text(res: ProbeResult) -> str:
    directions = max(res.preprocessing.get("class_mean_directions_per_fold", [0]), default=0)
    inputs = f"{res.preprocessing.get('principal_axes', res.n_components)} principal components"
    if directions:
        inputs += f" and {directions} directions between class means"
    return (
        f"a linear probe on {inputs} reaches balanced accuracy "
        f"{res.balanced_accuracy:.3g} ± {res.balanced_accuracy_sd:.2g} over {res.n_folds} "
        f"{'grouped ' if res.grouped else ''}folds (chance {res.chance:.3g}, permutation "
        f"p = {res.p_value:.2g} with {res.n_permutations} permutations)"
    )


def _recall_text(res: ProbeResult) -> str:
    above = {c: r for c, r in res.per_class_recall.items() if r > res.chance}
    ranked = sorted(res.per_class_recall.items(), key=lambda kv: (-kv[1], kv[0]))
    return (
        f"{fraction(len(above), len(res.classes))} classes recalled above chance "
        f"({preview(f'{c} {r:.2f}' for c, r in ranked)})"
    )


def _samples_text(res: ProbeResult) -> str:
    eligible = res.preprocessing.get("rows_eligible", res.n_samples)
    if eligible <= res.n_samples:
        return f"{res.n_samples} samples"
    return (
        f"{res.n_samples} of {eligible} samples (a seeded sample, each class in proportion, "
        f"max_samples={res.preprocessing.get('max_samples')})"
    )


def _summary(res: ProbeResult, name: str, column: str, *, alpha: float) -> Finding:
    evidence = res.to_dict()
    floor = ""
    min_p = 1.0 / (1 + res.n_permutations)  # p when the observed beats every permutation
    if 0 < alpha < min_p:
        evidence["min_p_value"] = min_p
        needed = max(1, math.floor(1 / alpha) - 2)
        while 1.0 / (1 + needed) > alpha:
            needed += 1
        floor = (
            f"; with {res.n_permutations} permutations the smallest attainable p-value is "
            f"{min_p:.2g} > alpha {alpha:.2g}, so no result can be significant (use at least "
            f"{needed} permutations)"
        )
    return Finding(
        SUMMARY,
        Severity.INFO,
        f"{name}, {column}: {_probe_text(res)}; {_recall_text(res)}; "
        f"{_samples_text(res)}, self-checks "
        f"{'passed' if res.self_check.get('ok') else 'FAILED'}{floor}",
        evidence=evidence,
        subjects=subjects(t["feature"] for t in res.top_features),
        hint="Read balanced_accuracy against chance and the null; top_features are the "
        "features that carry the signal.",
        input=name,
    )


def _predictable(
    res: ProbeResult,
    *,
    check: str,
    name: str,
    column: str,
    alpha: float,
    min_effect: float,
    error_effect: float,
    rival: ProbeResult | None = None,
    rival_col: str = "label",
    group_hint: str = GROUP_PLACEHOLDER,
) -> list[Finding]:
    """``check`` (``batch.predictable`` or ``batch.split_predictable``) when the verdict on
    ``res`` (with the label probe ``rival`` to compare with) is a warning or an error."""
    severity = _verdict(
        res,
        alpha=alpha,
        min_effect=min_effect,
        error_effect=error_effect,
        rival=None if rival is None else rival.effect,
    )
    if severity is None:
        return []
    evidence = res.to_dict()
    evidence.update({"alpha": alpha, "min_effect": min_effect, "error_effect": error_effect})
    standing_out = _recognisable(res, error_effect)
    evidence["recognisable_classes"] = standing_out
    more = ""
    if standing_out and res.effect < min_effect:
        more = (
            f"; {fraction(len(standing_out), len(res.classes))} {column} values are recognised "
            f"on their own ({preview(f'{c} recall {r:.2f}' for c, r in standing_out.items())})"
        )
    if rival is not None:
        evidence.update(_rival_evidence(res, rival, rival_col))
        more += _rival_text(res, rival, rival_col)
    genes = preview(t["feature"] for t in res.top_features)
    what, hint = _what_and_hint(res, check=check, column=column, group_hint=group_hint)
    return [
        Finding(
            check,
            severity,
            f"{name}, {column}: {what}; {_recall_text(res)}{more}; driven by {genes or 'n/a'}",
            evidence=evidence,
            subjects=subjects(t["feature"] for t in res.top_features),
            hint=hint,
            input=name,
        )
    ]


def _rival_evidence(res: ProbeResult, rival: ProbeResult, rival_col: str) -> dict[str, Any]:
    return {
        f"{rival_col}_balanced_accuracy": rival.balanced_accuracy,
        f"{rival_col}_chance": rival.chance,
        f"{rival_col}_effect": rival.effect,
        f"{rival_col}_p_value": rival.p_value,
        "more_predictable_than_label": res.effect > rival.effect,
    }


def _rival_text(res: ProbeResult, rival: ProbeResult, rival_col: str) -> str:
    if res.effect <= rival.effect:
        return ""
    return (
        f"; the batch is more predictable than {rival_col} (effect {res.effect:.2f} vs "
        f"{rival.effect:.2f}: balanced accuracy {res.balanced_accuracy:.2f} vs "
        f"{rival.balanced_accuracy:.2f}, chance {res.chance:.2f} vs {rival.chance:.2f})"
    )


def _what_and_hint(
    res: ProbeResult, *, check: str, column: str, group_hint: str
) -> tuple[str, str]:
    if check == SPLIT_PREDICTABLE:
        what = f"the splits are told apart from the features: {_probe_text(res)}"
        hint = (
            "Train and test differ in distribution: check how they were collected (batch, "
            "site, date) and re-split at random within strata, e.g. "
            f"sklearn.model_selection.StratifiedGroupKFold(groups={group_hint}) or "
            "biodata_guard.split.group_split; the top_features show what differs."
        )
        return what, hint
    what = f"the features give the batch away: {_probe_text(res)}"
    hint = (
        f"Correct the batch effect before training (scanpy.pp.combat(adata, "
        f"key={column!r}), harmonypy.run_harmony(pcs, meta, {column!r}) or scvi-tools), "
        "or model it as a covariate; evaluate with "
        f"sklearn.model_selection.StratifiedGroupKFold(groups={column}) so a score cannot "
        "ride on the batch; the top_features carry the batch signal."
    )
    return what, hint


def check_batch_probe(
    X: Any,
    batch: Any,
    *,
    labels: Any = None,
    groups: Any = None,
    name: str | None = None,
    batch_col: str = "batch",
    label_col: str = "label",
    alpha: float = 0.01,
    min_effect: float = MIN_EFFECT,
    error_effect: float = ERROR_EFFECT,
    **probe_options: Any,
) -> list[Finding]:
    """Can the features predict the batch? ``batch.predictable`` plus ``probe.summary`` (info).

    Flagged when the permutation p-value is at most ``alpha`` and the effect (balanced
    accuracy above chance as a share of the possible gain, 0..1) reaches ``min_effect`` - or,
    with ``labels``, exceeds the label's own effect (the batch is more predictable than the
    label: a model may learn the batch). An error from ``error_effect``, else a warning. The
    probe options (``n_components``, ``folds``, ``n_permutations``, ``seed`` ...) are those of
    :func:`batch_probe`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> batch = np.repeat(["run1", "run2"], 100)
    >>> X = rng.poisson(5, (200, 300)).astype(float)
    >>> X[batch == "run2", :30] *= 3
    >>> [(f.check, str(f.severity)) for f in check_batch_probe(X, batch, n_components=10)]
    [('probe.summary', 'info'), ('batch.predictable', 'error')]
    """
    layer = probe_options.pop("layer", None)
    view = as_matrix(X, layer=layer, name=name)  # for the name; batch_probe reads the data
    targets = [(batch, batch_col)] + ([(labels, label_col)] if labels is not None else [])
    opts = _Options(**probe_options)
    probed = _probe_targets(X, targets, groups=groups, layer=layer, name=view.name, opts=opts)
    for outcome in probed:  # the batch and the label probes share their passes
        if isinstance(outcome, InputError):
            raise outcome
    res, rival = probed[0], probed[1] if labels is not None else None
    out = [_summary(res, view.name, batch_col, alpha=alpha)]
    if rival is not None:
        out.append(_summary(rival, view.name, label_col, alpha=alpha))
    return [
        *out,
        *_predictable(
            res,
            check=PREDICTABLE,
            name=view.name,
            column=batch_col,
            alpha=alpha,
            min_effect=min_effect,
            error_effect=error_effect,
            rival=rival,
            rival_col=label_col,
        ),
    ]


def check_split_probe(
    X: Any,
    splits: Any,
    *,
    groups: Any = None,
    name: str | None = None,
    split_col: str = "split",
    alpha: float = 0.01,
    min_effect: float = MIN_EFFECT,
    error_effect: float = ERROR_EFFECT,
    **probe_options: Any,
) -> list[Finding]:
    """Can the features tell train from test? ``batch.split_predictable`` plus ``probe.summary``.

    The same probe as :func:`check_batch_probe` on split membership: a significant effect means
    the splits differ in distribution (a site, run or date shift), so test scores will not
    carry over. Same thresholds.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> split = np.where(np.arange(200) < 150, "train", "test")
    >>> X = rng.poisson(5, (200, 300)).astype(float)
    >>> X[split == "test", :40] *= 4  # the test samples come from another site
    >>> [f.check for f in check_split_probe(X, split, n_components=10)]
    ['probe.summary', 'batch.split_predictable']
    """
    layer = probe_options.pop("layer", None)
    view = as_matrix(X, layer=layer, name=name)  # for the name; batch_probe reads the data
    res = batch_probe(
        X,
        splits,
        groups=groups,
        layer=layer,
        name=view.name,
        target_name=split_col,
        **probe_options,
    )
    return [
        _summary(res, view.name, split_col, alpha=alpha),
        *_predictable(
            res,
            check=SPLIT_PREDICTABLE,
            name=view.name,
            column=split_col,
            alpha=alpha,
            min_effect=min_effect,
            error_effect=error_effect,
        ),
    ]
