"""Per-sample sex calls from XIST / chrY expression with thresholds taken from GTEx v8.

Each chrY gene g is compared with XIST in the same sample: ``c_g = log(y_g + prior) -
log(XIST + prior)`` on values relative to the library size (log counts per million), so the
sample's depth and any per-sample scaling cancel. ``c_g`` is centred on the gene's GTEx v8
midpoint (:data:`GTEX_MIDPOINTS`: halfway between the male and the female median of ``c_g``
over 17,382 GTEx v8 samples of 54 tissues), and the sample's score is the mean over the chrY
genes present. In GTEx v8 the score of every male lies at or above +0.27 and of every female
at or below +0.03, whichever of the five genes are used; the medians are +6.4 (male) and -6.4
(female). A sample is called ``female`` at or below ``-ATLAS_THRESHOLD`` (2.5) and ``male`` at
or above ``+ATLAS_THRESHOLD``: no GTEx v8 sample is called the other sex, 53 of 5,798 females
and 22 of 11,584 males fall in between (uncertain, never reported). ``tools/
derive_sex_thresholds.py`` recomputes these figures from the table (provenance:
``biodata_guard/data/PROVENANCE.md``, section "Sex-call thresholds").

Values that are not read counts may be length-normalised (TPM, FPKM): that moves every
``c_g`` up by ``log(length(XIST) / length(g))``, at most :data:`LENGTH_SHIFT` (XIST's ~19 kb
transcript against RPS4Y1's ~0.9 kb; the union-exon lengths shipped for the units check give
2.46) and never down (XIST is the longest of the six). For
them the male call needs ``ATLAS_THRESHOLD + LENGTH_SHIFT``; a female call stays at
``-ATLAS_THRESHOLD`` (a shift only moves females towards uncertain).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

#: Per chrY gene: the GTEx v8 midpoint of log((y + 2) / (XIST + 2)) between the male median
#: and the female median (read counts, natural log).
GTEX_MIDPOINTS: Mapping[str, float] = MappingProxyType(
    {"RPS4Y1": -0.19, "DDX3Y": -0.72, "KDM5D": -0.81, "UTY": -1.94, "EIF1AY": -1.95}
)
#: Distance from 0 of the centred score at which a sample is called (see the module docstring).
ATLAS_THRESHOLD = 2.5
#: Largest upward shift of a centred score in length-normalised units: log(19.3 kb / 0.9 kb).
LENGTH_SHIFT = 3.1
#: Prior added to counts (as edgeR's ``cpm(log=TRUE)``), and to other values per million
#: (2 counts of a 20-million-read library).
PRIOR_COUNT = 2.0
PRIOR_PER_MILLION = 0.1


@dataclass(frozen=True)
class AtlasCalls:
    """Centred per-sample scores (NaN: not scored) and the bounds of the two calls."""

    score: np.ndarray
    female_at_most: float
    male_at_least: float

    def calls(self, index: pd.Index) -> pd.Series:
        """``"female"`` / ``"male"`` / ``"uncertain"`` / ``<NA>`` (not scored) per sample."""
        call = np.full(len(self.score), "uncertain", dtype=object)
        call[self.score <= self.female_at_most] = "female"
        call[self.score >= self.male_at_least] = "male"
        call[~np.isfinite(self.score)] = None
        return pd.Series(call, index=index).astype("string")

    @property
    def n_clear(self) -> int:
        s = self.score[np.isfinite(self.score)]
        return int(((s <= self.female_at_most) | (s >= self.male_at_least)).sum())


def atlas_scores(
    per_gene: Mapping[str, np.ndarray], totals: np.ndarray, *, counts: bool
) -> AtlasCalls | None:
    """Centred scores from each gene's values (``per_gene``: symbol -> values per sample) and
    the per-sample totals; None without XIST or without any chrY gene.

    Examples
    --------
    >>> genes = {"XIST": np.array([0.0, 4000.0]), "RPS4Y1": np.array([5000.0, 1.0])}
    >>> res = atlas_scores(genes, np.array([2e7, 2e7]), counts=True)
    >>> np.round(res.score, 2).tolist(), res.calls(pd.Index(["a", "b"])).tolist()
    ([8.01, -7.01], ['male', 'female'])
    """
    ys = [g for g in GTEX_MIDPOINTS if g in per_gene]
    if "XIST" not in per_gene or not ys:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(totals > 0, 1e6 / totals, np.nan)
        prior = PRIOR_COUNT * scale if counts else np.full(len(totals), PRIOR_PER_MILLION)

        def log_level(values: np.ndarray) -> np.ndarray:
            return np.log(values * scale + prior)

        xist = log_level(per_gene["XIST"])
        centred = [log_level(per_gene[g]) - xist - GTEX_MIDPOINTS[g] for g in ys]
    score = np.mean(np.column_stack(centred), axis=1)
    shift = 0.0 if counts else LENGTH_SHIFT
    return AtlasCalls(score, -ATLAS_THRESHOLD, ATLAS_THRESHOLD + shift)


def atlas_note(calls: AtlasCalls) -> str:
    """How the calls were made, for messages and evidence."""
    shifted = not math.isclose(calls.male_at_least, ATLAS_THRESHOLD)
    return (
        f"per-sample GTEx v8 thresholds (female <= {calls.female_at_most:g}, male >= "
        f"{calls.male_at_least:g}{' allowing for length-normalised values' if shifted else ''})"
    )
