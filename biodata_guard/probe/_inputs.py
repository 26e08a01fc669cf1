"""The probe's inputs: its options, and the target and group columns aligned with the rows."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard._format import preview
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.io.matrix import DEFAULT_CHUNK_ROWS, _is_anndata

#: ``transform`` values: ``auto`` (from the detected units), ``counts`` (library-size normalise
#: to 1e4, then log1p), ``log1p``, ``none``.
TRANSFORMS = ("auto", "counts", "log1p", "none")
#: The smallest value of each integer option the probe runs with (``max_samples`` may also be
#: None: every row). The audit's parameters take their ranges from here.
MINIMUM = {
    "n_components": 1,
    "folds": 2,
    "n_permutations": 1,
    "n_steps": 1,
    "max_train_samples": 10,
    "svd_samples": 10,
    "chunk_size": 1,
    "n_top_features": 0,
    "n_embedding_points": 0,
    "max_samples": 100,
}


@dataclass(frozen=True)
class _Options:
    """The probe's options, checked on creation; the defaults are :func:`batch_probe`'s."""

    n_components: int = 50
    folds: int = 5
    n_permutations: int = 100
    seed: int = 0
    l2: float = 1e-3
    n_steps: int = 30
    max_train_samples: int = 8_192
    svd_samples: int = 4_096
    max_samples: int | None = 50_000
    transform: str = "auto"
    chunk_size: int = DEFAULT_CHUNK_ROWS
    n_top_features: int = 20
    n_embedding_points: int = 2_000
    self_check: bool = True
    compilation_cache: str | None = None

    def __post_init__(self) -> None:
        _check_options(**asdict(self))


def _check_options(**opts: Any) -> None:
    """Raise a ConfigError naming the first option out of range."""

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(
            f"`{key}` must be {expected}; got {opts[key]!r} instead",
            key=key,
            hint=f"Pass {key}= as {expected}.",
        )

    minimum = dict(MINIMUM)
    if opts["max_samples"] is None:
        del minimum["max_samples"]
    for key, lo in minimum.items():
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise bad(key, f"an integer >= {lo}")
    if not isinstance(opts["l2"], (int, float)) or not math.isfinite(opts["l2"]) or opts["l2"] < 0:
        raise bad("l2", "a finite number >= 0")
    cache = opts["compilation_cache"]
    if cache is not None and not (isinstance(cache, (str, os.PathLike)) and str(cache)):
        raise bad("compilation_cache", "a directory path or None")
    if opts["transform"] not in TRANSFORMS:
        raise ConfigError(
            f"`transform` must be one of {', '.join(TRANSFORMS)}; got {opts['transform']!r} "
            "instead",
            key="transform",
            hint="Use transform='auto' to choose from the detected units.",
        )


def _column(data: Any, value: Any, n: int, *, what: str, obs_names: pd.Index) -> pd.DataFrame:
    """A per-sample attribute (one or several columns) aligned with the matrix rows."""
    if isinstance(value, str) or (
        isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value)
    ):
        cols = [value] if isinstance(value, str) else list(value)
        if not _is_anndata(data):
            raise ConfigError(
                f"`{what}` names column(s) {cols}, which needs an AnnData input; got "
                f"{type(data).__name__} instead",
                key=what,
                hint=f"Pass the {what} values as an array with one entry per row of X.",
            )
        missing = [c for c in cols if c not in data.obs.columns]
        if missing:
            raise InputError(
                f"adata.obs has no column {missing[0]!r}; columns are "
                f"{preview(list(data.obs.columns), n=12)}",
                path="<AnnData>",
                column=missing[0],
                hint=f"Pass {what}= as one of the adata.obs columns.",
            )
        frame = data.obs[cols].reset_index(drop=True)
    elif isinstance(value, pd.DataFrame):
        frame = value
    elif isinstance(value, pd.Series):
        frame = value.to_frame()
    else:
        arr = np.asarray(value, dtype=object)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(
                f"`{what}` must be 1-D (one value per sample); got shape {arr.shape} instead",
                column=what,
                hint=f"Pass {what}= with one entry per row of X.",
            )
        frame = pd.DataFrame(arr)
    named = _is_anndata(data) or isinstance(data, pd.DataFrame)
    if named and not isinstance(frame.index, pd.RangeIndex) and len(frame) == n:
        idx = pd.Index(frame.index.astype(str))
        if idx.equals(obs_names) or not idx.isin(obs_names).all():
            frame = frame.reset_index(drop=True)
        else:
            frame = frame.set_axis(idx).reindex(obs_names).reset_index(drop=True)
    if len(frame) != n:
        raise InputError(
            f"`{what}` has {len(frame)} values but X has {n} rows",
            column=what,
            hint=f"Pass {what}= with one entry per row of X, in the same order.",
        )
    return frame.reset_index(drop=True)


def _labels(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row's value, -1 when missing; the values as strings, sorted) of a
    one-column frame. Values whose strings agree are one class (as ``astype(str)`` would)."""
    if frame.shape[1] != 1:
        raise InputError(
            f"`target` must be one column; got {frame.shape[1]} columns instead",
            column="target",
            hint="Pass a single column (e.g. df['batch']).",
        )
    codes, uniques = pd.factorize(frame.iloc[:, 0], use_na_sentinel=True)
    as_text = np.array([str(u) for u in uniques], dtype=object)
    names, inverse = np.unique(as_text, return_inverse=True)
    lookup = np.append(inverse.reshape(-1), -1)  # code -1 (missing) stays -1
    return lookup[codes].astype(np.int64), names


def _group_codes(frame: pd.DataFrame) -> np.ndarray:
    """One code per sample; samples sharing any group value get the same code (components)."""
    from scipy.sparse.csgraph import connected_components

    n = len(frame)
    if frame.shape[1] == 1:
        s = frame.iloc[:, 0]
        codes = pd.factorize(s.astype(str).where(s.notna()), use_na_sentinel=True)[0]
        missing = codes < 0
        codes[missing] = codes.max(initial=-1) + 1 + np.arange(missing.sum())
        return codes
    rows, cols, offset = [], [], n
    for c in frame.columns:
        s = frame[c]
        codes = pd.factorize(s.astype(str).where(s.notna()), use_na_sentinel=True)[0]
        ok = codes >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(codes[ok] + offset)
        offset += int(codes.max(initial=-1)) + 1
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(offset, offset))
    return connected_components(graph, directed=False)[1][:n]
