"""Scale benchmark cases: seeded synthetic inputs, their read floor and the full audit.

Three kinds of input, each generated once (seeded, chunk by chunk) under ``benchmarks/_data/``:

- ``scrna``: a sparse scRNA-like counts matrix written as h5ad (CSR), ``obs`` = donor, batch,
  split, label, with planted problems: exact duplicate cells across train/test, a donor shared
  between the splits, a batch whose expression is shifted, and one batch appended in CPM
  instead of counts.
- ``bulk``: a genes x samples CSV.gz of negative-binomial counts (the layout of featureCounts /
  GEO matrices) plus a sample sheet, with a second cohort merged in TPM, exact duplicate samples
  across train/test, patients in both splits and a recruiting centre that gives the label away.
- ``variants``: a chrom/pos/rsid/ref/alt TSV in one genome build (GRCh38): the package's marker
  SNPs plus random positions.

Every measurement runs in a child process of its own (``python -m benchmarks.bench_scale
measure ...``) so that the parent reads that child's peak RSS with ``os.wait4``; the child
prints one JSON line with its timings. :mod:`benchmarks.run` drives the suite.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "_data"
PACKAGE_DATA = ROOT / "biodata_guard" / "data"

#: Check groups each case would use; the ones not (yet) in ``biodata_guard.audit.plan()``
#: are skipped by the child and reported as such.
WANTED_GROUPS: dict[str, tuple[str, ...]] = {
    "scrna": ("alignment", "balance", "leakage", "units", "probe"),
    "bulk": ("alignment", "balance", "leakage", "units", "probe"),
    "variants": ("build",),
    "frames": ("alignment", "balance", "leakage", "units", "probe"),
}

#: Budget for the per-sample statistics of the memory target: 64 float64 values per sample
#: (units scan ~30, row hashes 3, the 50-d float32 near-duplicate embedding ~25, moments).
PER_SAMPLE_BYTES = 64 * 8


# --------------------------------------------------------------------------------- child runs


@dataclass
class ChildRun:
    """One child process: its JSON result, wall time and peak RSS (from ``os.wait4``)."""

    result: dict[str, Any]
    wall: float
    peak_rss_mb: float
    returncode: int
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and "error" not in self.result


def run_child(argv: list[str], *, cwd: Path = ROOT) -> ChildRun:
    """Run ``argv``; peak RSS is that process's own ``ru_maxrss`` (KiB on Linux)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    result: dict[str, Any] = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue
            break
    if proc.returncode != 0 and "error" not in result:
        tail = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:]
        result["error"] = tail[0] if tail else f"exit code {proc.returncode}"
    return ChildRun(result, wall, usage.ru_maxrss / 1024, proc.returncode, stderr[-4000:])


def child_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.bench_scale", *args]


def _rss_now_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One input of the suite: where it lives and how it is made."""

    kind: str  # scrna | bulk | variants
    label: str  # e.g. "scrna 100k"
    folder: Path
    params: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return (self.folder / "meta.json").is_file()

    def load_meta(self) -> dict[str, Any]:
        self.meta = json.loads((self.folder / "meta.json").read_text())
        return self.meta


def scrna_case(
    n_cells: int,
    *,
    label: str,
    n_genes: int = 20_000,
    density: float = 0.025,
    seed: int = 0,
    data: Path = DATA,
) -> Case:
    name = f"scale_scrna_{n_cells}x{n_genes}_d{density:g}_s{seed}_v23"
    params = {"n_cells": n_cells, "n_genes": n_genes, "density": density, "seed": seed}
    return Case("scrna", label, data / name, params)


def bulk_case(
    n_samples: int = 500, n_genes: int = 60_000, *, label: str, seed: int = 0, data: Path = DATA
) -> Case:
    name = f"scale_bulk_{n_samples}x{n_genes}_s{seed}"
    return Case(
        "bulk", label, data / name, {"n_samples": n_samples, "n_genes": n_genes, "seed": seed}
    )


def variants_case(n_rows: int = 1_000_000, *, label: str, seed: int = 0, data: Path = DATA) -> Case:
    name = f"scale_variants_{n_rows}_s{seed}"
    return Case("variants", label, data / name, {"n_rows": n_rows, "seed": seed})


GENERATORS = {
    "scrna": "generate_scrna",
    "bulk": "generate_bulk",
    "variants": "generate_variants",
}


def generate(case: Case, *, in_process: bool = False) -> float:
    """Generate ``case`` in a child process (its memory stays out of this one), or here when
    ``in_process`` (small inputs: saves an interpreter start); seconds taken."""
    if case.ready:
        return 0.0
    if in_process:
        t0 = time.perf_counter()
        globals()[GENERATORS[case.kind]](case.folder, **case.params)
        return time.perf_counter() - t0
    params = json.dumps(case.params)
    run = run_child(child_argv("generate", case.kind, str(case.folder), params))
    if not run.ok:
        raise RuntimeError(f"generating {case.label} failed: {run.result.get('error')}")
    return run.wall


# --------------------------------------------------------------------------------- scRNA data

_CELL_TYPES = 8
#: Donors (4 per batch, the last batch 3) and batches, with the CPM batch: 99 from 100k cells on
#: (the 1M layout of issue 8, now also at 100k; 10k: 10 + 1), so the shifted batch B001 is ~1 %
#: of the cells among 99 batches: the probe's hardest planted case (issue 23).
_N_DONORS = 391
_TYPE_P = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])
_GEN_CHUNK = 10_000


def _gene_model(rng: np.random.Generator, n_genes: int) -> tuple[np.ndarray, dict]:
    """Per-gene Poisson means and the gene-sampling CDFs per (cell type, shifted batch)."""
    w = rng.lognormal(0.0, 1.5, n_genes)
    w /= w.mean()
    lam = np.clip(0.3 * w, 0.05, 30.0)
    modules = [rng.choice(n_genes, min(100, n_genes), replace=False) for _ in range(_CELL_TYPES)]
    shift_module = rng.choice(n_genes, min(300, n_genes), replace=False)
    cdfs = {}
    for t in range(_CELL_TYPES):
        for s in (False, True):
            wt = w.copy()
            wt[modules[t]] *= 5.0
            if s:
                wt[shift_module] *= 4.0
            c = np.cumsum(wt)
            cdfs[t, s] = c / c[-1]
    return lam, cdfs


def _oversampling(cdf: np.ndarray, k: float) -> float:
    """Draws per cell (as a multiple of ``k``) that give ``k`` distinct genes on average:
    popular genes are drawn more than once."""
    p = np.diff(cdf, prepend=0.0)
    lo, hi = k, 4.0 * k
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        distinct = float(np.sum(-np.expm1(mid * np.log1p(-np.minimum(p, 1 - 1e-12)))))
        lo, hi = (mid, hi) if distinct < k else (lo, mid)
    return 0.5 * (lo + hi) / k


def _cells(
    rng: np.random.Generator,
    types: np.ndarray,
    shifted: np.ndarray,
    *,
    n_genes: int,
    density: float,
    lam: np.ndarray,
    cdfs: dict,
    factors: dict,
):
    """CSR counts for one block of cells: ~density x n_genes detected genes per cell drawn by
    gene popularity (cell-type modules, a shifted module in the shifted batch), 1 + Poisson."""
    import scipy.sparse as sp

    nr = len(types)
    per_cell = rng.binomial(n_genes, density, nr)
    rows, cols = [], []
    for (t, s), cdf in cdfs.items():
        sel = np.flatnonzero((types == t) & (shifted == s))
        if not len(sel):
            continue
        draws = np.rint(per_cell[sel] * factors[t, s]).astype(np.int64)
        r = np.repeat(sel, draws)
        rows.append(r)
        cols.append(np.searchsorted(cdf, rng.random(len(r)), side="right"))
    keys = np.unique(np.concatenate(rows).astype(np.int64) * n_genes + np.concatenate(cols))
    r, c = keys // n_genes, keys % n_genes
    size = rng.lognormal(0.0, 0.3, nr)
    mu = lam[c] * size[r] * np.where(shifted[r], 1.5, 1.0)
    data = (1.0 + rng.poisson(mu)).astype(np.float32)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=nr))])
    return sp.csr_matrix((data, c.astype(np.int32), indptr), shape=(nr, n_genes))


def _scrna_obs(n: int, rng: np.random.Generator, quick: bool) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    n_dup = 20 if quick else (50 if n < 50_000 else 100)
    n_cpm = max(200, n // 50)
    n_main = n - n_dup - n_cpm
    n_donors = max(8, min(_N_DONORS, n_main // 250))
    donor = np.arange(n_main) * n_donors // n_main
    batch = donor // 4
    split = np.where(donor % 5 == 4, "test", "train").astype(object)
    shared = np.flatnonzero(donor == 0)
    split[shared[len(shared) // 2 :]] = "test"  # donor D0000 in both splits
    label = rng.choice(_CELL_TYPES, n, p=_TYPE_P)
    first = min(_GEN_CHUNK, n_main)
    pool = np.flatnonzero((split[:first] == "train") & (donor[:first] != 0))
    sources = np.sort(rng.choice(pool, n_dup, replace=False))
    label[n_main : n_main + n_dup] = label[sources]
    test_donor = 4
    donors = [f"D{d:04d}" for d in donor]
    donors += [f"D{test_donor:04d}"] * n_dup
    donors += ["Dcpm0"] * (n_cpm - n_cpm // 2) + ["Dcpm1"] * (n_cpm // 2)
    batches = [f"B{b:03d}" for b in batch] + [f"B{test_donor // 4:03d}"] * n_dup
    batches += ["Bcpm"] * n_cpm
    splits = list(split) + ["test"] * n_dup + ["train"] * (n_cpm - n_cpm // 2)
    splits += ["test"] * (n_cpm // 2)
    obs = pd.DataFrame(
        {
            "donor": pd.Categorical(donors),
            "batch": pd.Categorical(batches),
            "split": pd.Categorical(splits),
            "label": pd.Categorical(
                [f"type{t}" for t in label], categories=[f"type{t}" for t in range(_CELL_TYPES)]
            ),
        },
        index=pd.Index([f"cell{i:07d}" for i in range(n)]),
    )
    planted = {
        "duplicates": {
            "n": n_dup,
            "rows": list(range(n_main, n_main + n_dup)),
            "sources": sources.tolist(),
        },
        "shared_donor": "D0000",
        "shifted_batch": "B001",
        "cpm_batch": {"batch": "Bcpm", "n": n_cpm, "first_row": n - n_cpm},
    }
    return obs, planted


def generate_scrna(folder: Path, n_cells: int, n_genes: int, density: float, seed: int) -> None:
    """Write ``folder/cells.h5ad`` chunk by chunk (never the whole matrix in memory)."""
    import anndata as ad
    import h5py
    import pandas as pd
    import scipy.sparse as sp
    from anndata.io import sparse_dataset, write_elem

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lam, cdfs = _gene_model(rng, n_genes)
    factors = {key: _oversampling(cdf, density * n_genes) for key, cdf in cdfs.items()}
    obs, planted = _scrna_obs(n_cells, rng, quick=n_cells < 10_000)
    types = obs["label"].cat.codes.to_numpy()  # categories type0..type7 sort as codes
    shifted = (obs["batch"] == planted["shifted_batch"]).to_numpy()
    n_dup = planted["duplicates"]["n"]
    n_cpm = planted["cpm_batch"]["n"]
    n_main = n_cells - n_dup - n_cpm
    sources = np.array(planted["duplicates"]["sources"])
    var = pd.DataFrame(index=pd.Index([f"ENSG{j:011d}" for j in range(n_genes)]))
    path = folder / "cells.h5ad"
    tmp = folder / "cells.partial.h5ad"

    def make(start: int, stop: int) -> sp.csr_matrix:
        return _cells(
            rng,
            types[start:stop],
            shifted[start:stop],
            n_genes=n_genes,
            density=density,
            lam=lam,
            cdfs=cdfs,
            factors=factors,
        )

    blocks = iter(
        [(s, min(s + _GEN_CHUNK, n_main), "counts") for s in range(0, n_main, _GEN_CHUNK)]
        + [(n_main, n_main + n_dup, "dup")]
        + [
            (s, min(s + _GEN_CHUNK, n_cells), "cpm")
            for s in range(n_main + n_dup, n_cells, _GEN_CHUNK)
        ]
    )
    kept = None
    nnz = 0
    start, stop, _ = next(blocks)
    first = make(start, stop)
    kept = first[sources]  # exact copies of these train cells go to test
    nnz += first.nnz
    ad.AnnData(X=first, obs=obs.iloc[: first.shape[0]], var=var).write_h5ad(tmp)
    with h5py.File(tmp, "a") as f:
        X = sparse_dataset(f["X"])
        for start, stop, what in blocks:
            if what == "dup":
                block = kept
            else:
                block = make(start, stop)
                if what == "cpm":
                    totals = np.asarray(block.sum(axis=1)).ravel()
                    scale = np.repeat(1e6 / totals, np.diff(block.indptr))
                    block.data = (block.data * scale).astype(np.float32)
            nnz += block.nnz
            X.append(block)
        del f["obs"]
        write_elem(f, "obs", obs)
    tmp.replace(path)
    csr_bytes_per_nnz = 4 + 4  # float32 value + int32 column index
    meta = {
        "kind": "scrna",
        "files": {"features": path.name},
        "shape": [n_cells, n_genes],
        "nnz": nnz,
        "density": nnz / (n_cells * n_genes),
        "target_density": density,
        "bytes": path.stat().st_size,
        "csr_bytes_per_row": csr_bytes_per_nnz * nnz / n_cells + 8,
        "obs_bytes": int(obs.memory_usage(deep=True).sum()),
        "planted": planted,
    }
    (folder / "meta.json").write_text(json.dumps(meta))


# --------------------------------------------------------------------------------- bulk data


def _bulk_design(n_samples: int, rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    n_patients = n_samples // 2
    patient = np.repeat(np.arange(n_patients), 2)[:n_samples]
    case = rng.random(n_patients) < 0.4
    diagnosis = np.where(case[patient], "case", "control")
    test_patient = rng.random(n_patients) < 0.2
    split = np.where(test_patient[patient], "test", "train").astype(object)
    train_patients = np.flatnonzero(~test_patient)
    n_shared = max(2, n_patients // 80)
    shared = np.sort(rng.choice(train_patients, n_shared, replace=False))
    for p in shared:  # second sample of a training patient goes to test
        split[2 * p + 1] = "test"
    # the recruiting centre gives the label away: cases from C1/C2, controls from C3..C8 (95%)
    centre = np.where(
        diagnosis == "case", rng.choice(["C1", "C2"], n_samples), rng.choice(6, n_samples) + 3
    ).astype(object)
    centre = np.array([c if str(c).startswith("C") else f"C{c}" for c in centre], dtype=object)
    flip = rng.random(n_samples) < 0.05
    centre[flip] = rng.choice([f"C{i}" for i in range(1, 9)], flip.sum())
    n_b = n_samples // 5
    cohort = np.array(["A"] * (n_samples - n_b) + ["B"] * n_b, dtype=object)
    ids = np.array([f"S{i:04d}" for i in range(n_samples)], dtype=object)
    # exact duplicates: test samples (cohort A, not of shared patients) re-uploaded copies of
    # training samples under a new id
    n_dup = max(2, n_samples // 150)
    a_rows = np.flatnonzero(cohort == "A")
    test_rows = np.setdiff1d(a_rows[split[a_rows] == "test"], 2 * shared + 1)
    train_rows = a_rows[split[a_rows] == "train"]
    dup_rows = np.sort(rng.choice(test_rows, n_dup, replace=False))
    dup_sources = rng.choice(train_rows, n_dup, replace=False)
    diagnosis = diagnosis.astype(object)
    diagnosis[dup_rows] = diagnosis[dup_sources]
    sheet = pd.DataFrame(
        {
            "sample_id": ids,
            "patient_id": [f"P{p:04d}" for p in patient],
            "centre": centre,
            "cohort": cohort,
            "diagnosis": diagnosis,
            "split": split,
        }
    )
    planted = {
        "duplicates": {
            "n": n_dup,
            "samples": ids[dup_rows].tolist(),
            "sources": ids[dup_sources].tolist(),
        },
        "shared_patients": [f"P{p:04d}" for p in shared],
        "label_column": "centre",
        "tpm_cohort": {"cohort": "B", "n": n_b},
    }
    return sheet, planted


def generate_bulk(folder: Path, n_samples: int, n_genes: int, seed: int) -> None:
    """Genes x samples CSV.gz of NB counts (cohort B as TPM), a sample sheet and gene lengths,
    generated in gene blocks (two passes: TPM needs each sample's length-normalised total)."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sheet, planted = _bulk_design(n_samples, rng)
    gene_mean = np.exp(rng.normal(0.0, 2.5, n_genes))  # many genes near zero, a few huge
    lengths = np.clip(rng.lognormal(np.log(2_000), 0.8, n_genes), 200, 100_000).round()
    depth = rng.lognormal(0.0, 0.25, n_samples) * 20e6 / gene_mean.sum()
    genes = np.array([f"ENSG{j:011d}" for j in range(n_genes)], dtype=object)
    b_cols = np.flatnonzero((sheet["cohort"] == "B").to_numpy())
    b_pos = {int(j): k for k, j in enumerate(b_cols)}
    ids = sheet["sample_id"].to_numpy()
    pos = {s: i for i, s in enumerate(ids)}
    dup = [pos[s] for s in planted["duplicates"]["samples"]]
    src = [pos[s] for s in planted["duplicates"]["sources"]]
    step = 5_000
    r = 5.0  # NB size (dispersion 0.2)

    def block(b: int) -> np.ndarray:
        g = slice(b, min(b + step, n_genes))
        brng = np.random.default_rng([seed, b])
        mu = gene_mean[g][:, None] * depth[None, :]
        counts = brng.negative_binomial(r, r / (r + mu)).astype(np.int64)
        counts[:, dup] = counts[:, src]
        return counts

    rpk_total = np.zeros(n_samples)
    for b in range(0, n_genes, step):
        rpk_total += (block(b) / lengths[b : b + step, None] * 1e3).sum(axis=0)
    counts_path = folder / "counts.csv.gz"
    nonzero = 0
    with gzip.open(counts_path, "wt", compresslevel=4, newline="") as fh:
        for b in range(0, n_genes, step):
            counts = block(b)
            tpm = counts[:, b_cols] / lengths[b : b + step, None] * 1e3 / rpk_total[b_cols] * 1e6
            columns = {"gene_id": genes[b : b + step]}
            for j, sample in enumerate(ids):
                k = b_pos.get(j)
                columns[sample] = counts[:, j] if k is None else np.round(tpm[:, k], 4)
            pd.DataFrame(columns).to_csv(fh, index=False, header=b == 0)
            nonzero += int((counts != 0).sum())
    sheet.to_csv(folder / "samples.csv", index=False)
    pd.DataFrame({"gene_id": genes, "length": lengths.astype(int)}).to_csv(
        folder / "gene_lengths.tsv", sep="\t", index=False
    )
    meta = {
        "kind": "bulk",
        "files": {
            "features": counts_path.name,
            "metadata": "samples.csv",
            "gene_lengths": "gene_lengths.tsv",
        },
        "shape": [n_samples, n_genes],
        "nnz": nonzero,
        "density": nonzero / (n_samples * n_genes),
        "bytes": counts_path.stat().st_size,
        "dense_bytes_per_row": n_genes * 8,
        "obs_bytes": int(sheet.memory_usage(deep=True).sum()),
        "planted": planted,
    }
    (folder / "meta.json").write_text(json.dumps(meta))


# --------------------------------------------------------------------------------- variants


def generate_variants(folder: Path, n_rows: int, seed: int) -> None:
    """chrom/pos/rsid/ref/alt TSV, GRCh38 only: the marker SNPs (with their GRCh38 positions and
    rsids) plus random positions within the GRCh38 chromosome lengths (rsid '.')."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    markers = pd.read_csv(PACKAGE_DATA / "marker_snps_GRCh37_GRCh38.tsv.gz", sep="\t", dtype=str)
    markers = markers.dropna(subset=["chrom_GRCh38", "pos_GRCh38"])
    if len(markers) > n_rows // 2:
        markers = markers.sample(n_rows // 2, random_state=seed)
    sizes = pd.read_csv(PACKAGE_DATA / "chrom_sizes_GRCh37_GRCh38.tsv", sep="\t", dtype=str)
    sizes = sizes[sizes["chrom"].isin([*map(str, range(1, 23)), "X"])]
    markers = markers[markers["chrom_GRCh38"].isin(sizes["chrom"])]
    length = sizes["length_GRCh38"].astype(np.int64).to_numpy()
    n_random = n_rows - len(markers)
    chrom_idx = rng.choice(len(sizes), n_random, p=length / length.sum())
    pos = (rng.random(n_random) * length[chrom_idx]).astype(np.int64) + 1
    chrom = np.concatenate(
        [markers["chrom_GRCh38"].to_numpy(), sizes["chrom"].to_numpy()[chrom_idx]]
    )
    position = np.concatenate([markers["pos_GRCh38"].astype(np.int64).to_numpy(), pos])
    rsid = np.concatenate([markers["rsid"].to_numpy(), np.full(n_random, ".", dtype=object)])
    bases = np.array(list("ACGT"))
    ref = rng.integers(0, 4, n_rows)
    alt = (ref + rng.integers(1, 4, n_rows)) % 4
    order_key = {c: i for i, c in enumerate(sizes["chrom"])}
    frame = pd.DataFrame(
        {
            "chrom": ["chr" + str(c) for c in chrom],
            "pos": position,
            "rsid": rsid,
            "ref": bases[ref],
            "alt": bases[alt],
        }
    )
    frame["_k"] = [order_key[str(c)] for c in chrom]
    frame = frame.sort_values(["_k", "pos"], kind="stable").drop(columns="_k")
    path = folder / "variants.tsv"
    frame.to_csv(path, sep="\t", index=False)
    meta = {
        "kind": "variants",
        "files": {"coords": path.name},
        "shape": [n_rows, frame.shape[1]],
        "nnz": n_rows,
        "bytes": path.stat().st_size,
        "planted": {"build": "GRCh38", "n_markers": len(markers), "n_random": int(n_random)},
    }
    (folder / "meta.json").write_text(json.dumps(meta))


# --------------------------------------------------------------------------------- measurements


def floor(kind: str, folder: Path, chunk_size: int) -> dict[str, Any]:
    """Time to read the input once, the plain way (anndata backed + row chunks / pandas)."""
    meta = json.loads((folder / "meta.json").read_text())
    files = meta["files"]
    if kind == "scrna":
        import anndata as ad

        base = _rss_now_mb()
        t0 = time.perf_counter()
        adata = ad.read_h5ad(folder / files["features"], backed="r")
        n = adata.n_obs
        nnz = 0
        for start in range(0, n, chunk_size):
            nnz += adata.X[start : min(n, start + chunk_size)].nnz
        seconds = time.perf_counter() - t0
        adata.file.close()
        return {"seconds": seconds, "rss_base_mb": base, "nnz_read": nnz}
    import pandas as pd

    base = _rss_now_mb()
    t0 = time.perf_counter()
    if kind == "bulk":
        df = pd.read_csv(folder / files["features"])
        pd.read_csv(folder / files["metadata"])
    else:
        df = pd.read_csv(folder / files["coords"], sep="\t")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_base_mb": base, "rows_read": len(df)}


def audit_options(kind: str, folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    files = meta["files"]
    if kind == "scrna":
        return {
            "features": [str(folder / files["features"])],
            "split_col": "split",
            "group_cols": ["donor"],
            "batch_col": "batch",
            "label_col": "label",
        }
    if kind == "bulk":
        return {
            "features": [str(folder / files["features"])],
            "metadata": str(folder / files["metadata"]),
            "gene_lengths": str(folder / files["gene_lengths"]),
            "id_col": "sample_id",
            "split_col": "split",
            "group_cols": ["patient_id"],
            "batch_col": "cohort",
            "label_col": "diagnosis",
        }
    return {"coords": [str(folder / files["coords"])], "expected_build": "GRCh38"}


def _import_stack() -> None:
    """Import the libraries an audit uses before the baseline RSS is read: the memory target
    is about data, not about the interpreter and its libraries."""
    import anndata  # noqa: F401
    import faiss  # noqa: F401  (the near-duplicate index)
    import h5py  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import rich.progress  # noqa: F401
    import scipy.sparse
    import scipy.stats
    import sklearn.decomposition
    import sklearn.model_selection  # noqa: F401

    from biodata_guard.stream._fused import Request, block_stats

    # numba and the shared pass's compiled kernel (loaded from its on-disk cache)
    block_stats(scipy.sparse.csr_matrix(np.ones((2, 2), np.float32)), 0, Request(scan=True))


def findings_summary(report: Any) -> list[dict[str, Any]]:
    return [
        {
            "check": f.check,
            "severity": str(f.severity),
            "message": f.message[:2000],  # the probe names a recognised batch late in it
            "subjects": [str(x) for x in list(f.subjects)[:20]],
            "evidence": {
                k: v for k, v in f.evidence.items() if isinstance(v, (int, float, str, bool))
            },
        }
        for f in report.findings
    ]


def run_audit(
    kind: str,
    folder: Path,
    *,
    chunk_size: int,
    h5ad_mode: str = "backed",
    options: dict[str, Any] | None = None,
    wanted: tuple[str, ...] | None = None,
    exclude: tuple[str, ...] = (),
    probe_shared_pass: bool = False,
) -> dict[str, Any]:
    """The full ``audit()`` on the case's files, as the CLI gate runs it (paths in, report
    rendered to JSON); ``h5ad_mode="backed"`` opens h5ad backed whatever its size.
    ``probe_shared_pass`` lets the probe take its rows from the audit's shared pass (its
    ``stream_accumulators``; not wired in the package yet: the audit would keep the other
    groups' statistics until the probe has run)."""
    from biodata_guard.audit import audit, plan

    _import_stack()
    meta = json.loads((folder / "meta.json").read_text()) if options is None else {}
    opts = options if options is not None else audit_options(kind, folder, meta)
    wanted = wanted or WANTED_GROUPS[kind]
    CHECK_GROUPS = [g.name for g in plan()]
    groups = [g for g in wanted if g in CHECK_GROUPS and g not in exclude]
    probe_timer = _time_group("probe", probe_shared_pass) if "probe" in groups else None
    base = _rss_now_mb()
    t0 = time.perf_counter()
    compiles = _watch_compiles() if "probe" in groups else None  # imports jax: timed, as before
    jax_import = time.perf_counter() - t0
    stream = "always" if h5ad_mode == "backed" else "auto"
    report = audit(only=groups, chunk_size=chunk_size, seed=0, stream=stream, **opts)
    report.to_json()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "probe_s": None if probe_timer is None else probe_timer["seconds"],
        "jax_import_s": None if compiles is None else round(jax_import, 3),
        "compile_s": None if compiles is None else round(sum(compiles), 3),
        "rss_base_mb": base,
        "groups_ran": groups,
        "groups_missing": [g for g in wanted if g not in CHECK_GROUPS],
        "groups_excluded": [g for g in wanted if g in CHECK_GROUPS and g in exclude],
        "findings": findings_summary(report),
    }


#: JAX's compile stages (tracing, lowering to MLIR, XLA compile): their sum is "compile s".
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


def _watch_compiles() -> list[float]:
    """Seconds of every JAX compile stage in this process from now on (a monitoring listener)."""
    import jax.monitoring

    seconds: list[float] = []

    def listen(event: str, duration: float, **_: Any) -> None:
        if event in COMPILE_EVENTS:
            seconds.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    return seconds


def _time_group(name: str, probe_shared_pass: bool = False) -> dict[str, float]:
    """Wrap check group ``name``'s run (in this benchmark process's registry) to time it; with
    ``probe_shared_pass``, also give the probe group its shared-pass statistics."""
    import dataclasses

    from biodata_guard import registry
    from biodata_guard.probe import _audit

    registry.load()
    group = registry.get_group(name)
    if probe_shared_pass and name == "probe" and group.shared_pass is None:
        group = dataclasses.replace(group, shared_pass=_audit.stream_accumulators)
    box = {"seconds": 0.0}

    def timed(ctx: Any) -> Any:
        start = time.perf_counter()
        try:
            return group.run(ctx)
        finally:
            box["seconds"] += time.perf_counter() - start

    registry._GROUPS[name] = dataclasses.replace(group, run=timed)
    return box


class PeakStack:
    """Poll this process's RSS from a thread; remember the main thread's stack (its
    ``biodata_guard`` frames) each time the RSS reaches a new high: where the peak happens."""

    def __init__(self, interval: float = 0.01) -> None:
        import threading

        self.interval = interval
        self.peak_mb = 0.0
        self.stack: list[str] = []
        self.history: list[tuple[float, str]] = []  # (RSS MB, innermost frame) at each new high
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import traceback

        while not self._stop.wait(self.interval):
            rss = _rss_now_mb()
            if rss <= self.peak_mb + 8:  # ignore small moves
                continue
            self.peak_mb = rss
            frame = sys._current_frames().get(self._main)
            if frame is None:
                continue
            frames = [
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_stack(frame)
                if "biodata_guard" in f.filename or "sklearn" in f.filename
            ]
            self.stack = frames[-8:]
            self.history.append((round(rss), frames[-1] if frames else "?"))

    def __enter__(self) -> PeakStack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------------- child CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="child process of the scale benchmarks")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("kind", choices=("scrna", "bulk", "variants"))
    g.add_argument("folder", type=Path)
    g.add_argument("params", help="JSON")
    m = sub.add_parser("measure")
    m.add_argument("what", choices=("floor", "audit"))
    m.add_argument("kind", choices=("scrna", "bulk", "variants"))
    m.add_argument("folder", type=Path)
    m.add_argument("--chunk-size", type=int, default=10_000)
    m.add_argument("--h5ad-mode", choices=("backed", "auto"), default="backed")
    m.add_argument("--exclude", default="", help="check groups to leave out (comma-separated)")
    m.add_argument("--profile", type=Path, help="write a cProfile of the measured call here")
    m.add_argument(
        "--probe-shared-pass",
        action="store_true",
        help="the probe takes its rows from the audit's shared pass (not wired in the package)",
    )
    m.add_argument(
        "--peak-stack", action="store_true", help="report the stack at each new RSS high"
    )
    args = p.parse_args(argv)
    try:
        if args.command == "generate":
            params = json.loads(args.params)
            globals()[GENERATORS[args.kind]](args.folder, **params)
            print(json.dumps({"generated": str(args.folder)}))
            return 0
        if args.what == "floor":
            call = lambda: floor(args.kind, args.folder, args.chunk_size)  # noqa: E731
        else:
            call = lambda: run_audit(  # noqa: E731
                args.kind,
                args.folder,
                chunk_size=args.chunk_size,
                h5ad_mode=args.h5ad_mode,
                exclude=tuple(g for g in args.exclude.split(",") if g),
                probe_shared_pass=args.probe_shared_pass,
            )
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            result = prof.runcall(call)
            prof.dump_stats(str(args.profile))
        elif args.peak_stack:
            with PeakStack() as peak:
                result = call()
            result["peak_stack"] = {
                "rss_mb": peak.peak_mb,
                "stack": peak.stack,
                "highs": peak.history[-60:],
            }
        else:
            result = call()
    except Exception as exc:  # reported in the table, not as a traceback
        import traceback

        traceback.print_exc()
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
