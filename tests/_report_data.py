"""A hand-built, seeded Report with findings and plot artifacts for every check group."""

from __future__ import annotations

import numpy as np

from biodata_guard import Finding, Report

#: A message with markup in it: renderers must escape it.
HOSTILE = 'tpm.csv, gene <b>"x"</b>: <script>alert(1)</script> & more'


def sample_report(*, fail_on: str = "error", seed: int = 0) -> Report:
    """A report with 2 errors, 2 warnings and 3 info findings across six groups, plus artifacts
    shaped the way the concern modules record them."""
    rng = np.random.default_rng(seed)
    n = 300
    batch = [f"B{i % 3}" for i in range(n)]
    split = ["test" if rng.random() < 0.25 else "train" for _ in range(n)]
    x = (rng.normal(size=n) + np.array([int(b[1]) * 2.5 for b in batch])).tolist()
    y = rng.normal(size=n).tolist()
    a = rng.normal(size=500)
    b = a * 0.8 + rng.normal(scale=0.6, size=500)
    findings = [
        Finding(
            "leakage.group_overlap",
            "error",
            "metadata.csv, patient_id: 14 of 212 patients have samples in both train and test "
            "(e.g. P0000, P0001, P0002, P0003, P0004 … and 9 more)",
            evidence={
                "n_shared_groups": 14,
                "n_groups": 212,
                "n_test_samples_shared": 37,
                "groups_per_split": {"train": 160, "test": 66},
            },
            subjects=[f"P{i:04d}" for i in range(14)],
            hint="Split with sklearn.model_selection.StratifiedGroupKFold(groups=patient_id).",
            input="metadata.csv",
        ),
        Finding(
            "units.mismatch",
            "error",
            HOSTILE,
            evidence={"detected": {"counts.csv": "counts", "tpm.csv": "tpm"}},
            hint="Convert both matrices to the same units.",
            input="tpm.csv",
        ),
        Finding(
            "balance.imbalance",
            "warning",
            "labels.csv, label: minority class 'rare' is 6 of 300 (2%)",
            evidence={
                "class_counts": {
                    "train": {"common": 220, "rare": 4},
                    "test": {"common": 74, "rare": 2},
                },
                "ratio": 36.7,
            },
            hint="Weight classes: LogisticRegression(class_weight='balanced').",
            input="labels.csv",
        ),
        Finding(
            "batch.predictable",
            "warning",
            "counts.csv, batch: a probe predicts batch with 0.91 balanced accuracy (chance 0.33)",
            evidence={"balanced_accuracy": 0.91, "chance": 0.333, "p_value": 0.0099},
            hint="Correct batch effects (scanpy.pp.combat) or stratify the split by batch.",
            input="counts.csv",
        ),
        Finding("balance.summary", "info", "labels.csv, label: 2 classes", input="labels.csv"),
        Finding(
            "build.detected",
            "info",
            "variants.vcf: GRCh38 (score 0.98)",
            evidence={"scores": {"GRCh37": 0.1, "GRCh38": 0.98}},
            input="variants.vcf",
        ),
        Finding("replicates.ceiling", "info", "counts.csv: replicate r = 0.80", input="counts.csv"),
    ]
    artifacts = {
        "balance": {
            "class_counts": {
                "train": {"common": 220, "rare": 4},
                "test": {"common": 74, "rare": 2},
            }
        },
        "leakage": {
            "group_overlap": {
                "patient_id": {
                    "groups_per_split": {"train": 160, "test": 66},
                    "shared_groups": {"train|test": 14},
                }
            }
        },
        "probe": {
            "embedding": {"x": x, "y": y, "batch": batch, "split": split},
            "fold_accuracy": {
                "batch": [0.9, 0.92, 0.88, 0.93, 0.91],
                "shuffled": [0.33, 0.35, 0.31, 0.34, 0.3],
            },
        },
        "replicates": {"pairs": {"a": a.tolist(), "b": b.tolist()}},
        "build": {
            "variants.vcf": {
                "chrom_ends": {"GRCh37": 0.1, "GRCh38": 0.98},
                "rsid_positions": {"GRCh37": 0.05, "GRCh38": 0.95},
            }
        },
        # The shape units.audit_units writes (asinh-even histogram bins).
        "units": {
            "matrices": [
                {
                    "name": "counts.csv",
                    "role": None,
                    "units": "counts",
                    "sample_sums": rng.lognormal(16, 0.3, 200).tolist(),
                    "histogram": {
                        "scale": "asinh",
                        "edges": np.sinh(np.arange(0.0, 5.5, 0.5)).tolist(),
                        "counts": [50, 30, 10, 5, 3, 1, 1, 0, 0, 0],
                    },
                },
                {
                    "name": "tpm.csv",
                    "role": None,
                    "units": "tpm",
                    "sample_sums": [1e6] * 100,
                    "histogram": {
                        "scale": "asinh",
                        "edges": np.sinh(np.arange(0.0, 5.5, 0.5)).tolist(),
                        "counts": [10, 20, 30, 20, 10, 5, 3, 1, 1, 0],
                    },
                },
            ]
        },
    }
    return Report(
        findings=findings,
        inputs=[
            {
                "name": "counts.csv",
                "path": "/data/counts.csv",
                "sha256": "ab" * 32,
                "shape": [300, 2000],
                "kind": "features",
            },
            {
                "name": "metadata.csv",
                "path": "/data/metadata.csv",
                "sha256": "cd" * 32,
                "shape": [300, 6],
                "kind": "metadata",
            },
        ],
        config={"inputs": {"features": ["/data/counts.csv"]}, "columns": {"label": "label"}},
        fail_on=fail_on,
        artifacts=artifacts,
        elapsed_seconds=1.5,
    )
