"""A data loader that refuses to build a train/test split that leaks (no PyTorch needed).

    python examples/loader.py            # split grouped by patient: passes, prints the sizes
    python examples/loader.py --naive    # split sample by sample: refused, prints why (exit 1)

By default it loads the tiny cohort of ``examples/snakemake/make_data.py`` (two samples per
patient, written to a temporary folder); pass ``--features`` and ``--metadata`` for your own
files. The checks are plain functions imported from biodata_guard; ``Report.raise_for_errors()``
turns their findings into one exception that carries the whole report.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from biodata_guard import Finding, GuardError, Report
from biodata_guard.alignment import ORDER_MISMATCH, check_alignment
from biodata_guard.leakage import check_duplicate_samples, check_group_overlap, check_id_overlap
from biodata_guard.split import group_split


@dataclass
class Split:
    """A train/test split that passed the leakage checks."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    samples: pd.DataFrame  # the sample sheet, aligned to the rows of X, with the split column
    report: Report  # what was checked (informative findings included)


def assign_split(
    samples: pd.DataFrame,
    *,
    label_col: str,
    group_col: str | None,
    test_size: float = 0.25,
    seed: int = 0,
) -> pd.Series:
    """``"train"`` / ``"test"`` per sample: grouped by ``group_col`` and stratified by label
    (:func:`biodata_guard.split.group_split`, the code of ``python -m biodata_guard split``), or
    (``group_col=None``) sample by sample, the way a quick ``train_test_split`` does it."""
    from sklearn.model_selection import StratifiedKFold

    if group_col is not None:
        return group_split(
            samples, label_col=label_col, group_cols=[group_col], test_size=test_size, seed=seed
        )
    y = samples[label_col].astype(str).to_numpy()
    folds = StratifiedKFold(n_splits=max(2, round(1 / test_size)), shuffle=True, random_state=seed)
    _, test = next(folds.split(np.zeros(len(y)), y))
    split = np.full(len(y), "train", dtype=object)
    split[test] = "test"
    return pd.Series(split, index=samples.index, name="split")


def load_split(
    features: str | Path,
    metadata: str | Path,
    *,
    id_col: str = "sample_id",
    label_col: str = "label",
    group_col: str = "patient_id",
    split_col: str | None = None,
    group_split: bool = True,
    test_size: float = 0.25,
    seed: int = 0,
) -> Split:
    """Load features + sample sheet, split them, and refuse the split if it leaks.

    Raises
    ------
    GuardError
        When any check reports an error: ids that do not match, the same patient on both sides,
        or the same sample (or an identical feature vector) on both sides. ``err.report`` holds
        every finding with its evidence and the fix.
    """
    X = pd.read_csv(features, index_col=0)
    samples = pd.read_csv(metadata)
    feat_name, meta_name = Path(features).name, Path(metadata).name

    # 1. Same samples on both sides? Rows are paired by id below, so a different order is fine;
    #    missing or duplicated ids are not.
    findings: list[Finding] = [
        f
        for f in check_alignment(
            X.index, samples[id_col], left_name=feat_name, right_name=meta_name, key=id_col
        )
        if f.check != ORDER_MISMATCH
    ]
    Report(findings=findings).raise_for_errors()
    samples = samples.set_index(id_col).loc[X.index.astype(str)].reset_index()

    # 2. The split: the one in the sample sheet, or a new one.
    if split_col is None:
        split_col = "split"
        samples[split_col] = assign_split(
            samples,
            label_col=label_col,
            group_col=group_col if group_split else None,
            test_size=test_size,
            seed=seed,
        ).to_numpy()

    # 3. Does it leak? Same id, same patient, or the same feature vector on both sides.
    findings += check_id_overlap(
        samples, split_col=split_col, id_col=id_col, name=meta_name, label_col=label_col
    )
    findings += check_group_overlap(
        samples, split_col=split_col, group_cols=[group_col], name=meta_name, label_col=label_col
    )
    findings += check_duplicate_samples(
        X, samples[split_col].to_numpy(), name=feat_name, split_col=split_col, label_col=label_col
    )
    report = Report(findings=findings, seed=seed).raise_for_errors()

    # 4. Only now hand out arrays.
    train = (samples[split_col] == "train").to_numpy()
    values = X.to_numpy(dtype=np.float32)
    y = samples[label_col].to_numpy()
    return Split(values[train], values[~train], y[train], y[~train], samples, report)


def _demo_files(folder: Path) -> tuple[Path, Path]:
    path = Path(__file__).resolve().parent / "snakemake" / "make_data.py"
    spec = importlib.util.spec_from_file_location("make_data", path)
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    make_data.main(["--out", str(folder)])
    return folder / "features.csv", folder / "metadata.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, help="samples x genes CSV, first column = id")
    parser.add_argument("--metadata", type=Path, help="sample sheet CSV")
    parser.add_argument("--id-col", default="sample_id")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--group-col", default="patient_id")
    parser.add_argument("--split-col", help="use this existing split column instead of splitting")
    parser.add_argument("--naive", action="store_true", help="split sample by sample (leaks)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.features is None or args.metadata is None:
            args.features, args.metadata = _demo_files(Path(tmp))
        try:
            split = load_split(
                args.features,
                args.metadata,
                id_col=args.id_col,
                label_col=args.label_col,
                group_col=args.group_col,
                split_col=args.split_col,
                group_split=not args.naive,
                seed=args.seed,
            )
        except GuardError as err:
            print(f"refused: {err.message}", file=sys.stderr)
            for f in err.report.failing() if err.report else []:
                print(f"  [{f.severity}] {f.check}: {f.message}", file=sys.stderr)
                print(f"    fix: {f.hint}", file=sys.stderr)
            return 1
    print(
        f"train {split.X_train.shape[0]} x {split.X_train.shape[1]}, "
        f"test {split.X_test.shape[0]} x {split.X_test.shape[1]}; "
        f"no leak across {args.group_col} ({len(split.report.findings)} informative finding(s))"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
