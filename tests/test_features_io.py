"""The reference feature-list reader (--reference-features): every form it takes, and the bad
inputs it refuses with a clear InputError (exit 2 in the CLI)."""

from __future__ import annotations

import gzip

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from biodata_guard import audit
from biodata_guard.config import AuditConfig, load_config
from biodata_guard.errors import InputError
from biodata_guard.io.feature_list import read_feature_list

IDS = ["ENSG00000141510", "ENSG00000012048", "ENSG00000157764"]


def test_one_id_per_line_with_comments_and_blank_lines(tmp_path):
    p = tmp_path / "genes.txt"
    p.write_text("# model v3 features\n\nENSG00000141510\nENSG00000012048\n\nENSG00000157764\n")
    ids = read_feature_list(p)
    assert list(ids) == IDS and ids.name == "lines"


def test_one_id_per_line_with_a_header_gzipped(tmp_path):
    p = tmp_path / "genes.txt.gz"
    p.write_bytes(gzip.compress(("gene_id\n" + "\n".join(IDS) + "\n").encode()))
    ids = read_feature_list(p)
    assert list(ids) == IDS and ids.name == "gene_id"


def test_a_csv_column_named_like_feature_ids(tmp_path):
    p = tmp_path / "weights.csv"
    pd.DataFrame({"weight": [0.1, 0.2, 0.3], "symbol": ["TP53", "BRCA1", "BRAF"]}).to_csv(
        p, index=False
    )
    assert list(read_feature_list(p)) == ["TP53", "BRCA1", "BRAF"]
    assert list(read_feature_list(p, column="weight")) == ["0.1", "0.2", "0.3"]


def test_a_tsv_without_named_columns_gives_its_first(tmp_path):
    p = tmp_path / "model.tsv"
    p.write_text("feat\tcoef\n" + "".join(f"{g}\t1.0\n" for g in IDS))
    assert list(read_feature_list(p)) == IDS


def test_parquet_column(tmp_path):
    p = tmp_path / "model.parquet"
    pd.DataFrame({"gene_id": IDS, "coef": [1.0, 2.0, 3.0]}).to_parquet(p)
    assert list(read_feature_list(p)) == IDS


def test_h5ad_var_names_are_read_without_obs_or_x(tmp_path):
    a = ad.AnnData(np.zeros((0, 3), dtype=np.float32), var=pd.DataFrame(index=IDS))
    a.write_h5ad(tmp_path / "model.h5ad")  # no cells at all: only var is read
    ids = read_feature_list(tmp_path / "model.h5ad")
    assert list(ids) == IDS and ids.name == "var_names"


def test_zarr_store_var_names(tmp_path):
    ad.AnnData(np.ones((2, 3), dtype=np.float32), var=pd.DataFrame(index=IDS)).write_zarr(
        tmp_path / "model.zarr"
    )
    assert list(read_feature_list(tmp_path / "model.zarr")) == IDS


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: None, "file does not exist"),
        (lambda p: p.write_bytes(b""), "file is empty (0 bytes)"),
        (lambda p: p.write_text("# only a comment\n\n"), "holds no feature ids"),
        (lambda p: p.write_text("gene_id\n"), "holds no feature ids"),
        (lambda p: p.write_bytes(b"ENSG1\x00\x01\x02\n"), "holds NUL bytes"),
        (lambda p: p.write_bytes(b"G\xe9ne\nTP53\n"), "is not UTF-8 text"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_bad_text_lists(tmp_path, make, needle):
    p = tmp_path / "genes.txt"
    make(p)
    with pytest.raises(InputError) as info:
        read_feature_list(p)
    assert needle in info.value.message and "genes.txt" in info.value.message


def test_truncated_gzip(tmp_path):
    p = tmp_path / "genes.txt.gz"
    p.write_bytes(gzip.compress(("\n".join(IDS * 2000)).encode())[:200])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_feature_list(p)


def test_empty_cells_and_unknown_columns(tmp_path):
    p = tmp_path / "model.csv"
    p.write_text("gene_id,coef\nENSG00000141510,1\n,2\nENSG00000157764,3\n")
    with pytest.raises(InputError, match=r"column 'gene_id' has 1 empty cell\(s\) \(data rows 3\)"):
        read_feature_list(p)
    with pytest.raises(InputError, match="column 'symbol' not found; columns are gene_id, coef"):
        read_feature_list(p, column="symbol")


def test_truncated_h5ad(tmp_path):
    a = ad.AnnData(np.ones((50, 3), dtype=np.float32), var=pd.DataFrame(index=IDS))
    a.write_h5ad(tmp_path / "model.h5ad")
    data = (tmp_path / "model.h5ad").read_bytes()
    (tmp_path / "model.h5ad").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="not a readable h5ad file"):
        read_feature_list(tmp_path / "model.h5ad")


def test_config_key_and_relative_path(tmp_path):
    (tmp_path / "audit.yaml").write_text("inputs:\n  reference_features: genes.txt\n")
    cfg = load_config(tmp_path / "audit.yaml")
    assert cfg.reference_features == str(tmp_path / "genes.txt")
    assert AuditConfig(reference_features="x.txt").reference_features == "x.txt"


def test_a_missing_reference_stops_the_audit_naming_the_file(tmp_path):
    df = pd.DataFrame(np.ones((3, 3)), columns=IDS)
    with pytest.raises(InputError, match=r"nope\.txt: cannot read a feature list: file does not"):
        audit(features=df, reference_features=str(tmp_path / "nope.txt"), only={"features"})


def test_cli_flag_exit_2_without_traceback(tmp_path, cli):
    from conftest import assert_clean_failure

    pd.DataFrame(np.ones((3, 3)), columns=IDS, index=["a", "b", "c"]).to_csv(tmp_path / "x.csv")
    (tmp_path / "empty.txt").write_bytes(b"")
    proc = cli(
        "audit",
        "--features",
        tmp_path / "x.csv",
        "--reference-features",
        tmp_path / "empty.txt",
        "--only",
        "features",
    )
    assert_clean_failure(proc, "empty.txt", "file is empty")
