"""Read-only inputs, no network, no pickle: guarantees that hold for every audit."""

import os
import stat
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biodata_guard.audit import audit
from tests._synth import cohort, nb_counts
from tests.conftest import run_cli, sha256

_WATCH: dict = {"active": False, "writes": [], "sockets": []}


def _hook(event, args):
    if not _WATCH["active"]:
        return
    if event == "open" and len(args) >= 2:
        path, mode = args[0], args[1]
        flags = args[2] if len(args) > 2 else 0
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            _WATCH["writes"].append(str(path))
    elif event.startswith("socket."):
        _WATCH["sockets"].append(event)
        raise OSError("network access during an audit")


sys.addaudithook(_hook)


@pytest.fixture
def inputs(tmp_path):
    sheet = cohort(30, seed=2)
    X = pd.DataFrame(nb_counts(len(sheet), 40, seed=2), index=sheet["sample_id"])
    X.columns = [f"G{j}" for j in range(40)]
    X.to_csv(tmp_path / "x.csv.gz")
    sheet.to_csv(tmp_path / "meta.csv", index=False)
    a = ad.AnnData(X=X.to_numpy(dtype=np.float32), obs=sheet.set_index("sample_id"))
    a.write_h5ad(tmp_path / "cells.h5ad")
    return tmp_path


def test_audit_opens_nothing_for_writing_and_touches_no_socket(inputs):
    files = sorted(inputs.iterdir())
    before = {p: (sha256(p), p.stat().st_mtime_ns) for p in files}
    _WATCH.update(active=True, writes=[], sockets=[])
    try:
        for features in ("x.csv.gz", "cells.h5ad"):
            audit(features=inputs / features, metadata=inputs / "meta.csv",
                  label_col="label", split_col="split", only={"alignment", "balance"})  # fmt: skip
    finally:
        _WATCH["active"] = False
    assert [w for w in _WATCH["writes"] if str(inputs) in w] == []
    assert _WATCH["sockets"] == []
    assert {p: (sha256(p), p.stat().st_mtime_ns) for p in files} == before


def test_audit_runs_in_a_read_only_directory(inputs):
    for p in inputs.iterdir():
        p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    inputs.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        proc = run_cli("audit", "--features", inputs / "cells.h5ad", "--label-col", "label",
                       "--split-col", "split", "--format", "json", "--out", "-")  # fmt: skip
    finally:
        inputs.chmod(stat.S_IRWXU)
    assert proc.returncode == 0, proc.stderr
    assert '"ok": true' in proc.stdout


def test_pickle_is_refused(tmp_path):
    pd.DataFrame({"a": [1]}).to_pickle(tmp_path / "x.pkl")
    proc = run_cli("audit", "--features", tmp_path / "x.pkl")
    assert proc.returncode == 2
    assert "x.pkl" in proc.stderr and "arbitrary code" in proc.stderr
