"""The report's figures: one matplotlib (Agg) figure in the report's size, rendered to a
``data:`` URI (shared by every plot module)."""

from __future__ import annotations

import base64
import io
from typing import Any

#: Plot size in inches (at ``_DPI``): wide enough for a 1100 px report column.
_WIDTH = 10.0
_HEIGHT = 3.6
_DPI = 90


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _close_all() -> None:
    try:
        plt = _pyplot()
        plt.close("all")
    except Exception:  # closing is best effort
        pass


def _figure(ncols: int = 1, *, height: float = _HEIGHT) -> tuple[Any, list[Any]]:
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, ncols, figsize=(_WIDTH, height), dpi=_DPI, squeeze=False, layout="constrained"
    )
    for ax in axes[0]:
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
        ax.tick_params(labelsize=9)
    return fig, list(axes[0])


def to_data_uri(fig: Any, *, fmt: str = "png") -> str:
    """Render a figure to a ``data:`` URI (PNG or SVG) and close it."""
    plt = _pyplot()
    buf = io.BytesIO()
    try:
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
            mime = "image/png"
    finally:
        plt.close(fig)
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def short(label: Any, n: int = 24) -> str:
    """A label cut to ``n`` characters (with an ellipsis)."""
    s = str(label)
    return s if len(s) <= n else s[: n - 1] + "…"
