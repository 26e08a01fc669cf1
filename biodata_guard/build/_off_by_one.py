"""Positions shifted by one base (0-based vs 1-based mix-ups): ``build.off_by_one``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biodata_guard._format import fraction
from biodata_guard.build._inputs import CoordLike, _as_coords, _prepare, _Prepared
from biodata_guard.build._reference import BUILDS, _keys, _marker_keys, _markers
from biodata_guard.build._signals import _MARKER_SHARE
from biodata_guard.findings import Finding, Severity, not_checked
from biodata_guard.registry import declare_check

OFF_BY_ONE = declare_check(
    "build.off_by_one",
    group="build",
    severities=("error",),
    needs=("coords",),
    doc="Known SNPs sit 1 bp off their position: 0-based positions in a 1-based column, or "
    "1-based starts in a 0-based (BED) one.",
)

#: Shifts tried: +1 = the file's positions are 1 bp short (0-based in a 1-based column), -1 =
#: 1 bp long (1-based starts in a 0-based BED column).
_SHIFTS = (1, -1)


def _panel_hits(p: _Prepared) -> tuple[str, dict[str, dict[int, int]], int]:
    """Marker-panel hits of the input at shifts 0, +1 and -1, per build: by rsID when the input
    has panel rsIDs (denominator: those rows), else by (chromosome, position) (denominator:
    the rows hitting any panel position at any shift)."""
    shifts = (0, *_SHIFTS)
    frame = p.ci.frame
    if "rsid" in frame.columns and frame["rsid"].notna().any():
        panel = _markers()
        idx = panel.index.get_indexer(frame["rsid"])
        hit = idx >= 0
        if hit.any():
            rows, code, pos = idx[hit], p.code[hit], p.start[hit] + 1
            counts = {
                b: {
                    s: int(
                        (
                            (code == panel[f"code_{b}"].to_numpy()[rows])
                            & (pos + s == panel[f"pos_{b}"].to_numpy()[rows])
                        ).sum()
                    )
                    for s in shifts
                }
                for b in BUILDS
            }
            return "marker rsIDs", counts, int(hit.sum())
    ok = p.code >= 0
    counts = {
        b: {
            s: int(np.isin(_keys(p.code[ok], p.start[ok] + 1 + s), _marker_keys(b)).sum())
            for s in shifts
        }
        for b in BUILDS
    }
    return "marker positions", counts, sum(sum(c.values()) for c in counts.values())


@dataclass(frozen=True)
class _PanelShift:
    """Marker-panel hits of one input at shifts 0, +1 and -1 in each build.

    ``build`` / ``shift`` are the build and non-zero shift with the most hits (``n_shifted``);
    ``n_exact`` is the most hits at shift 0 in either build.
    """

    source: str  # "marker rsIDs" or "marker positions"
    hits: dict[str, dict[int, int]]  # build -> shift -> hits
    n_informative: int
    build: str
    shift: int
    n_shifted: int
    n_exact: int

    def decisive(self, min_informative: int) -> bool:
        """Enough shifted hits, and nearly all of the shifted plus exact ones."""
        k = self.n_shifted
        return k >= min_informative and k >= _MARKER_SHARE * (k + self.n_exact)


def _panel_shift(p: _Prepared) -> _PanelShift | None:
    """None when the test does not apply: an empty input, or intervals without rsIDs."""
    if not p.n or not (p.point_like or "rsid" in p.ci.frame.columns):
        return None
    source, counts, n = _panel_hits(p)
    build, shift = max(
        ((b, s) for b in BUILDS for s in _SHIFTS), key=lambda bs: counts[bs[0]][bs[1]]
    )
    exact = max(counts[b][0] for b in BUILDS)
    return _PanelShift(source, counts, n, build, shift, counts[build][shift], exact)


def _off_by_one_finding(p: _Prepared, s: _PanelShift) -> Finding:
    cols = p.ci.header.get("columns") or {}
    if s.shift == 1:
        what = "1 bp before"
        meaning = "0-based positions in a 1-based column"
        col = cols.get("pos") or cols.get("start") or "pos"
        fix = (
            f"Add 1 to the positions (df['{col}'] += 1) if they are 0-based; or name the column "
            "'start' (with 'end') so the table is read as 0-based, half-open (BED-style)."
        )
    else:
        what = "1 bp after"
        meaning = "1-based starts in a 0-based (BED-style) column"
        col = cols.get("start") or cols.get("pos") or "start"
        fix = (
            f"Subtract 1 from the starts (df['{col}'] -= 1): BED starts are 0-based; or name "
            "the column 'pos' so the table is read as 1-based."
        )
    return Finding(
        OFF_BY_ONE,
        Severity.ERROR,
        f"{p.where}: {fraction(s.n_shifted, s.n_informative)} {s.source} sit "
        f"{what} their {s.build} position ({s.n_exact} exactly at it): the coordinates look "
        f"like {meaning}",
        evidence={
            "build": s.build,
            "shift_bp": s.shift,
            "source": s.source,
            "n_informative": s.n_informative,
            "n_shifted": s.n_shifted,
            "n_exact": s.n_exact,
            "hits": {b: {str(k): c for k, c in s.hits[b].items()} for b in BUILDS},
        },
        hint=fix,
        input=p.name,
    )


def _off_by_one_findings(p: _Prepared, *, min_informative: int) -> list[Finding]:
    s = _panel_shift(p)
    if s is None or not s.decisive(min_informative):
        return []
    return [_off_by_one_finding(p, s)]


def _audit_off_by_one(p: _Prepared, *, min_informative: int) -> list[Finding]:
    """As :func:`_off_by_one_findings`, and ``not checked`` when the test cannot apply."""
    if not p.n:
        return []
    s = _panel_shift(p)
    if s is None:
        reason = f"{p.name}: intervals without rsIDs, needs single positions or rsIDs"
        return [not_checked(OFF_BY_ONE, reason, input=p.name)]
    if s.decisive(min_informative):
        return [_off_by_one_finding(p, s)]
    if s.n_informative < min_informative:
        reason = f"{p.name}: {s.n_informative} {s.source} informative, needs >= {min_informative}"
        return [
            not_checked(
                OFF_BY_ONE,
                reason,
                input=p.name,
                n_informative=s.n_informative,
                min_informative=min_informative,
            )
        ]
    return []


def check_off_by_one(
    coords: CoordLike, *, name: str | None = None, min_informative: int = 10
) -> list[Finding]:
    """Positions shifted by one base: ``build.off_by_one`` (error).

    Known SNPs (the marker panel, by rsID or by position) that sit 1 bp before or after their
    position in a build, and not at it, betray a coordinate-base mix-up: 0-based positions
    in a 1-based column (``shift_bp = +1``) or 1-based starts in a 0-based BED column
    (``-1``). Such coordinates miss every annotation by one base and fit neither build.

    Parameters
    ----------
    coords
        A CoordInput, a DataFrame or a file path.
    name
        Name used in messages (default: the input's).
    min_informative
        Shifted panel hits needed to report; they must also be at least 90 % of the
        shifted plus exact hits.

    Examples
    --------
    GRCh38 panel SNPs written with 0-based positions:

    >>> import pandas as pd
    >>> panel = _markers().head(40)
    >>> df = pd.DataFrame({"chrom": panel["chrom_GRCh38"], "pos": panel["pos_GRCh38"] - 1})
    >>> [(f.check, f.evidence["shift_bp"]) for f in check_off_by_one(df)]
    [('build.off_by_one', 1)]
    """
    return _off_by_one_findings(_prepare(_as_coords(coords, name)), min_informative=min_informative)
