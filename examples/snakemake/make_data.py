"""Write a tiny seeded cohort for the Snakemake and Nextflow examples: clean, or leaking patients.

    python make_data.py --out data            # clean: every patient in one split
    python make_data.py --out data --leaky    # 6 patients have samples in both train and test

Files: ``features.csv`` (samples x genes, negative-binomial counts, first column ``sample_id``)
and ``metadata.csv`` (sample_id, patient_id, label, split, batch).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

N_PATIENTS = 40
SAMPLES_PER_PATIENT = 2
N_GENES = 60
#: Patients whose second sample is moved to the other split in the leaky dataset.
N_LEAKED_PATIENTS = 6


def make_cohort(*, leaky: bool = False, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feature table and the sample sheet (both with a ``sample_id`` column)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(N_PATIENTS):
        label = "tumour" if p % 2 == 0 else "normal"
        split = "test" if p % 4 in (0, 1) and p < 16 else "train"  # 8 test patients, balanced
        for j in range(SAMPLES_PER_PATIENT):
            s = split
            if leaky and p < N_LEAKED_PATIENTS * 2 and p % 2 == 0 and j == 1:
                s = "train" if split == "test" else "test"
            rows.append(
                {
                    "sample_id": f"P{p:03d}_S{j}",
                    "patient_id": f"P{p:03d}",
                    "label": label,
                    "split": s,
                    "batch": f"B{rng.integers(3)}",
                }
            )
    meta = pd.DataFrame(rows)
    gene_mean = rng.lognormal(np.log(40.0), 1.2, N_GENES)
    depth = rng.lognormal(0.0, 0.25, len(meta))
    mu = np.outer(depth, gene_mean)
    counts = rng.negative_binomial(2.5, 2.5 / (2.5 + mu))
    features = pd.DataFrame(counts, columns=[f"ENSG{i:011d}" for i in range(N_GENES)])
    features.insert(0, "sample_id", meta["sample_id"])
    return features, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data"), help="folder to write into")
    parser.add_argument("--leaky", action="store_true", help="let patients cross the split")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    features, meta = make_cohort(leaky=args.leaky, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    features.to_csv(args.out / "features.csv", index=False)
    meta.to_csv(args.out / "metadata.csv", index=False)
    print(f"wrote {args.out / 'features.csv'} and {args.out / 'metadata.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
