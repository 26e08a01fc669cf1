"""Placeholder training step: a nearest-centroid classifier on log-CPM, saved as JSON.

It stands for whatever trains your model; the point of the workflow is that it only runs after
``biodata_guard audit`` passed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True, type=Path)
    parser.add_argument("--metadata", required=True, type=Path)
    parser.add_argument("--id-col", default="sample_id")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--split-col", default="split")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    X = pd.read_csv(args.features, index_col=0)
    meta = pd.read_csv(args.metadata).set_index(args.id_col).loc[X.index]  # align by id
    logcpm = np.log1p(X.to_numpy(float) / X.to_numpy(float).sum(1, keepdims=True) * 1e6)
    train = (meta[args.split_col] == "train").to_numpy()
    labels = meta[args.label_col].astype(str).to_numpy()
    classes = sorted(set(labels[train]))
    centroids = np.stack([logcpm[train & (labels == c)].mean(0) for c in classes])
    dist = ((logcpm[:, None, :] - centroids[None]) ** 2).sum(-1)
    predicted = np.asarray(classes)[dist.argmin(1)]
    model = {
        "kind": "nearest_centroid_logcpm",
        "classes": classes,
        "genes": list(X.columns),
        "centroids": centroids.round(6).tolist(),
        "train_accuracy": float((predicted[train] == labels[train]).mean()),
        "test_accuracy": float((predicted[~train] == labels[~train]).mean()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, indent=1) + "\n")
    print(f"model written to {args.out} (test accuracy {model['test_accuracy']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
