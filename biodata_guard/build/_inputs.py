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

    @functools.cached_property
    def point_like(self) -> bool:
        return bool(self.n) and float(np.mean(self.end - self.start <= 1)) >= 0.5

    @property
    def chrom_col(self) -> str:
        cols = self.ci.header.get("columns") or {}
        default = {"vcf": "CHROM", "gtf": "seqname", "gff": "seqid", "bed": "chrom"}
        return str(cols.get("chrom") or default.get(self.ci.kind, "Chromosome"))

    @property
    def coord_cols(self) -> str:
        cols = self.ci.header.get("columns") or {}
        if self.ci.kind == "vcf":
            return "CHROM/POS"
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
