"""Coordinate inputs: any accepted form read once, with its chromosome names resolved."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard._context import CoordInput
from biodata_guard.build._reference import _canonical
from biodata_guard.errors import InputError
from biodata_guard.io.coords import coords_from_frame, read_coordinates

#: What the public checks accept as one coordinate input.
CoordLike = CoordInput | pd.DataFrame | str | os.PathLike


def _as_coords(coords: Any, name: str | None) -> CoordInput:
    if isinstance(coords, CoordInput):
        if name is None or name == coords.name:
            return coords
        return CoordInput(name, coords.frame, coords.kind, coords.header, coords.path)
    if isinstance(coords, pd.DataFrame):
        return coords_from_frame(coords, name=name or "<DataFrame>")
    if isinstance(coords, (str, os.PathLike)):
        return read_coordinates(coords, name=name)
    raise InputError(
        f"{name or 'coords'}: coordinates must be a CoordInput, a DataFrame or a file path; got "
        f"{type(coords).__name__} instead",
        path=name,
        hint="Pass a VCF/BED/GTF path or a DataFrame with Chromosome, Start, End columns.",
    )


@dataclass
class _Prepared:
    """One input with its chromosome names resolved once (every check reuses it)."""

    ci: CoordInput
    names: np.ndarray  # unique raw chromosome names
    row_name: np.ndarray  # per row: index into names
    name_codes: np.ndarray  # per unique name: index into _PRIMARY or -1
    start: np.ndarray
    end: np.ndarray

    @property
    def name(self) -> str:
        return self.ci.name

    @property
    def n(self) -> int:
        return len(self.start)

    @functools.cached_property
    def code(self) -> np.ndarray:
        return self.name_codes[self.row_name] if self.n else np.zeros(0, dtype=np.int64)

    @functools.cached_property
    def name_counts(self) -> np.ndarray:
        return np.bincount(self.row_name, minlength=len(self.names))

    @property
    def n_malformed(self) -> int:
        """Rows of the file set aside as malformed by the reader."""
        return int((self.ci.header.get("malformed") or {}).get("n", 0))

    @property
    def stated_build(self) -> str | None:
        """The build this coordinate set's column names state (``pos_b37``), if any."""
        return self.ci.header.get("stated_build")

    @functools.cached_property
    def point_like(self) -> bool:
        return bool(self.n) and float(np.mean(self.end - self.start <= 1)) >= 0.5

    @property
    def chrom_col(self) -> str:
        cols = self.ci.header.get("columns") or {}
        default = {"vcf": "CHROM", "gtf": "seqname", "gff": "seqid", "bed": "chrom"}
        return str(cols.get("chrom") or default.get(self.ci.kind, "Chromosome"))

    @property
    def where(self) -> str:
        """``"<input>, <columns>"`` for messages (the name of one of several coordinate sets
        already ends in its columns)."""
        cols = self.coord_cols
        return self.name if self.name.endswith(f"[{cols}]") else f"{self.name}, {cols}"

    @property
    def coord_cols(self) -> str:
        cols = self.ci.header.get("columns") or {}
        if self.ci.header.get("set_label"):
            return str(self.ci.header["set_label"])
        if self.ci.kind == "vcf":
            return "CHROM/POS"
        if "id" in cols and cols.get("chrom") == cols["id"]:  # loci parsed from variant ids
            return str(cols["id"])
        if "pos" in cols:
            return f"{self.chrom_col}/{cols['pos']}"
        start, end = cols.get("start", "start"), cols.get("end", "end")
        return f"{self.chrom_col}/{start}/{end}"


def _prepare(ci: CoordInput) -> _Prepared:
    frame = ci.frame
    row_name, names = pd.factorize(frame["Chromosome"].astype(str))
    names = np.asarray(names, dtype=object)
    return _Prepared(
        ci=ci,
        names=names,
        row_name=row_name.astype(np.int64),
        name_codes=np.array([_canonical(s) for s in names], dtype=np.int64),
        start=frame["Start"].to_numpy(dtype=np.int64),
        end=frame["End"].to_numpy(dtype=np.int64),
    )


def _coordinate_sets(ci: CoordInput) -> list[CoordInput]:
    """Every coordinate set of an input: the input itself, then the sets read beside it
    (harmonised positions, build-named columns) from ``header["coordinate_sets"]``."""
    return [ci, *ci.header.get("coordinate_sets", [])]
