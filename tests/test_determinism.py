"""Determinism: the same audit gives byte-identical JSON (apart from the elapsed time), and a
dense CSV and a sparse h5ad of the same data give the same findings."""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard import registry
from tests.conftest import DEMO, run_cli

ELAPSED = re.compile(rb'"elapsed_seconds": [0-9.eE+-]+')
#: Evidence that describes the representation, not the data: the matrix dtype (the h5ad is
#: written as float32, as scanpy does) and the AnnData slot (".X") that was audited.
REPRESENTATION = {"dtype", "role"}


def audit_json(*args, out: Path) -> bytes:
    proc = run_cli("audit", *args, "--no-probe", "--format", "json", "--out", out)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    return out.read_bytes()


def in_parallel(*calls):
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_two_demo_audits_give_byte_identical_json(tmp_path):
    config = DEMO / "audit.yaml"
    first, second = in_parallel(
        lambda: audit_json("--config", config, out=tmp_path / "a.json"),
        lambda: audit_json("--config", config, out=tmp_path / "b.json"),
    )
    assert len(ELAPSED.findall(first)) == 1
    assert ELAPSED.sub(b"", first) == ELAPSED.sub(b"", second)


def _normalise(value, names: tuple[str, ...]):
    """Replace the feature file's name (in strings and keys) and drop representation-only
    evidence, so that two encodings of the same data compare equal."""
    if isinstance(value, dict):
        return {
            _normalise(k, names): _normalise(v, names)
            for k, v in value.items()
            if k not in REPRESENTATION
        }
    if isinstance(value, list):
        return [_normalise(v, names) for v in value]
    if isinstance(value, str):
        for name in names:
            value = value.replace(name, "<features>")
    return value


def findings_of(report: bytes, names: tuple[str, ...]) -> list[tuple]:
    """(check, severity, evidence) of each finding, with the input's name left out."""
    return sorted(
        (f["check"], f["severity"], json.dumps(_normalise(f["evidence"], names), sort_keys=True))
        for f in json.loads(report)["findings"]
    )


def test_dense_csv_and_sparse_h5ad_give_the_same_findings(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DEMO / "data", data)
    counts = pd.read_csv(data / "counts.csv.gz", index_col=0)
    adata = ad.AnnData(
        X=sp.csr_matrix(counts.to_numpy(dtype=np.float32)),
        obs=pd.DataFrame(index=counts.index.astype(str)),
        var=pd.DataFrame(index=counts.columns.astype(str)),
    )
    adata.write_h5ad(data / "counts.h5ad")
    shutil.copy(DEMO / "audit.yaml", tmp_path / "audit.yaml")  # paths relative to the config
    config = tmp_path / "audit.yaml"
    dense, sparse = in_parallel(
        lambda: audit_json("--config", config, out=tmp_path / "dense.json"),
        lambda: audit_json(
            "--config", config, "--features", data / "counts.h5ad", out=tmp_path / "sparse.json"
        ),
    )
    names = ("counts.csv.gz", "counts.h5ad")
    assert [i["kind"] for i in json.loads(sparse)["inputs"] if i["name"] == "counts.h5ad"] == [
        "h5ad"
    ]
    # checks of AnnData structure run on the h5ad only; the CSV run says they were not checked
    anndata_only = {
        c.id for c in registry.checks() if "anndata" in c.needs
    }  # fmt: skip
    assert anndata_only  # the features group declares them
    dense_found = [f for f in findings_of(dense, names) if f[0] not in anndata_only]
    sparse_found = [f for f in findings_of(sparse, names) if f[0] not in anndata_only]
    assert dense_found == sparse_found
