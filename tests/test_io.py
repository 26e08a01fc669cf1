import gzip

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from biodata_guard.errors import InputError
from biodata_guard.io import read_features, read_h5ad, read_table
from tests._synth import gene_names, nb_counts


@pytest.fixture
def counts_frame():
    X = nb_counts(12, 30, seed=1)
    return pd.DataFrame(
        X, index=pd.Index([f"S{i}" for i in range(12)], name="sample_id"), columns=gene_names(30)
    )


def test_csv_tsv_gzip_and_parquet_read_the_same(tmp_path, counts_frame):
    counts_frame.to_csv(tmp_path / "x.csv")
    counts_frame.to_csv(tmp_path / "x.tsv.gz", sep="\t")
    counts_frame.to_parquet(tmp_path / "x.parquet")
    views = [read_features(tmp_path / n).view for n in ("x.csv", "x.tsv.gz", "x.parquet")]
    for v in views:
        assert v.shape == (12, 30)
        assert list(v.obs_names[:2]) == ["S0", "S1"]
        np.testing.assert_array_equal(v.X, counts_frame.to_numpy())


def test_features_x_samples_table_is_transposed_when_columns_match_sample_ids(
    tmp_path, counts_frame
):
    counts_frame.T.to_csv(tmp_path / "genes_by_samples.csv")
    fi = read_features(tmp_path / "genes_by_samples.csv", sample_ids=counts_frame.index)
    assert fi.view.shape == (12, 30)
    assert list(fi.view.obs_names) == list(counts_frame.index)
    forced = read_features(tmp_path / "genes_by_samples.csv", orientation="samples_x_features")
    assert forced.view.shape == (30, 12)


def test_h5ad_in_memory_and_backed_without_densifying(tmp_path):
    X = sp.random(50, 40, density=0.1, format="csr", random_state=0, dtype=np.float32)
    a = ad.AnnData(X=X, obs=pd.DataFrame(index=[f"c{i}" for i in range(50)]))
    a.var_names = [f"g{i}" for i in range(40)]
    a.write_h5ad(tmp_path / "a.h5ad")
    mem = read_features(tmp_path / "a.h5ad")
    assert not mem.view.backed and mem.view.is_sparse
    backed = read_h5ad(tmp_path / "a.h5ad", backed=True)
    fi = read_features(backed)
    assert fi.view.backed and fi.view.is_sparse
    blocks = list(fi.view.iter_chunks(16))
    assert [(a, b) for a, b, _ in blocks] == [(0, 16), (16, 32), (32, 48), (48, 50)]
    assert all(sp.issparse(b) for _, _, b in blocks)
    assert abs(sum(b.sum() for _, _, b in blocks) - X.sum()) < 1e-3
    backed.file.close()


def bad_case(tmp_path, kind):
    """Write one bad file; return its path and a phrase the error must contain."""
    if kind == "missing":
        return tmp_path / "absent.csv", "does not exist"
    p = (
        tmp_path
        / {
            "empty": "empty.csv",
            "header_only": "header.csv",
            "wrong_delimiter": "semicolons.csv",
            "tsv_named_csv": "tabs.csv",
            "duplicate_columns": "dupcols.csv",
            "ragged": "ragged.csv",
            "truncated_gzip": "cut.csv.gz",
            "not_utf8": "latin1.csv",
            "pickle": "frame.pkl",
            "corrupt_parquet": "broken.parquet",
        }[kind]
    )
    if kind == "empty":
        p.write_bytes(b"")
        return p, "file is empty"
    if kind == "header_only":
        p.write_text("sample_id,label\n")
        return p, "has a header but no rows"
    if kind == "wrong_delimiter":
        p.write_text("sample_id;label\nS1;a\nS2;b\n")
        return p, "semicolon-delimited"
    if kind == "tsv_named_csv":
        p.write_text("sample_id\tlabel\nS1\ta\n")
        return p, "tab-delimited"
    if kind == "duplicate_columns":
        p.write_text("sample_id,label,label\nS1,a,b\n")
        return p, "duplicate column names ['label']"
    if kind == "ragged":
        p.write_text("sample_id,label\nS1,a\nS2,b,c,d\n")
        return p, "inconsistent numbers of fields"
    if kind == "truncated_gzip":
        data = gzip.compress(("sample_id,label\n" + "S1,a\n" * 5000).encode())
        p.write_bytes(data[: len(data) // 2])
        return p, "truncated or corrupt"
    if kind == "not_utf8":
        p.write_bytes("sample_id,label\nS1,caf\xe9\n".encode("latin1"))
        return p, "not UTF-8"
    if kind == "pickle":
        p.write_bytes(b"\x80\x04N.")
        return p, "can execute arbitrary code"
    if kind == "corrupt_parquet":
        p.write_bytes(b"PAR1 this is not parquet")
        return p, "not a readable Parquet file"
    raise AssertionError(kind)


TABLE_CASES = [
    "missing",
    "empty",
    "header_only",
    "wrong_delimiter",
    "tsv_named_csv",
    "duplicate_columns",
    "ragged",
    "truncated_gzip",
    "not_utf8",
    "pickle",
    "corrupt_parquet",
]


@pytest.mark.parametrize("kind", TABLE_CASES)
def test_bad_tables_raise_input_error_naming_the_file(tmp_path, kind):
    path, phrase = bad_case(tmp_path, kind)
    with pytest.raises(InputError) as info:
        read_table(path, min_columns=2)
    assert path.name in info.value.message
    assert phrase in info.value.message
    assert info.value.hint


def test_non_numeric_matrix_cell_is_named_by_row_and_column(tmp_path, counts_frame):
    df = counts_frame.astype(object)
    df.iloc[3, 5] = "n/a?"
    df.to_csv(tmp_path / "x.csv")
    with pytest.raises(InputError) as info:
        read_features(tmp_path / "x.csv")
    msg = info.value.message
    assert "x.csv" in msg and counts_frame.columns[5] in msg and "'S3'" in msg
    assert info.value.column == counts_frame.columns[5]


def test_duplicate_sample_ids_in_a_matrix(tmp_path, counts_frame):
    df = counts_frame.copy()
    df.index = ["S0"] * 2 + list(df.index[2:])
    df.to_csv(tmp_path / "x.csv")
    with pytest.raises(InputError, match="sample ids are not unique: 1 duplicated"):
        read_features(tmp_path / "x.csv")


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_corrupt_h5ad(tmp_path, how):
    p = tmp_path / "cells.h5ad"
    if how == "truncated":
        a = ad.AnnData(X=np.ones((20, 5), dtype=np.float32))
        a.write_h5ad(p)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    else:
        p.write_bytes(b"\x89HDF\r\n" + b"\x00" * 100)
    with pytest.raises(InputError) as info:
        read_h5ad(p)
    assert "cells.h5ad" in info.value.message and "truncated or corrupt" in info.value.message
    assert info.value.check == "input.unreadable"


def test_h5ad_with_duplicate_obs_names(tmp_path):
    a = ad.AnnData(X=np.ones((3, 2), dtype=np.float32))
    a.obs_names = ["c1", "c1", "c2"]
    a.write_h5ad(tmp_path / "dup.h5ad")
    with pytest.raises(InputError, match="obs_names are not unique"):
        read_h5ad(tmp_path / "dup.h5ad")


def test_large_parquet_matrices_are_streamed_by_row_group(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biodata_guard._stream import shared_pass
    from biodata_guard.io import ParquetRows, read_features
    from biodata_guard.leakage import _RowHashes

    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, (250, 12)).astype(float)
    df = pd.DataFrame(X, columns=[f"g{j}" for j in range(12)])
    df.insert(0, "sample_id", [f"s{i}" for i in range(250)])
    path = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=40)
    streamed = read_features(path, backed=True)
    whole = read_features(path, backed=False)
    assert isinstance(streamed.view.X, ParquetRows)
    assert streamed.view.X.starts.tolist() == [0, 40, 80, 120, 160, 200, 240, 250]
    assert list(streamed.view.obs_names) == list(whole.view.obs_names)
    np.testing.assert_array_equal(streamed.view.rows(slice(35, 85)), X[35:85])
    np.testing.assert_array_equal(streamed.view.rows(np.array([3, 41, 249])), X[[3, 41, 249]])
    hashes = []
    for fi in (streamed, whole):
        shared_pass(fi.view, {"h": _RowHashes(*fi.view.shape)}, chunk_size=64)
        hashes.append(fi.view.memo["h"].h1)
    np.testing.assert_array_equal(*hashes)


def test_streamed_parquet_with_a_text_column_is_refused_by_name(tmp_path):
    from biodata_guard.io import read_features

    df = pd.DataFrame({"sample_id": ["a", "b"], "g1": [1.0, 2.0], "note": ["x", "y"]})
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    with pytest.raises(
        InputError, match=r"m.parquet: matrix columns must be numeric; column 'note'"
    ):
        read_features(path, backed=True)
