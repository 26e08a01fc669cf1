import gzip
import json
import os
import re
import shutil
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from biodata_guard import io
from biodata_guard.audit import audit
from biodata_guard.errors import InputError
from biodata_guard.io import file_sha256, read_features, read_h5ad, read_table
from tests._synth import cohort, gene_names, nb_counts, sparse_counts
from tests.conftest import assert_clean_failure, run_cli


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

    from biodata_guard.io import ParquetRows, read_features
    from biodata_guard.leakage import RowHashes
    from biodata_guard.stream import shared_pass

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
        shared_pass(fi.view, {"h": RowHashes(*fi.view.shape)}, chunk_size=64)
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


# --- AnnData zarr stores ------------------------------------------------------------------------


def _cells(seed: int = 3) -> ad.AnnData:
    """A small single-cell-like AnnData: sparse counts in X, a dense log layer, .raw, and an
    .obs sheet with a planted patient leak and a duplicated cell."""
    sheet = cohort(40, seed=seed).set_index("sample_id")
    X = nb_counts(len(sheet), 120, seed=seed).astype(np.float32)
    X[X < 20] = 0  # sparse, as scRNA counts
    X[5] = X[0]  # an exact duplicate cell
    patient = sheet["patient_id"].value_counts().index[0]
    first = sheet.index[sheet["patient_id"] == patient][0]
    sheet.loc[first, "split"] = "test" if sheet.loc[first, "split"] == "train" else "train"
    adata = ad.AnnData(sp.csr_matrix(X), obs=sheet, var=pd.DataFrame(index=gene_names(120)))
    adata.layers["logged"] = np.log1p(X)
    adata.raw = adata.copy()
    return adata


def _tree(root) -> dict:
    """Every file and folder under ``root``: its bytes (files) and mtime, by relative path."""
    return {
        p.relative_to(root).as_posix(): (
            p.read_bytes() if p.is_file() else None,
            p.stat().st_mtime_ns,
        )
        for p in sorted([root, *root.rglob("*")])
    }


def _comparable(report, names: tuple[str, ...]) -> str:
    """The report's JSON without what names the input (inputs, config paths, elapsed time)."""
    d = report.to_dict()
    for key in ("inputs", "config", "elapsed_seconds"):
        d.pop(key)
    text = json.dumps(d, sort_keys=True)
    for name in names:
        text = text.replace(name, "<features>")
    return text


@pytest.mark.parametrize("streamed", [False, True], ids=["in_memory", "streamed"])
def test_h5ad_and_zarr_of_one_anndata_give_identical_reports(tmp_path, monkeypatch, streamed):
    adata = _cells()
    adata.write_h5ad(tmp_path / "cells.h5ad")
    adata.write_zarr(tmp_path / "cells.zarr")
    if streamed:  # every store and file over the threshold: matrices stay on disk
        monkeypatch.setattr(io._files, "BACKED_THRESHOLD_BYTES", 0)
    before = _tree(tmp_path / "cells.zarr")
    options = dict(
        label_col="label",
        split_col="split",
        group_cols=["patient_id"],
        batch_col="batch",
        sex_col="sex",
        only={"alignment", "balance", "leakage", "units", "replicates"},
        chunk_size=16,
    )
    reports = {s: audit(features=tmp_path / f"cells.{s}", **options) for s in ("h5ad", "zarr")}
    assert _comparable(reports["zarr"], ("cells.zarr",)) == _comparable(
        reports["h5ad"], ("cells.h5ad",)
    )
    checks = {f.check for f in reports["zarr"].findings}
    assert {"leakage.group_overlap", "leakage.duplicate_samples", "units.detected"} <= checks
    # all three matrices (X, raw, the layer) were audited
    assert len(reports["zarr"].artifacts["units"]["matrices"]) == 3
    (record,) = reports["zarr"].inputs
    assert record["kind"] == "zarr" and record["shape"] == [adata.n_obs, adata.n_vars]
    assert record["sha256"] == file_sha256(tmp_path / "cells.zarr")
    # read-only: every file of the store byte-identical, no mtime changed, nothing added
    assert _tree(tmp_path / "cells.zarr") == before


def test_zarr_store_digest_covers_paths_and_contents(tmp_path):
    _cells().write_zarr(tmp_path / "a.zarr")
    digest = file_sha256(tmp_path / "a.zarr")
    assert re.fullmatch("[0-9a-f]{64}", digest) and digest == file_sha256(tmp_path / "a.zarr")
    shutil.copytree(tmp_path / "a.zarr", tmp_path / "b.zarr")
    assert file_sha256(tmp_path / "b.zarr") == digest  # a copy: same digest
    (tmp_path / "b.zarr" / "uns" / "note.txt").write_text("x")
    assert file_sha256(tmp_path / "b.zarr") != digest  # a file added
    (tmp_path / "b.zarr" / "uns" / "note.txt").unlink()
    (tmp_path / "b.zarr" / "obs" / "zarr.json").rename(tmp_path / "b.zarr" / "obs" / "zarr.jso")
    assert file_sha256(tmp_path / "b.zarr") != digest  # same bytes, another path


def test_zarr_sparse_x_is_streamed_in_row_blocks_and_never_loaded(tmp_path):
    import tracemalloc

    from anndata.abc import CSRDataset

    X = sparse_counts(40_000, 500, density=0.1, seed=4)
    obs = pd.DataFrame(index=[f"c{i}" for i in range(X.shape[0])])
    a = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=gene_names(500)))
    a.layers["dense"] = X[:, :50].toarray().repeat(10, axis=1)
    a.write_zarr(tmp_path / "big.zarr")
    assert not read_features(tmp_path / "big.zarr").view.backed  # small: read whole by default
    fi = read_features(tmp_path / "big.zarr", backed=True)
    view = fi.view
    assert isinstance(view.X, CSRDataset) and view.backed and view.is_sparse
    assert isinstance(fi.adata.X, CSRDataset)  # the AnnData holds no in-memory matrix either
    x_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes  # 16 MB
    tracemalloc.start()
    try:
        bounds, total = [], 0.0
        for start, stop, block in view.iter_chunks(500):
            assert sp.issparse(block) and block.shape == (stop - start, 500)
            bounds.append((start, stop))
            total += float(block.sum())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert bounds == [(s, s + 500) for s in range(0, 40_000, 500)]
    assert total == pytest.approx(float(X.sum()), rel=1e-6)
    assert peak < x_bytes / 4, (peak, x_bytes)  # a few of the store's chunks at a time
    dense = read_features(tmp_path / "big.zarr", backed=True, layer="dense").view
    assert type(dense.X).__module__.startswith("zarr") and dense.backed
    np.testing.assert_array_equal(dense.rows(slice(100, 164)), a.layers["dense"][100:164])
    np.testing.assert_array_equal(
        dense.rows(np.array([3, 999, 39_999])), a.layers["dense"][[3, 999, 39_999]]
    )


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("backed", [False, True], ids=["in_memory", "streamed"])
def test_zarr_layers_and_raw_read_as_from_h5ad(tmp_path, zarr_format, backed):
    adata = _cells()
    if zarr_format == 3:
        adata.write_zarr(tmp_path / "cells.zarr")
    else:  # format 2 (older anndata, still read) is deprecated for writing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if not hasattr(ad.settings, "zarr_write_format"):
                pytest.skip("this anndata writes zarr format 3 only")
            with ad.settings.override(zarr_write_format=2):
                adata.write_zarr(tmp_path / "cells.zarr")
        assert (tmp_path / "cells.zarr" / ".zgroup").is_file()
    fi = read_features(tmp_path / "cells.zarr", backed=backed)
    assert fi.view.backed is backed and fi.path == str(tmp_path / "cells.zarr")
    assert list(fi.adata.obs.columns) == list(adata.obs.columns)
    for layer, expected in (
        (None, adata.X),
        ("raw", adata.raw.X),
        ("logged", adata.layers["logged"]),
    ):
        view = read_features(tmp_path / "cells.zarr", backed=backed, layer=layer).view
        assert list(view.obs_names) == list(adata.obs_names)
        assert list(view.var_names) == list(adata.var_names)
        got = np.vstack([sp.csr_matrix(b).toarray() for _, _, b in view.iter_chunks(7)])
        want = expected.toarray() if sp.issparse(expected) else expected
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backed", [False, True], ids=["in_memory", "streamed"])
def test_zarr_layers_come_in_name_order_whatever_the_directory_order(tmp_path, backed):
    a = ad.AnnData(np.ones((3, 2), dtype=np.float32))
    for key in ("zz", "aa", "mm", "bb", "qq"):
        a.layers[key] = a.X.copy()
    a.write_zarr(tmp_path / "a.zarr")
    fi = read_features(tmp_path / "a.zarr", backed=backed)
    assert [k for k in fi.adata.layers if k is not None] == ["aa", "bb", "mm", "qq", "zz"]


def test_cli_audits_a_zarr_store(tmp_path):
    _cells().write_zarr(tmp_path / "cells.zarr")
    proc = run_cli("audit", "--features", tmp_path / "cells.zarr", "--label-col", "label",
                   "--split-col", "split", "--group-col", "patient_id", "--no-probe",
                   "--format", "json", "--out", "-")  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the planted patient leak fails the gate
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert [i["kind"] for i in report["inputs"]] == ["zarr"]
    leak = [f for f in report["findings"] if f["check"] == "leakage.group_overlap"]
    assert leak and leak[0]["message"].startswith("cells.zarr")


def bad_store(tmp_path, kind):
    """Write one bad zarr store (or a path standing for one); return it and a phrase the
    error must contain."""
    p = tmp_path / "cells.zarr"
    if kind == "missing":
        return p, "zarr store does not exist"
    if kind == "a_file":
        p.write_bytes(b"PK\x03\x04 a zipped store")
        return p, "is a file, not a zarr store"
    if kind == "not_a_store":
        p.mkdir()
        (p / "notes.txt").write_text("hello")
        return p, "is a directory but not a zarr store"
    if kind == "plain_directory":
        p = tmp_path / "cells"
        p.mkdir()
        (p / "notes.txt").write_text("hello")
        return p, "is a directory, not a file (nor a zarr store"
    a = _cells()
    if kind == "no_x":
        a = ad.AnnData(obs=a.obs, var=a.var, layers={"logged": a.layers["logged"]})
        a.write_zarr(p)
        return p, "has no X (no main matrix); it holds layers ['logged']"
    a.write_zarr(p)
    if kind == "truncated_metadata":
        meta = p / "zarr.json"
        meta.write_bytes(meta.read_bytes()[:200])
        return p, "not a readable AnnData zarr store (JSONDecodeError"
    if kind == "truncated_chunk":
        (chunk,) = (p / "X" / "data" / "c").iterdir()
        chunk.write_bytes(chunk.read_bytes()[:100])
        return p, "truncated or corrupt"
    if kind == "incomplete_copy":
        shutil.rmtree(p / "obs")
        return p, "has no obs"
    if kind == "unknown_layer":
        return p, "layer 'counts' does not exist"
    if kind == "unknown_encoding":  # an element anndata cannot decode is refused, never guessed
        meta = p / "obs" / "label" / "zarr.json"
        node = json.loads(meta.read_text())
        node["attributes"]["encoding-type"] = "python-object"
        meta.write_text(json.dumps(node))
        return p, "/obs/label has the unknown encoding 'python-object'"
    raise AssertionError(kind)


STORE_CASES = [
    "missing",
    "a_file",
    "not_a_store",
    "plain_directory",
    "no_x",
    "truncated_metadata",
    "truncated_chunk",
    "incomplete_copy",
    "unknown_layer",
    "unknown_encoding",
]


@pytest.mark.parametrize("backed", [False, True], ids=["in_memory", "streamed"])
@pytest.mark.parametrize("kind", STORE_CASES)
def test_bad_zarr_stores_raise_input_error_naming_the_store(tmp_path, kind, backed):
    path, phrase = bad_store(tmp_path, kind)
    layer = "counts" if kind == "unknown_layer" else None
    with pytest.raises(InputError) as info:
        fi = read_features(path, backed=backed, layer=layer)
        list(fi.view.iter_chunks(16))  # a streamed store's chunks are read here
    assert path.name in info.value.message
    assert phrase in info.value.message, info.value.message
    assert info.value.hint


@pytest.mark.parametrize("kind", ["not_a_store", "truncated_chunk", "incomplete_copy", "no_x"])
def test_bad_zarr_stores_exit_2_on_the_cli(tmp_path, kind):
    path, phrase = bad_store(tmp_path, kind)
    proc = run_cli("audit", "--features", path, "--label-col", "label", "--no-probe")
    assert_clean_failure(proc, path.name, phrase)


def test_a_corrupt_chunk_found_while_streaming_stops_the_audit_with_input_error(
    tmp_path, monkeypatch
):
    path, _ = bad_store(tmp_path, "truncated_chunk")
    monkeypatch.setattr(io._files, "BACKED_THRESHOLD_BYTES", 0)
    with pytest.raises(InputError, match=r"cells.zarr: rows 0-16 of the matrix cannot be read"):
        audit(features=path, label_col="label", only={"units"}, chunk_size=16)


@pytest.mark.slow
def test_a_corrupt_chunk_read_by_a_dask_worker_exits_2_without_a_traceback(tmp_path):
    path, _ = bad_store(tmp_path, "truncated_chunk")
    proc = run_cli("audit", "--features", path, "--label-col", "label", "--no-probe",
                   "--engine", "dask", "--chunk-size", "16")  # fmt: skip
    assert_clean_failure(proc, path.name, "cannot be read from disk")


def test_a_row_of_empty_cells_is_read_not_mistaken_for_another_delimiter(tmp_path):
    # pandas 3 keeps NaN through astype(str): the mixed-delimiter guard crashed on such a row
    p = tmp_path / "samples.csv"
    p.write_text("sample_id,label,split\nS1,a,train\n,,\nS2,b,test\n")
    df = read_table(p)
    assert df.shape == (3, 3) and df.iloc[1].isna().all()
    proc = run_cli("audit", "--metadata", p, "--id-col", "sample_id", "--label-col", "label",
                   "--split-col", "split", "--no-probe")  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


# --- one reader layer: one path check, one error vocabulary, one row-alignment rule -----------


def _readers():
    from biodata_guard.io import read_gene_lengths
    from biodata_guard.io.coords import read_coordinates

    return {
        "table": lambda p: read_table(p),
        "features": lambda p: read_features(p),
        "h5ad": lambda p: read_h5ad(p),
        "coords": lambda p: read_coordinates(p),
        "gene_lengths": lambda p: read_gene_lengths(p),
    }


@pytest.mark.parametrize("reader", ["table", "features", "h5ad", "coords", "gene_lengths"])
@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("missing", "file does not exist"),
        ("empty", "file is empty (0 bytes)"),
        ("directory", "is a directory, not a file"),
        ("pickle", "can execute arbitrary code"),
        ("not_gzip", "cannot be decompressed"),
    ],
)
def test_every_reader_opens_its_file_through_the_one_path_check(tmp_path, reader, kind, phrase):
    suffix = {"h5ad": ".h5ad", "coords": ".bed", "gene_lengths": ".tsv"}.get(reader, ".csv")
    p = tmp_path / f"input{suffix}"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "directory":
        p.mkdir()
    elif kind == "pickle":
        p = tmp_path / "input.pkl"
        p.write_bytes(b"\x80\x04N.")
    elif kind == "not_gzip":
        p = tmp_path / f"input{suffix}.gz"
        p.write_text("plain text, not gzip\n")
    with pytest.raises(InputError) as info:
        _readers()[reader](p)
    assert phrase in info.value.message and p.name in info.value.message
    assert info.value.check == io.UNREADABLE == "input.unreadable"
    assert info.value.hint


def test_the_path_check_says_what_it_was_reading_and_which_flag_names_the_file(tmp_path):
    with pytest.raises(InputError) as info:
        io.check_file(tmp_path / "absent.tsv", label="absent.tsv", reading="gene lengths",
                      flag="--gene-lengths")  # fmt: skip
    assert info.value.message.startswith("absent.tsv: cannot read gene lengths: file does not")
    assert str(tmp_path / "absent.tsv") in info.value.message
    assert info.value.hint == "Check the path passed to --gene-lengths."


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_a_file_that_cannot_be_opened_is_unreadable(tmp_path):
    p = tmp_path / "locked.csv"
    p.write_text("sample_id,label\nS1,a\n")
    p.chmod(0)
    try:
        with pytest.raises(InputError, match=r"locked\.csv: cannot be opened") as info:
            read_table(p)
    finally:
        p.chmod(0o600)
    assert info.value.check == "input.unreadable"


def test_gzip_is_sniffed_from_the_bytes_not_the_name(tmp_path, counts_frame):
    p = tmp_path / "x.csv"
    p.write_bytes(gzip.compress(counts_frame.to_csv().encode()))
    f = io.check_file(p)
    assert f.gz and f.suffix == ".csv" and f.size == p.stat().st_size
    np.testing.assert_array_equal(read_features(p).view.X, counts_frame.to_numpy())


def test_the_input_ids_are_declared_once_in_the_io_group():
    from biodata_guard import registry
    from biodata_guard.io import matrix

    for check in ("input.unreadable", "input.invalid"):
        spec = registry.get_check(check)
        assert spec.group == "io" and [str(s) for s in spec.severities] == ["error"]
    group = registry.get_group("io")
    assert (group.order, group.id_prefixes, group.run) == (0, ("input",), None)
    assert registry.group_of("input.invalid") is group
    assert not hasattr(matrix, "_UNREADABLE")


def test_align_rows_is_one_rule_for_rows_and_ids():
    a = io.align_rows(pd.Index(["S1", "S2", "S2", "S3"]), ["S2", "S3", "S9", "S9"])
    assert (a.n_rows, a.n_ids, a.n_matched, a.aligned) == (4, 3, 2, True)
    assert not io.align_rows(["S1"], ["T1"]).aligned
    assert io.align_rows([1, 2, 3], pd.Index(["3"])).aligned  # compared as strings
    assert not io.align_rows([], ["S1"]).aligned


def test_orientation_follows_the_axis_that_aligns_better(counts_frame):
    ids = pd.Index(counts_frame.index[:5])
    # the columns hold 5 sample ids, the rows none: features x samples
    fi = read_features(counts_frame.T.reset_index(drop=True), sample_ids=ids)
    assert fi.view.shape == (12, 30) and list(fi.view.obs_names[:2]) == ["S0", "S1"]
    # a single shared id is enough when the other axis holds none
    fi = read_features(counts_frame.T.reset_index(drop=True), sample_ids=pd.Index(["S3", "x"]))
    assert fi.view.shape == (12, 30)
    # rows and columns equally aligned: the table is taken as samples x features
    both = pd.DataFrame([[1.0, 2.0]], index=["S1"], columns=["S1", "g"])
    assert read_features(both, sample_ids=pd.Index(["S1"])).view.shape == (1, 2)
