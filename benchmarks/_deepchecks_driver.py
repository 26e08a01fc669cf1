"""Run deepchecks' tabular ``train_test_validation`` suite on two Parquet frames; print JSON.

Runs inside the deepchecks venv that ``benchmarks/bench_deepchecks.py`` builds (deepchecks 0.19.1
needs numpy<2 / pandas<2.3), never in the project's environment:

    benchmarks/_data/venv-deepchecks/bin/python benchmarks/_deepchecks_driver.py TRAIN TEST

The frames hold ``sample_id`` (passed as deepchecks' index column), the features (every other
column but ``label`` and those named by ``--drop``; ``--cat`` names the categorical ones). The
last stdout line is JSON: times (import, read, suite), and per check whether any condition
failed, its condition details and a short summary of its value.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings

T0 = time.perf_counter()


def _scalar(x):
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)[:80]
    return round(f, 6) if math.isfinite(f) else str(f)


def _summary(value, top: int = 6):
    """A small JSON-safe summary of a check's value: scalars kept, dicts of numbers cut to the
    ``top`` largest, frames to their shape."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return _scalar(value) if not isinstance(value, (bool, str)) else value
    if isinstance(value, dict):
        items = list(value.items())
        numeric = [(k, v) for k, v in items if isinstance(v, (int, float))]
        if numeric and len(numeric) == len(items) and len(items) > top:
            items = sorted(numeric, key=lambda kv: -abs(kv[1]) if kv[1] == kv[1] else 0)[:top]
        return {str(k): _summary(v, top) for k, v in items[: max(top, 12)]}
    if hasattr(value, "shape"):
        return f"<{type(value).__name__} {tuple(value.shape)}>"
    if isinstance(value, (list, tuple)):
        return [_summary(v, top) for v in value[:top]]
    return str(value)[:120]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train")
    p.add_argument("test")
    p.add_argument("--cat", default="centre", help="categorical feature columns")
    p.add_argument("--drop", default="patient_id", help="columns that are not features")
    p.add_argument("--index", default="sample_id")
    p.add_argument("--label", default="label")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    import deepchecks
    import pandas as pd
    from deepchecks.core.check_result import CheckFailure
    from deepchecks.tabular import Dataset
    from deepchecks.tabular.suites import train_test_validation

    t_import = time.perf_counter() - T0
    t1 = time.perf_counter()
    train = pd.read_parquet(args.train)
    test = pd.read_parquet(args.test)
    t_read = time.perf_counter() - t1
    cat = [c for c in args.cat.split(",") if c]
    drop = {c for c in args.drop.split(",") if c}
    features = [c for c in train.columns if c not in {args.index, args.label, *drop}]
    t2 = time.perf_counter()
    kwargs = {
        "label": args.label,
        "features": features,
        "cat_features": cat,
        "index_name": args.index,
    }
    ds_train = Dataset(train, **kwargs)
    ds_test = Dataset(test, **kwargs)
    result = train_test_validation().run(
        train_dataset=ds_train, test_dataset=ds_test, with_display=False
    )
    t_suite = time.perf_counter() - t2
    checks = []
    for r in result.results:
        if isinstance(r, CheckFailure):
            checks.append({"check": r.header, "error": str(r.exception)[:300], "fired": False})
            continue
        conditions = [
            {
                "name": str(c.name),
                "passed": bool(c.is_pass()),
                "category": str(getattr(c.category, "name", c.category)),
                "details": str(c.details)[:600],
            }
            for c in r.conditions_results
        ]
        checks.append(
            {
                "check": r.get_header(),
                "fired": any(not c["passed"] for c in conditions),
                "conditions": conditions,
                "value": _summary(r.value),
            }
        )
    out = {
        "deepchecks": deepchecks.__version__,
        "pandas": pd.__version__,
        "import_seconds": t_import,
        "read_seconds": t_read,
        "seconds": t_suite,
        "shape_train": list(train.shape),
        "shape_test": list(test.shape),
        "checks": checks,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
