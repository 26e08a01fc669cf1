"""The real-data part of ``bench_leakage.py``: false alarms and recall of
``leakage.near_duplicates`` on scanpy's 10x PBMC 68k (700 cells)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import time
from pathlib import Path

import numpy as np

#: Where the data packages may be installed without their dependencies (as in the tests).
REAL_DATA_ENV = "BIODATA_GUARD_REAL_DATA"
INSTALL = "pip install --no-deps scanpy==1.12.4"
FRACTIONS = (0.005, 0.01, 0.05)
#: Copy noise in gene SDs: the target case, then harder copies (information only).
NOISES = (0.1, 0.3, 0.5)


def pbmc_path() -> Path | None:
    """scanpy's ``10x_pbmc68k_reduced.h5ad``, found without importing scanpy."""
    spec = None
    if os.environ.get(REAL_DATA_ENV):
        spec = importlib.machinery.PathFinder.find_spec("scanpy", [os.environ[REAL_DATA_ENV]])
    spec = spec or importlib.util.find_spec("scanpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets/10x_pbmc68k_reduced.h5ad"
    return path if path.is_file() else None


def _layers(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    import anndata as ad
    import scipy.sparse as sp

    adata = ad.read_h5ad(path)
    raw = adata.raw.X.toarray() if sp.issparse(adata.raw.X) else np.asarray(adata.raw.X)
    layers = {"z-scored .X": np.asarray(adata.X, np.float64), "log1p .raw": raw.astype(float)}
    return layers, adata.obs["louvain"].astype(str).to_numpy()


def _random_split(n: int, seed: int) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(n) < 0.2, "test", "train").astype(object)


def _group_split(groups: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.model_selection import GroupShuffleSplit

    gss = GroupShuffleSplit(1, test_size=0.2, random_state=seed)
    train, test = next(gss.split(groups, groups=groups))
    split = np.empty(len(groups), dtype=object)
    split[train], split[test] = "train", "test"
    return split


def _alarms(layers: dict, groups: np.ndarray, seeds: int) -> int:
    from biodata_guard.leakage import check_near_duplicates

    total = 0
    for name, X in layers.items():
        for kind in ("random", "group-aware"):
            alarms = 0
            for seed in range(seeds):
                split = (
                    _random_split(len(X), seed) if kind == "random" else _group_split(groups, seed)
                )
                found = check_near_duplicates(X, split, seed=seed)
                alarms += any(f.severity != "info" for f in found)
            total += alarms
            verdict = "ok" if alarms == 0 else "MISSED"
            print(f"  clean {kind:<11} splits of {name:<12}: {alarms} of {seeds} alarmed "
                  f"(target 0: {verdict})", flush=True)  # fmt: skip
    return total


def _recall(X: np.ndarray, fraction: float, noise: float, seeds: int) -> tuple[int, int, int, int]:
    """(planted, found, splits flagged, pairs listed that were not planted)."""
    from biodata_guard.leakage import check_near_duplicates

    planted = found = flagged = extra = 0
    sd = X.std(axis=0)
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        split = _random_split(len(X), seed)
        test, train = np.flatnonzero(split == "test"), np.flatnonzero(split == "train")
        k = max(1, math.ceil(fraction * len(test)))
        dst, src = rng.choice(test, k, replace=False), rng.choice(train, k, replace=False)
        Y = X.copy()
        Y[dst] = X[src] + rng.normal(0.0, noise, (k, X.shape[1])) * sd
        listed = set()
        for f in check_near_duplicates(Y, split, seed=seed):
            if f.severity != "info":
                flagged += 1
                listed = {tuple(p) for p in f.subjects}
        truth = {(str(d), str(s)) for d, s in zip(dst, src, strict=True)}
        planted, found, extra = (
            planted + k,
            found + len(truth & listed),
            extra + len(listed - truth),
        )
    return planted, found, flagged, extra


def main(*, seeds: int = 20) -> int:
    path = pbmc_path()
    if path is None:
        print(f"real data: scanpy's 10x_pbmc68k_reduced.h5ad not found ({INSTALL}); skipped")
        return 0
    t = time.perf_counter()
    layers, groups = _layers(path)
    print(f"real data: 10x PBMC 68k reduced, 700 cells x 765 genes ({path})", flush=True)
    _alarms(layers, groups, seeds)
    X = layers["z-scored .X"]
    for noise in NOISES:
        for fraction in FRACTIONS:
            planted, found, flagged, extra = _recall(X, fraction, noise, seeds)
            target = noise == NOISES[0] and fraction >= 0.01
            verdict = (
                (" (target all: " + ("ok" if found == planted else "MISSED") + ")")
                if target
                else ""
            )
            print(f"  near copies, noise {noise:g} SD, {fraction:.1%} of test: found {found} of "
                  f"{planted}{verdict}; {flagged} of {seeds} splits flagged; {extra} pairs listed "
                  "that were not planted", flush=True)  # fmt: skip
    print(f"  real-data benchmark: {time.perf_counter() - t:.0f} s", flush=True)
    return 0
