"""Chunks missing from an AnnData zarr store's matrices: a damaged copy, not zeros.

Zarr reads a chunk that is not stored as its fill value (0), and writers leave out chunks that
hold only the fill value (zarr 3 does by default), so a missing chunk is either an all-zero
block or a lost file. The stored chunks tell which: in the rest of the matrix, a row segment
(the part of a row inside the chunk's columns; for 1-D arrays, an element) equals the fill value
with probability ``q``, estimated with a pseudo-count from up to :data:`_SAMPLE` stored chunks of
the same column block. Were the ``r`` row segments of a missing chunk independent draws, all of
them would be fill with probability ``q**r``; a store is refused when that is below
:data:`ALPHA` divided by the number of chunks (Bonferroni), so a store whose missing chunks are
plausible all-zero blocks (empty cells, unexpressed gene blocks) passes with probability at
least ``1 - ALPHA`` under that model. A column block with no stored chunk at all is taken to be
all zero. Sparse matrices (``data``, ``indices``, ``indptr``) are tested the same way per array:
a whole chunk of explicit zeros, of column 0 or of a zero row pointer past the first row is
structurally implausible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Probability under the independence model of refusing a store whose missing chunks are
#: all-zero blocks (per store, Bonferroni over its chunks).
ALPHA = 1e-6
#: Stored chunks read per column block to estimate the rate of fill-valued row segments.
_SAMPLE = 8


@dataclass(frozen=True)
class MissingChunk:
    """A chunk the grid has and the store lacks, and how improbable an all-zero block is."""

    array: str  # path of the array inside the store, e.g. "X" or "layers/counts/data"
    region: tuple[slice, ...]
    n_missing: int
    n_chunks: int
    log10_p: float


def _regions(arr: Any) -> list[tuple[str, tuple[slice, ...]]]:
    """(storage key, region) of every chunk (shard) of the array's grid; empty when the zarr
    library does not expose its grid (zarr 2: the check is skipped)."""
    try:
        return list(zip(arr._iter_shard_keys(), arr._iter_shard_regions(), strict=True))
    except AttributeError:  # pragma: no cover - zarr 2
        return []


def _stored(arr: Any, root: Path, keys: list[str]) -> np.ndarray:
    base = root / arr.path
    return np.array([(base / k).is_file() for k in keys], dtype=bool)


def _fill_rate(arr: Any, regions: list[tuple[slice, ...]], fill: float) -> float:
    """Rate of fill-valued row segments (elements, for 1-D) in the given stored chunks, with a
    pseudo-count of one of each kind."""
    n_fill = n_all = 0
    for region in regions:
        block = np.asarray(arr[region])
        if block.ndim == 1:
            units = block == fill
        else:
            units = (block.reshape(block.shape[0], -1) == fill).all(axis=1)
        n_fill += int(units.sum())
        n_all += units.size
    return (n_fill + 1) / (n_all + 2)


def _column_block(region: tuple[slice, ...]) -> tuple:
    return tuple((s.start, s.stop) for s in region[1:])


def missing_chunks(arr: Any, root: Path, name: str) -> MissingChunk | None:
    """The first implausible missing chunk of one zarr array, or None."""
    chunks = _regions(arr)
    if not chunks:
        return None
    keys, regions = [k for k, _ in chunks], [r for _, r in chunks]
    stored = _stored(arr, root, keys)
    if stored.all():
        return None
    fill = 0.0 if arr.fill_value is None else float(arr.fill_value)
    by_column: dict[tuple, list[int]] = {}
    for i, region in enumerate(regions):
        by_column.setdefault(_column_block(region), []).append(i)
    cut = math.log10(ALPHA / len(regions))
    worst: MissingChunk | None = None
    for members in by_column.values():
        present = [i for i in members if stored[i]]
        absent = [i for i in members if not stored[i]]
        if not present or not absent:
            continue  # a column block never stored is an all-zero block
        step = max(1, len(present) // _SAMPLE)
        q = _fill_rate(arr, [regions[i] for i in present[::step][:_SAMPLE]], fill)
        for i in absent:
            rows = regions[i][0].stop - regions[i][0].start
            log10_p = rows * math.log10(q)
            if log10_p < cut and (worst is None or log10_p < worst.log10_p):
                n_missing = int((~stored).sum())
                worst = MissingChunk(name, regions[i], n_missing, len(regions), log10_p)
    return worst


def matrix_arrays(group: Any) -> list[tuple[str, Any]]:
    """(path, zarr array) of every matrix of an AnnData store: ``X``, each layer, ``raw/X``;
    a sparse matrix gives its ``data``, ``indices`` and ``indptr`` arrays."""
    elements = []
    if "X" in group:
        elements.append(("X", group["X"]))
    if "layers" in group:
        elements += [(f"layers/{k}", group["layers"][k]) for k in sorted(group["layers"].keys())]
    if "raw" in group and "X" in group["raw"]:
        elements.append(("raw/X", group["raw"]["X"]))
    out = []
    for path, elem in elements:
        if elem.attrs.get("encoding-type") in ("csr_matrix", "csc_matrix"):
            out += [(f"{path}/{part}", elem[part]) for part in ("data", "indices", "indptr")]
        elif hasattr(elem, "chunks"):
            out.append((path, elem))
    return out


def describe(m: MissingChunk) -> str:
    """Where the chunk is, in words."""
    dims = ("rows", "columns")
    where = ", ".join(
        f"{dims[d] if len(m.region) > 1 else 'entries'} {s.start}-{s.stop - 1}"
        for d, s in enumerate(m.region[:2])
    )
    return (
        f"{m.array} lacks {m.n_missing} of its {m.n_chunks} stored chunks (first: {where}); "
        f"the rest of the matrix makes an all-zero block that large improbable "
        f"(p = 1e{m.log10_p:.0f}, refused below {ALPHA:g} / {m.n_chunks} chunks), so the chunk "
        "files are missing, not zero"
    )
