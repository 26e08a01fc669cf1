"""Build detection: every signal measured as a likelihood, combined into one posterior and a
:class:`BuildCall` with a stated false-call rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from biodata_guard._format import preview
from biodata_guard.build._evidence import (
    FALSE_CALL_RATE,
    LEANING,
    OTHER,
    Posterior,
    fmt_p,
    log10_lr,
    posterior,
)
from biodata_guard.build._header import _header_signal
from biodata_guard.build._inputs import CoordLike, _as_coords, _coordinate_sets, _prepare, _Prepared
from biodata_guard.build._reference import BUILDS, _display, _markers
from biodata_guard.build._signal import _Signal
from biodata_guard.build._signals import (
    _chrom_ends_signal,
    _gene_signal,
    _marker_position_signal,
    _marker_rsid_signal,
    _panel_rows,
    _tss_signal,
)
from biodata_guard.errors import ConfigError
from biodata_guard.registry import Interval, declare_param

#: The value of :attr:`BuildCall.build` when the evidence does not decide.
UNDETERMINED_BUILD = "undetermined"
# How an undetermined call's reason starts (the finding's hint depends on it).
_WHY_NONE = "no signal applies"
_WHY_INCONCLUSIVE = "no signal is conclusive"
_WHY_DISAGREE = "the signals disagree"
_WHY_NEITHER = "the data fit neither build"
_WHY_WEAK = "the evidence is too weak"
_WHY_RSIDS = "the input holds rsIDs only"
_CONTRIBUTES = 1.0  # a signal is named in the reason when |log10 LR| reaches this

declare_param(
    "build_false_call_rate",
    FALSE_CALL_RATE,
    kind="float",
    help="Genome build: call a build only when its posterior probability is at least 1 minus "
    "this (the false-call rate the calls are held to; default 0.001).",
    valid=Interval(float, 0, 0.5, closed="neither"),
    section="thresholds",
    key="build_false_call_rate",
)


@dataclass(frozen=True)
class BuildCall:
    """The genome build of one input (one coordinate set), with the evidence of every signal.

    Attributes
    ----------
    name
        The input's name (``"file [chrom/pos]"`` for one of several coordinate sets).
    build
        ``"GRCh37"``, ``"GRCh38"`` or ``"undetermined"``.
    confidence
        Posterior probability of ``build`` (0 when undetermined).
    reason
        One sentence: what decided the call, or why nothing did.
    evidence
        Per signal (:data:`SIGNALS`): ``available``, ``vote`` (the hypothesis it decides on its
        own), ``log10_lr`` (GRCh37 over GRCh38), ``loglik`` per hypothesis, ``scores``
        (``{"GRCh37": s, "GRCh38": s}``, the signal's own two-way posterior), ``summary`` and
        the counts behind them.
    leaning
        When undetermined: the build (or ``"other"``) whose posterior reaches 0.75, else None.
    n_rows
        Rows of the input.
    posterior
        ``{"GRCh37": p, "GRCh38": p, "other": p}`` (other: NCBI36, T2T-CHM13, mouse).
    best_fit
        The other assembly that fits best, when the data point away from GRCh37 / GRCh38.
    columns
        The coordinate columns the call is about (``chr_name/chr_position``).
    stated_build
        What the header states, when it states one assembly.
    stale_header
        The header states another build than the one the coordinates decide on their own.
    false_call_rate
        The decision rule: a build is called when its posterior is at least 1 - this.
    """

    name: str
    build: str
    confidence: float
    reason: str
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    leaning: str | None = None
    n_rows: int = 0
    posterior: dict[str, float] = field(default_factory=dict)
    best_fit: str | None = None
    columns: str = ""
    stated_build: str | None = None
    stale_header: bool = False
    false_call_rate: float = FALSE_CALL_RATE

    @property
    def determined(self) -> bool:
        return self.build in BUILDS

    @property
    def voters(self) -> list[str]:
        """The signals that decide a build (or "neither") on their own."""
        return [s for s, e in self.evidence.items() if e.get("vote")]

    def scores(self) -> dict[str, dict[str, float]]:
        """``{signal: {"GRCh37": score, "GRCh38": score}}`` for the signals that had data."""
        return {s: dict(e["scores"]) for s, e in self.evidence.items() if e.get("available")}


def _signals(p: _Prepared, *, tss_window: int, max_intervals: int, seed: int) -> list[_Signal]:
    idx = _panel_rows(p)
    genes = _gene_signal(p)
    genes_used = bool(genes.detail.get("n_panel_genes"))
    return [
        _header_signal(p),
        _chrom_ends_signal(p),
        _marker_rsid_signal(p, idx),
        _marker_position_signal(p, idx),
        genes,
        _tss_signal(
            p, genes_used=genes_used, window=tss_window, max_intervals=max_intervals, seed=seed
        ),
    ]


def _figures(post: Posterior) -> str:
    g = post.grouped()
    return ", ".join(f"P({h}) {_eq(fmt_p(g[h]))}" for h in (*BUILDS, OTHER))


def _eq(text: str) -> str:
    return text if text[0] in "<>" else f"= {text}"


def _contributions(signals: list[_Signal], toward: str) -> str:
    """The signals that moved the call, strongest first, with their log10 likelihood ratios."""
    if toward in BUILDS:
        other = BUILDS[1 - BUILDS.index(toward)]
        lrs = [(log10_lr(s.loglik, toward, other), s) for s in signals if s.informative]
    else:
        lrs = [(_toward_other(s), s) for s in signals if s.informative]
    strong = sorted((x for x in lrs if abs(x[0]) >= _CONTRIBUTES), key=lambda x: -abs(x[0]))
    if not strong:
        return "; ".join(s.summary for s in signals if s.available) or "no signal applies"
    return "; ".join(f"{s.summary} (log10 LR {lr:+.1f})" for lr, s in strong)


def _toward_other(s: _Signal) -> float:
    best_build = max(s.loglik[b] for b in BUILDS)
    best_other = max(v for h, v in s.loglik.items() if h not in BUILDS)
    return (best_other - best_build) / 2.302585092994046


def _disagree(signals: list[_Signal], rate: float) -> list[str]:
    votes = {s.name: s.vote(rate)[0] for s in signals}
    decided = {v for v in votes.values() if v is not None}
    return [f"{n} -> {v}" for n, v in votes.items() if v] if len(decided) > 1 else []


def _undetermined(
    p: _Prepared, signals: list[_Signal], post: Posterior, rate: float
) -> tuple[str, str | None]:
    """(reason, leaning) of an undetermined call."""
    lead, prob = post.lead()
    leaning = (post.best_other if lead == OTHER else lead) if prob >= LEANING else None
    if p.ci.header.get("rsid_only"):
        ids = p.ci.header.get("ids", [])
        n_panel = int((_markers().index.get_indexer(ids) >= 0).sum()) if len(ids) else 0
        return (
            f"{_WHY_RSIDS} ({len(ids):,} rsIDs, {n_panel:,} of them in the marker panel, no "
            "positions): an rsID names the same variant in every build, so the file has no "
            "build to check; join it on rsID, or place it with positions of the build you need"
        ), None
    if not any(s.available for s in signals):
        return f"{_WHY_NONE}: no header and no coordinates", None
    if lead == OTHER and prob >= 1.0 - rate:
        best = _display(post.best_other)
        said = _contributions(signals, OTHER)
        return f"{_WHY_NEITHER} ({_figures(post)}; fits {best} best): {said}", OTHER
    split = _disagree(signals, rate)
    if split:
        return f"{_WHY_DISAGREE} ({_figures(post)}): {preview(split, n=6)}", leaning
    if leaning is not None:
        towards = lead if lead in BUILDS else OTHER
        said = _contributions(signals, towards)
        return f"{_WHY_WEAK}: leaning {towards} ({_figures(post)} < {1 - rate:g}): {said}", leaning
    said = "; ".join(s.summary for s in signals if s.available)
    if not signals[0].available:
        said += "; the header names no build"
    return f"{_WHY_INCONCLUSIVE} ({_figures(post)}): {said}", None


def _combine(p: _Prepared, signals: list[_Signal], rate: float) -> BuildCall:
    full = posterior(s.loglik for s in signals)
    data = posterior(s.loglik for s in signals[1:])
    stated = signals[0].detail.get("stated")
    evidence = {s.name: s.evidence(rate) for s in signals}
    common: dict[str, Any] = {
        "evidence": evidence,
        "n_rows": p.n,
        "columns": p.coord_cols,
        "stated_build": stated,
        "false_call_rate": rate,
    }
    by_data = data.decided(rate)
    if stated is not None and by_data is not None and by_data != stated:
        # The coordinates decide on their own against the header: a stale header, not trusted.
        said = f"the header states {stated} but the coordinates decide {by_data} on their own"
        if by_data in BUILDS:
            reason = f"{said} ({_figures(data)}): {_contributions(signals[1:], by_data)}"
            grouped = data.grouped()
            return BuildCall(p.name, by_data, round(grouped[by_data], 6), reason,
                             posterior=_rounded(data), stale_header=True, **common)  # fmt: skip
        reason = f"{_WHY_NEITHER} ({_figures(data)}; fits {_display(data.best_other)} best): {said}"
        return BuildCall(p.name, UNDETERMINED_BUILD, 0.0, reason, leaning=OTHER,
                         posterior=_rounded(data), best_fit=data.best_other, stale_header=True,
                         **common)  # fmt: skip
    decided = full.decided(rate)
    if decided in BUILDS:
        reason = f"{_figures(full)} >= {1 - rate:g}: {_contributions(signals, decided)}"
        return BuildCall(p.name, decided, round(full.grouped()[decided], 6), reason,
                         posterior=_rounded(full), **common)  # fmt: skip
    reason, leaning = _undetermined(p, signals, full, rate)
    best = full.best_other if full.lead()[0] == OTHER else None
    return BuildCall(p.name, UNDETERMINED_BUILD, 0.0, reason, leaning=leaning,
                     posterior=_rounded(full), best_fit=best, **common)  # fmt: skip


def _rounded(post: Posterior) -> dict[str, float]:
    return {h: round(v, 8) for h, v in post.grouped().items()}


def _false_call_rate(false_call_rate: float | None, min_confidence: float | None) -> float:
    rate = false_call_rate
    if rate is None:
        rate = FALSE_CALL_RATE if min_confidence is None else 1.0 - min_confidence
    if not 0.0 < rate < 0.5:
        key = "min_confidence" if false_call_rate is None else "false_call_rate"
        value = min_confidence if false_call_rate is None else false_call_rate
        raise ConfigError(
            f"{key} must give a false-call rate in (0, 0.5); got {value} instead", key=key
        )
    return rate


def _check_detection_options(min_informative: int, tss_window: int, max_intervals: int) -> None:
    if min_informative < 1:
        raise ConfigError(
            f"min_informative must be >= 1; got {min_informative} instead", key="min_informative"
        )
    if tss_window < 0:
        raise ConfigError(f"tss_window must be >= 0; got {tss_window} instead", key="tss_window")
    if max_intervals < 1:
        raise ConfigError(
            f"max_intervals must be >= 1; got {max_intervals} instead", key="max_intervals"
        )


def _detect(
    p: _Prepared,
    *,
    false_call_rate: float | None = None,
    min_informative: int = 10,
    min_confidence: float | None = None,
    tss_window: int = 1000,
    max_intervals: int = 200_000,
    seed: int = 0,
) -> BuildCall:
    _check_detection_options(min_informative, tss_window, max_intervals)
    rate = _false_call_rate(false_call_rate, min_confidence)
    signals = _signals(p, tss_window=tss_window, max_intervals=max_intervals, seed=seed)
    return _combine(p, signals, rate)


def detect_builds(coords: CoordLike, *, name: str | None = None, **options: Any) -> list[BuildCall]:
    """One :class:`BuildCall` per coordinate set of an input (author and harmonised positions,
    ``pos_b37`` beside ``pos_b38``); options as in :func:`detect_build`.

    Examples
    --------
    >>> import pandas as pd
    >>> from biodata_guard.build._reference import _markers
    >>> m = _markers().head(3)
    >>> df = pd.DataFrame({"chr_name": m["chrom_GRCh37"], "chr_position": m["pos_GRCh37"],
    ...                    "hm_chr": m["chrom_GRCh38"], "hm_pos": m["pos_GRCh38"], "rsID": m.index})
    >>> [(c.columns, c.build) for c in detect_builds(df)]
    [('chr_name/chr_position', 'GRCh37'), ('hm_chr/hm_pos', 'GRCh38')]
    """
    sets = _coordinate_sets(_as_coords(coords, name))
    return [_detect(_prepare(ci), **options) for ci in sets]


def detect_build(
    coords: CoordLike,
    *,
    name: str | None = None,
    false_call_rate: float | None = None,
    min_informative: int = 10,
    min_confidence: float | None = None,
    tss_window: int = 1000,
    max_intervals: int = 200_000,
    seed: int = 0,
) -> BuildCall:
    """Call the genome build (GRCh37 or GRCh38) of a coordinate-bearing input.

    Every signal the input allows is measured as the likelihood of its data under each
    hypothesis: GRCh37, GRCh38, or another assembly (NCBI36 / hg18, T2T-CHM13, mouse GRCm38 /
    GRCm39). The signals are combined with the prior (GRCh37 and GRCh38 0.49 each, another
    assembly 0.02) into one posterior, and a build is called when its posterior reaches
    ``1 - false_call_rate``; otherwise the call is ``"undetermined"`` with the figures, the
    build it leans to, and, when the data fit neither build, the assembly that fits best.

    ``header``
        What the file states (VCF ``##reference`` / ``##contig`` lengths, GTF
        ``#!genome-build``, PGS Catalog ``#genome_build`` / ``#HmPOS_build``, GWAS-SSF
        ``genome_assembly``, 23andMe / AncestryDNA comments, build-named columns, accession
        contig names), taken as wrong in 1 file of 10,000 (100,000 for ##contig lengths): a
        header the coordinates contradict on their own is reported stale, not trusted.
    ``chrom_ends``
        Rows past a chromosome's end are impossible in that assembly; each assembly's
        likelihood is the beta-binomial probability of its impossible rows (and the
        malformed ones), so such a row counts against it in proportion to how rare errors
        are in the rest of the file.
    ``marker_rsids``
        Panel rsIDs (~20k common SNPs whose position differs between the builds) at each
        build's position; rsIDs elsewhere are errors (Beta(1, 99)).
    ``marker_positions``
        Rows without a panel rsID at exact panel positions, against the hits chance gives a
        file of this many rows (the panel's density on each chromosome).
    ``gene_coords``
        Panel genes exactly at, or nearer, one build's coordinates.
    ``tss``
        Intervals without ids touching one build's TSSs only (within ``tss_window`` bp).

    Parameters
    ----------
    coords
        A :class:`~biodata_guard._context.CoordInput`, a DataFrame or a file path (VCF, BED,
        GTF/GFF, PLINK, genotype text, summary statistics, tables). For an input with several
        coordinate sets this is the call of the first; :func:`detect_builds` gives all.
    name
        Name used in messages (default: the input's).
    false_call_rate
        Call a build only when its posterior is at least 1 - this (default 0.001).
    min_informative
        Kept for compatibility; the evidence decides, not a count of hits (not used).
    min_confidence
        Kept for compatibility: ``1 - false_call_rate`` (used when ``false_call_rate`` is
        not given).
    tss_window
        Distance (bp) from an interval's start, end or midpoint to a TSS that counts as touching.
    max_intervals
        Intervals sampled (with ``seed``) for the TSS signal.
    seed
        Seed of that sample.

    Returns
    -------
    BuildCall

    Raises
    ------
    InputError
        The input cannot be read.
    ConfigError
        An option is out of range.

    Examples
    --------
    A 23andMe-style table: three panel rsIDs at their GRCh37 positions decide it:

    >>> import pandas as pd
    >>> from biodata_guard.build._reference import _markers
    >>> m = _markers().head(3)
    >>> df = pd.DataFrame({"rsid": m.index, "chromosome": m["chrom_GRCh37"],
    ...                    "position": m["pos_GRCh37"]})
    >>> call = detect_build(df)
    >>> call.build, call.confidence > 0.999, call.evidence["marker_rsids"]["n_at_position"]
    ('GRCh37', True, {'GRCh37': 3, 'GRCh38': 0})
    """
    return _detect(
        _prepare(_as_coords(coords, name)),
        false_call_rate=false_call_rate,
        min_informative=min_informative,
        min_confidence=min_confidence,
        tss_window=tss_window,
        max_intervals=max_intervals,
        seed=seed,
    )
