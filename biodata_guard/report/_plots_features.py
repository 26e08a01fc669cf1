"""The features plot of the HTML report: how the compared feature lists overlap, before and
after normalising their ids, drawn from ``Report.artifacts["features"]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from biodata_guard.report._figure import _figure, short, to_data_uri

#: Compared pairs drawn at most (the rest are in the findings' evidence).
_MAX_PAIRS = 12
_COLOURS = {
    "exact": "#41ab5d",
    "normalised": "#fdae61",
    "x_only": "#9e9e9e",
    "y_only": "#d7301f",
}


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return int(value)


def _segments(pair: Mapping) -> dict[str, int] | None:
    """A pair's bar: shared exactly, shared only after normalising, in one list only."""
    overlap = pair.get("overlap")
    if not isinstance(overlap, Mapping):
        return None
    n_x, n_y = _count(pair.get("n_x")), _count(pair.get("n_y"))
    exact = _count(overlap.get("exact"))
    best = max((c for c in map(_count, overlap.values()) if c is not None), default=None)
    if None in (n_x, n_y, exact, best):
        return None
    return {
        "exact": exact,
        "normalised": best - exact,
        "x_only": max(n_x - best, 0),
        "y_only": max(n_y - best, 0),
    }


def plot_features(data: Mapping) -> list[tuple[str, str]]:
    """One horizontal bar per compared pair of feature lists: features shared with identical
    ids, shared only after normalising (versions stripped, case folded, mapped to the other
    namespace), and in one list only.

    ``data`` is ``ctx.artifacts["features"]``: ``{"inputs": [...], "pairs": [{"x", "y", "n_x",
    "n_y", "overlap": {level: count}, "best_level", "reference"}, ...]}``. Returns
    ``[(caption, PNG data URI)]``, or ``[]`` when there is nothing to draw.

    Examples
    --------
    >>> pair = {"x": "b.csv", "y": "a.csv", "n_x": 300, "n_y": 300,
    ...         "overlap": {"exact": 0, "unversioned": 300, "casefold": 300}}
    >>> [(caption[:15], uri[:22]) for caption, uri in plot_features({"pairs": [pair]})]
    [('Feature overlap', 'data:image/png;base64,')]
    """
    rows = []
    for pair in (data.get("pairs") or [])[:_MAX_PAIRS]:
        seg = _segments(pair) if isinstance(pair, Mapping) else None
        if seg is not None and sum(seg.values()):
            target = "reference " if pair.get("reference") else ""
            label = f"{short(pair.get('x'), 22)} vs {target}{short(pair.get('y'), 22)}"
            rows.append((label, seg))
    if not rows:
        return []
    fig, (ax,) = _figure(1, height=max(1.6, 0.55 * len(rows) + 1.1))
    names = {
        "exact": "shared, same ids",
        "normalised": "shared after normalising ids",
        "x_only": "first list only",
        "y_only": "second list only (missing)",
    }
    for i, (_, seg) in enumerate(rows):
        left = 0
        for key, n in seg.items():
            ax.barh(i, n, left=left, color=_COLOURS[key], label=names[key] if i == 0 else None)
            left += n
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("features")
    ax.set_title("Feature overlap of compared lists", fontsize=11)
    ax.legend(fontsize=8, frameon=False, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return [
        (
            "Feature overlap: ids shared exactly, shared only after stripping versions / case / "
            "mapping namespaces, and features in one list only",
            to_data_uri(fig),
        )
    ]
