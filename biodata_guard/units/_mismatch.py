"""``units.mismatch`` between inputs: every pair of feature inputs in different units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from biodata_guard.errors import ConfigError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS
from biodata_guard.registry import declare_check
from biodata_guard.units._call import _CANDIDATES, _SUM_RTOL, UnitsCall, _g
from biodata_guard.units._detect import detect_units
from biodata_guard.units._hints import _pair_hint

MISMATCH = declare_check(
    "units.mismatch",
    group="units",
    severities=("warning", "error"),
    needs=("features",),
    doc="Feature inputs in different units, or an AnnData matrix that is not a per-sample "
    "transform of its counts layer.",
)


def _calls_compatible(a: UnitsCall, b: UnitsCall) -> bool:
    if a.units == "unknown" or b.units == "unknown":
        return True  # cannot tell: no mismatch claimed
    if (a.units == "log") != (b.units == "log"):
        return False
    if a.units == "log":
        if a.log_base and b.log_base:
            same_log = a.log_base == b.log_base and _g(a.pseudocount or 1) == _g(b.pseudocount or 1)
            if not same_log:
                return False
        if a.log_of is None or b.log_of is None:
            return True
        ca, cb = set(_CANDIDATES.get(a.log_of, ())), set(_CANDIDATES.get(b.log_of, ()))
        inner_a, inner_b = a.log_of, b.log_of
    else:
        ca, cb = set(a.candidates), set(b.candidates)
        inner_a, inner_b = a.units, b.units
    if not ca & cb:
        return False
    if inner_a == inner_b == "normalized":
        ta, tb = a.evidence.get("target_sum"), b.evidence.get("target_sum")
        const = all((c.evidence.get("linear_sum_spread") or 1) <= _SUM_RTOL for c in (a, b))
        if const and ta and tb and abs(ta / tb - 1) > 0.01:
            return False
    return True


def _mismatch_findings(calls: Sequence[UnitsCall]) -> list[Finding]:
    """One ``units.mismatch`` per pair of calls whose units cannot be the same."""
    return [
        _mismatch_finding(a, b)
        for i, a in enumerate(calls)
        for b in calls[i + 1 :]
        if not _calls_compatible(a, b)
    ]


def _mismatch_finding(a: UnitsCall, b: UnitsCall) -> Finding:
    return Finding(
        MISMATCH,
        Severity.ERROR,
        f"{b.name} vs {a.name}: {a.name} holds {a.label} but {b.name} holds {b.label} ({b.reason})",
        evidence={
            "inputs": [a.name, b.name],
            "units": {a.name: a.units, b.name: b.units},
            "labels": {a.name: a.label, b.name: b.label},
            "confidence": {a.name: a.confidence, b.name: b.confidence},
            "target_sums": {
                a.name: a.evidence.get("target_sum"),
                b.name: b.evidence.get("target_sum"),
            },
        },
        subjects=[a.name, b.name],
        hint=_pair_hint(a, b),
        input=b.name,
    )


def check_units_mismatch(
    inputs: Mapping[str, Any] | Sequence[UnitsCall],
    *,
    gene_lengths: pd.Series | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
) -> list[Finding]:
    """``units.mismatch`` (error) for every pair of feature inputs in different units.

    Inputs whose units are unknown are not compared; ambiguity (``cpm_or_tpm`` vs ``tpm``)
    is not a mismatch; log transforms must agree in base and pseudocount; library-size
    normalised inputs must share the target sum.

    Parameters
    ----------
    inputs
        ``{name: matrix or UnitsCall}``, or a sequence of :class:`UnitsCall`.

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.random.default_rng(0).poisson(20, (20, 100))
    >>> cpm = counts / counts.sum(1, keepdims=True) * 1e6
    >>> [f.check for f in check_units_mismatch({"cohort_a": counts, "cohort_b": cpm})]
    ['units.mismatch']
    """
    if isinstance(inputs, Mapping):
        calls = [
            x
            if isinstance(x, UnitsCall)
            else detect_units(x, gene_lengths=gene_lengths, chunk_size=chunk_size, name=str(k))
            for k, x in inputs.items()
        ]
    else:
        calls = list(inputs)
        if not all(isinstance(c, UnitsCall) for c in calls):
            raise ConfigError(
                "inputs must be a mapping {name: matrix} or a sequence of UnitsCall; got "
                f"{[type(c).__name__ for c in calls][:3]} instead",
                key="inputs",
                hint="Pass {'cohort_a': X_a, 'cohort_b': X_b}.",
            )
    return _mismatch_findings(calls)
