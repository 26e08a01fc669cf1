"""Plots for the HTML report, drawn with matplotlib (Agg) from ``Report.artifacts``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# The features plot lives in its own module; it reads this module's helpers at call time.
from biodata_guard.report import _plots_features
from biodata_guard.report._figure import (
    _DPI,
    _HEIGHT,
    _WIDTH,
    _close_all,
    _figure,
    _pyplot,
    short,
    to_data_uri,
)

#: Scatter plots never draw more points than this (artifacts are already subsampled).
_MAX_POINTS = 2000
#: Categories shown in one legend / bar chart before the rest are merged into "other".
_MAX_CATEGORIES = 12

_SPLIT_COLOURS = {
    "train": "#1f77b4",
    "test": "#ff7f0e",
    "validation": "#2ca02c",
    "val": "#2ca02c",
    "valid": "#2ca02c",
    "all": "#4c566a",
}
_BUILD_COLOURS = {"GRCh37": "#8c6bb1", "GRCh38": "#41ab5d"}


def plots_for(key: str, data: Any) -> list[tuple[str, str]]:
    """All plots for one artifact group as ``(caption, data URI)`` pairs.

    Never raises: artifact data shaped differently from what a plotter expects yields no plot
    for that part (the report then falls back to the evidence tables).
    """
    plotters = _PLOTTERS.get(key)
    if not plotters or not isinstance(data, Mapping):
        return []
    out: list[tuple[str, str]] = []
    for plotter in plotters:
        try:
            out.extend(plotter(data))
        except Exception:  # a plot must never break the report
            _close_all()
    return out


def _numbers(values: Any) -> list[float]:
    """Finite floats from a list (None / non-numbers dropped)."""
    out = []
    for v in values if isinstance(values, Sequence) and not isinstance(values, str) else []:
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append(float(v))
    return out


def _colour_map(categories: Sequence[str], fixed: Mapping[str, str] | None = None) -> dict:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if len(categories) <= 10 else "tab20")
    out = {}
    for i, c in enumerate(categories):
        out[c] = (fixed or {}).get(str(c).lower(), cmap(i % cmap.N))
    return out


#: Long category names are wrapped onto this many lines of this many characters (not cut).
_WRAP_WIDTH = 16
_WRAP_LINES = 4


def _wrapped(label: Any) -> str:
    r"""A tick label on up to :data:`_WRAP_LINES` lines; only a name longer than that is cut.

    Examples
    --------
    >>> _wrapped("inflammatory bowel disease, stricturing")
    'inflammatory\nbowel disease,\nstricturing'
    """
    import textwrap

    lines = textwrap.wrap(str(label), _WRAP_WIDTH, break_on_hyphens=False) or [""]
    if len(lines) > _WRAP_LINES:
        lines = lines[:_WRAP_LINES]
        lines[-1] = short(lines[-1] + " …", _WRAP_WIDTH)
    return "\n".join(lines)


# --- balance --------------------------------------------------------------------------------


def _balance(data: Mapping) -> list[tuple[str, str]]:
    counts = data.get("class_counts")
    if not isinstance(counts, Mapping) or not counts:
        return []
    splits = [s for s, v in counts.items() if isinstance(v, Mapping) and v]
    if not splits:
        return []
    totals: dict[str, float] = {}
    for s in splits:
        for c, n in counts[s].items():
            if isinstance(n, (int, float)) and not isinstance(n, bool):
                totals[str(c)] = totals.get(str(c), 0.0) + float(n)
    classes = sorted(totals, key=lambda c: (-totals[c], c))[:_MAX_CATEGORIES]
    if not classes:
        return []
    ticks = [_wrapped(c) for c in classes]
    n_lines = max(t.count("\n") + 1 for t in ticks)
    fig, (ax_n, ax_p) = _figure(2, height=_HEIGHT + 0.35 * (n_lines - 1))
    colours = _colour_map(splits, _SPLIT_COLOURS)
    width = 0.8 / len(splits)
    for i, s in enumerate(splits):
        ys = [float(counts[s].get(c, 0) or 0) for c in classes]
        xs = [j + (i - (len(splits) - 1) / 2) * width for j in range(len(classes))]
        ax_n.bar(xs, ys, width=width, label=str(s), color=colours[s])
    ax_n.set_xticks(range(len(classes)), ticks, rotation=30 if n_lines == 1 else 0,
                    ha="right" if n_lines == 1 else "center", fontsize=8)  # fmt: skip
    ax_n.set_ylabel("samples")
    ax_n.set_title("Class counts per split", fontsize=11)
    values = [v for s in splits for v in (float(counts[s].get(c, 0) or 0) for c in classes)]
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 50:
        ax_n.set_yscale("log")
    ax_n.legend(fontsize=8, frameon=False)

    class_colours = _colour_map(classes)
    for i, s in enumerate(splits):
        row = [float(counts[s].get(c, 0) or 0) for c in classes]
        total = sum(row) or 1.0
        left = 0.0
        for c, n in zip(classes, row, strict=True):
            frac = n / total
            label = _wrapped(c) if i == 0 else None
            ax_p.barh(i, frac, left=left, color=class_colours[c], label=label)
            if frac >= 0.08:
                ax_p.text(left + frac / 2, i, f"{frac:.0%}", ha="center", va="center", fontsize=7)
            left += frac
    ax_p.set_yticks(range(len(splits)), [_wrapped(s) for s in splits])
    ax_p.set_xlim(0, 1)
    ax_p.set_xlabel("fraction of split")
    ax_p.set_title("Class proportions per split", fontsize=11)
    ax_p.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return [("Class counts and proportions per split", to_data_uri(fig))]


# --- leakage --------------------------------------------------------------------------------


def _leakage(data: Mapping) -> list[tuple[str, str]]:
    overlap = data.get("group_overlap")
    if not isinstance(overlap, Mapping) or not overlap:
        return []
    cols = [c for c, v in overlap.items() if isinstance(v, Mapping)][:4]
    if not cols:
        return []
    n_bars = max(
        len(overlap[c].get("groups_per_split") or {}) + len(overlap[c].get("shared_groups") or {})
        for c in cols
    )
    fig, axes = _figure(len(cols), height=max(1.8, 0.9 + 0.45 * n_bars))
    for ax, col in zip(axes, cols, strict=True):
        body = overlap[col]
        per_split = body.get("groups_per_split") or {}
        shared = body.get("shared_groups") or {}
        labels, values, colours = [], [], []
        if isinstance(per_split, Mapping):
            for s, n in per_split.items():
                labels.append(f"groups in {short(s, 12)}")
                values.append(float(n or 0))
                colours.append(_SPLIT_COLOURS.get(str(s).lower(), "#4c566a"))
        if isinstance(shared, Mapping):
            for pair, n in shared.items():
                labels.append(f"shared {short(str(pair).replace('|', ' & '), 20)}")
                values.append(float(n or 0))
                colours.append("#d62728" if (n or 0) > 0 else "#a3be8c")
        if not values:
            ax.set_visible(False)
            continue
        ys = range(len(values))
        ax.barh(ys, values, color=colours)
        for y, v in zip(ys, values, strict=True):
            ax.text(v, y, f" {v:g}", va="center", fontsize=8)
        ax.set_yticks(list(ys), labels)
        ax.invert_yaxis()
        ax.set_title(f"{short(col, 30)}: groups per split", fontsize=11)
        ax.set_xlabel("groups")
        ax.margins(x=0.15)
    return [("Groups per split and groups shared between splits", to_data_uri(fig))]


# --- probe ----------------------------------------------------------------------------------


def _probe_embedding(data: Mapping) -> list[tuple[str, str]]:
    emb = data.get("embedding")
    if not isinstance(emb, Mapping):
        return []
    x, y = emb.get("x"), emb.get("y")
    if not isinstance(x, Sequence) or not isinstance(y, Sequence) or len(x) != len(y) or not x:
        return []
    n = min(len(x), _MAX_POINTS)
    colourings = [
        (key, emb.get(key))
        for key in ("batch", "split")
        if isinstance(emb.get(key), Sequence) and len(emb.get(key)) >= n
    ]
    if not colourings:
        colourings = [("samples", ["all"] * n)]
    fig, axes = _figure(len(colourings), height=4.0)
    xs = [float(v) if isinstance(v, (int, float)) else math.nan for v in x[:n]]
    ys = [float(v) if isinstance(v, (int, float)) else math.nan for v in y[:n]]
    for ax, (key, labels) in zip(axes, colourings, strict=True):
        labels = [str(v) for v in labels[:n]]
        freq: dict[str, int] = {}
        for lab in labels:
            freq[lab] = freq.get(lab, 0) + 1
        top = sorted(freq, key=lambda c: (-freq[c], c))[:_MAX_CATEGORIES]
        cats = sorted(top) + (["other"] if len(freq) > len(top) else [])
        colours = _colour_map(cats, _SPLIT_COLOURS if key == "split" else None)
        for cat in cats:
            idx = [i for i, lab in enumerate(labels) if (lab if lab in top else "other") == cat]
            ax.scatter(
                [xs[i] for i in idx],
                [ys[i] for i in idx],
                s=8,
                alpha=0.7,
                color=colours[cat],
                label=short(cat, 16),
                linewidths=0,
            )
        ax.set_title(f"Embedding coloured by {key}", fontsize=11)
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
        ax.legend(fontsize=7, frameon=False, markerscale=2, loc="upper left", bbox_to_anchor=(1, 1))
    return [("Sample embedding (probe input) coloured by batch and by split", to_data_uri(fig))]


def _fold_series(acc: Mapping) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Accuracy per fold of each probe target, and the chance level of each target.

    ``chance`` may be one number per target (``{"batch": 0.25, "label": 0.5}``) or a single
    number; a single number is only drawn when there is one target (it is the chance of that
    target, not of the others).
    """
    series: dict[str, list[float]] = {}
    scalars: dict[str, float] = {}
    for k, v in acc.items():
        if str(k).lower() == "chance":
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            scalars[str(k)] = float(v)
        elif isinstance(v, Mapping):
            vals = _numbers(list(v.values()))
            if vals:
                series[str(k)] = vals
        else:
            vals = _numbers(v)
            if vals:
                series[str(k)] = vals
    if scalars and not series:  # {fold: accuracy}: one series
        series = {"accuracy": list(scalars.values())}
    chance = acc.get("chance", acc.get("Chance"))
    if isinstance(chance, Mapping):
        levels = {str(k): float(v) for k, v in chance.items() if _numbers([v])}
    elif _numbers([chance]) and len(series) == 1:
        levels = {next(iter(series)): float(chance)}
    else:
        levels = {}
    return series, levels


def _probe_accuracy(data: Mapping) -> list[tuple[str, str]]:
    acc = data.get("fold_accuracy")
    if not isinstance(acc, Mapping) or not acc:
        return []
    series, chance = _fold_series(acc)
    series = {k: v for k, v in list(series.items())[:_MAX_CATEGORIES] if v}
    if not series:
        return []
    fig, (ax,) = _figure(1, height=max(2.4, 1.2 + 0.8 * len(series)))
    colours = _colour_map(list(series))
    for i, (name, vals) in enumerate(series.items()):
        ax.scatter(vals, [i] * len(vals), color=colours[name], s=30, zorder=3)
        mean = sum(vals) / len(vals)
        ax.plot([mean, mean], [i - 0.3, i + 0.3], color="black", lw=2)
        ax.text(mean, i + 0.33, f"mean {mean:.2f}", fontsize=8, ha="center")
        if name in chance:  # this target's own chance level, on its own row
            c = chance[name]
            ax.plot([c, c], [i - 0.4, i + 0.4], color="#888888", ls="--", lw=1)
            ax.text(c, i - 0.45, f"chance {c:.2f}", fontsize=7, color="#555555", ha="center")
    ax.set_yticks(range(len(series)), [short(k, 24) for k in series])
    ax.set_ylim(-0.7, len(series) - 0.2)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("held-out balanced accuracy per fold (dashed: chance for that target)")
    ax.set_title("Probe accuracy per cross-validation fold", fontsize=11)
    return [("Probe accuracy per fold, each target against its own chance level", to_data_uri(fig))]


# --- replicates -----------------------------------------------------------------------------


def _replicates(data: Mapping) -> list[tuple[str, str]]:
    pairs = data.get("pairs")
    if not isinstance(pairs, Mapping):
        return []
    a, b = pairs.get("a"), pairs.get("b")
    if not isinstance(a, Sequence) or not isinstance(b, Sequence) or len(a) != len(b):
        return []
    pts = [
        (float(u), float(v))
        for u, v in zip(a[:_MAX_POINTS], b[:_MAX_POINTS], strict=True)
        if isinstance(u, (int, float))
        and isinstance(v, (int, float))
        and math.isfinite(u)
        and math.isfinite(v)
    ]
    if len(pts) < 2:
        return []
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    r = _pearson(xs, ys)
    plt = _pyplot()
    fig = plt.figure(figsize=(_WIDTH * 0.5, _HEIGHT * 1.2), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.scatter(xs, ys, s=8, alpha=0.5, color="#1f77b4", linewidths=0)
    lo, hi = min(*xs, *ys), max(*xs, *ys)
    ax.plot([lo, hi], [lo, hi], color="#888888", ls="--", lw=1, label="y = x")
    title = "Replicate agreement" + (f" (Pearson r = {r:.3f}, n = {len(pts)})" if r else "")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("replicate a")
    ax.set_ylabel("replicate b")
    ax.legend(fontsize=8, frameon=False)
    return [("Replicate agreement: one replicate against another", to_data_uri(fig))]


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


# --- build ----------------------------------------------------------------------------------


def _build(data: Mapping) -> list[tuple[str, str]]:
    inputs = [(name, sig) for name, sig in data.items() if isinstance(sig, Mapping) and sig][:4]
    if not inputs:
        return []
    fig, axes = _figure(len(inputs), height=max(2.4, 0.9 + 0.5 * max(len(s) for _, s in inputs)))
    drew = False
    for ax, (name, signals) in zip(axes, inputs, strict=True):
        rows = [(s, v) for s, v in signals.items() if isinstance(v, Mapping)]
        builds = sorted({b for _, v in rows for b in v})
        if not rows or not builds:
            ax.set_visible(False)
            continue
        colours = _colour_map(builds, {k.lower(): c for k, c in _BUILD_COLOURS.items()})
        height = 0.8 / len(builds)
        for j, build in enumerate(builds):
            ys = [i + (j - (len(builds) - 1) / 2) * height for i in range(len(rows))]
            vals = [
                float(v.get(build)) if isinstance(v.get(build), (int, float)) else 0.0
                for _, v in rows
            ]
            ax.barh(ys, vals, height=height, color=colours[build], label=build)
        ax.set_yticks(range(len(rows)), [short(s, 22) for s, _ in rows])
        ax.invert_yaxis()
        ax.set_xlabel("score")
        ax.set_title(f"{short(name, 30)}: build evidence", fontsize=11)
        ax.legend(fontsize=8, frameon=False)
        drew = True
    if not drew:
        _pyplot().close(fig)
        return []
    return [("Genome build evidence per signal (GRCh37 vs GRCh38)", to_data_uri(fig))]


# --- units ----------------------------------------------------------------------------------


def _units(data: Mapping) -> list[tuple[str, str]]:
    # units.audit_units writes {"matrices": [{"name", "role", "sample_sums", "histogram"}]}.
    bodies = [m for m in data.get("matrices") or [] if isinstance(m, Mapping)][:8]
    mats = [(_matrix_label(m), m) for m in bodies]
    sums = [(n, _numbers(b.get("sample_sums"))) for n, b in mats]
    sums = [(n, [v for v in s if v > 0]) for n, s in sums]
    sums = [(n, s) for n, s in sums if s]
    hists = []
    for n, b in mats:
        h = b.get("histogram")
        if isinstance(h, Mapping):
            # Bins are even on the asinh scale (log-like, defined at 0 and for negatives).
            edges = [math.asinh(e) for e in _numbers(h.get("edges"))]
            counts = _numbers(h.get("counts"))
            if len(edges) == len(counts) + 1 and sum(counts):
                hists.append((n, edges, counts))
    panels = int(bool(sums)) + int(bool(hists))
    if not panels:
        return []
    fig, axes = _figure(panels)
    colours = _colour_map([n for n, _ in mats])
    ax_iter = iter(axes)
    if sums:
        ax = next(ax_iter)
        logs = [(n, [math.log10(v) for v in s]) for n, s in sums]
        lo = min(min(v) for _, v in logs)
        hi = max(max(v) for _, v in logs)
        bins = 30 if hi > lo else 1
        for n, v in logs:
            ax.hist(
                v,
                bins=bins,
                range=(lo, hi if hi > lo else lo + 1),
                histtype="stepfilled",
                alpha=0.45,
                color=colours[n],
                label=short(n, 28),
            )
        ax.set_xlabel("log10(per-sample sum)")
        ax.set_ylabel("samples")
        ax.set_title("Per-sample sums", fontsize=11)
        ax.legend(fontsize=7, frameon=False)
    if hists:
        ax = next(ax_iter)
        for n, edges, counts in hists:
            total = sum(counts) or 1.0
            ax.stairs(
                [c / total for c in counts], edges, color=colours[n], lw=1.5, label=short(n, 28)
            )
        ax.set_xlabel("asinh(value) of non-zero values (≈ ln(2·value) for large values)")
        ax.set_ylabel("fraction of values")
        ax.set_title("Value histogram", fontsize=11)
        ax.legend(fontsize=7, frameon=False)
    return [("Unit diagnostics: per-sample sums and value distributions", to_data_uri(fig))]


def _matrix_label(body: Mapping) -> str:
    role = body.get("role")
    name = str(body.get("name", "matrix"))
    return f"{name} [{role}]" if role and f"[{role}]" not in name else name


_PLOTTERS: dict[str, tuple[Callable[[Mapping], list[tuple[str, str]]], ...]] = {
    "balance": (_balance,),
    "leakage": (_leakage,),
    "probe": (_probe_embedding, _probe_accuracy),
    "batch": (_probe_embedding, _probe_accuracy),
    "replicates": (_replicates,),
    "build": (_build,),
    "units": (_units,),
    "features": (_plots_features.plot_features,),
}
