"""Generate the bad-input corpus of tests/test_bad_inputs.py (seeded, byte-reproducible).

    python tests/data/bad/make_corpus.py          # rewrites the text files beside this script

Two kinds of file:

- **Text files** (CSV/TSV, VCF, BED, YAML configs) are committed beside this script. Each is a
  few hundred bytes to ~2 KB; ``tests/test_bad_inputs.py`` checks that they are exactly what
  :func:`text_files` writes, so edit this script, never the files. ``.gitattributes`` (``-text``)
  keeps git from converting their line endings (the CRLF cases must stay CRLF).
- **Binary files** (truncated gzip, h5ad, pickle, ``.npy``, Parquet) and the directory case are
  *not* committed: the tests call :func:`write_binary` to generate them into ``tmp_path`` at test
  time (a binary diff says nothing in review, and h5py/anndata versions change their bytes).

Every case starts from one clean cohort (:func:`base`): 24 samples x 16 genes of Poisson counts,
12 patients with 2 samples each, labels ``tumor`` / ``normal`` per patient, a train/test split
grouped by patient. A clean audit of it passes; each file below breaks one thing.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 9
N_SAMPLES = 24
N_GENES = 16
HERE = Path(__file__).resolve().parent


def base() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clean cohort: counts (index ``sample_id``) and the sample sheet."""
    rng = np.random.default_rng(SEED)
    ids = [f"S{i + 1:02d}" for i in range(N_SAMPLES)]
    gene_mean = rng.lognormal(np.log(40.0), 1.0, N_GENES)
    counts = pd.DataFrame(
        rng.poisson(gene_mean, (N_SAMPLES, N_GENES)),
        index=pd.Index(ids, name="sample_id"),
        columns=[f"G{j + 1:02d}" for j in range(N_GENES)],
    )
    patient_label = rng.permutation(["tumor", "normal"] * 6)
    patient_split = ["train"] * 8 + ["test"] * 4
    order = rng.permutation(12)  # patients in random order, so sample ids do not follow labels
    meta = pd.DataFrame(
        {
            "sample_id": ids,
            "patient_id": [f"P{order[i // 2] + 1:02d}" for i in range(N_SAMPLES)],
            "label": [patient_label[order[i // 2]] for i in range(N_SAMPLES)],
            "split": [patient_split[order[i // 2]] for i in range(N_SAMPLES)],
            "batch": [f"B{1 + i % 2}" for i in range(N_SAMPLES)],
        }
    )
    return counts, meta


def _csv(df: pd.DataFrame, *, index: bool = False, **kwargs) -> bytes:
    return df.to_csv(index=index, lineterminator="\n", **kwargs).encode()


def text_files() -> dict[str, bytes]:
    """Every committed file: relative path -> bytes."""
    counts, meta = base()
    c = counts.copy()
    files: dict[str, bytes] = {
        "good_counts.csv": _csv(counts, index=True),
        "good_meta.csv": _csv(meta),
        # --- tables that cannot be read -------------------------------------------------
        "empty.csv": b"",
        "blank_lines.csv": b"\n  \n\n",
        "header_only_counts.csv": b"sample_id," + ",".join(counts.columns).encode() + b"\n",
        "header_only_meta.csv": b"sample_id,patient_id,label,split,batch\n",
        "semicolon_meta.csv": _csv(meta, sep=";"),
        "tabs_named_meta.csv": _csv(meta, sep="\t"),
        "id_only_counts.csv": _csv(counts.iloc[:, :0], index=True),
        "latin1_meta.csv": _csv(meta.assign(batch="caf\xe9")).decode().encode("latin-1"),
        "dup_columns_meta.csv": _csv(meta.assign(label2=meta["label"])).replace(
            b"label2", b"label", 1
        ),
        "dup_columns_counts.csv": _csv(counts, index=True).replace(b"G02", b"G01", 1),
        "text_in_counts.csv": _csv(_set(c.astype(object), [(4, 6)], "n/a?"), index=True),
        # --- tables that read, but not as written ---------------------------------------
        "mixed_delimiters_meta.csv": _mixed_delimiters(meta),
        "ragged_meta.csv": _csv(meta).replace(b"S07,", b"S07,extra,", 1),
        "comment_header_meta.csv": b"# exported by LIMS v2\n" + _csv(meta),
        "nul_bytes_meta.csv": b"\x00" * 64,
        # --- tables that read fine and must give the same audit as the clean ones ---------
        "bom_meta.csv": b"\xef\xbb\xbf" + _csv(meta),
        "crlf_meta.csv": _csv(meta).replace(b"\n", b"\r\n"),
        "crlf_counts.csv": _csv(counts, index=True).replace(b"\n", b"\r\n"),
        # --- data problems: findings, not input errors ----------------------------------
        "dup_ids_counts.csv": _csv(_rename(counts, {"S02": "S01"}), index=True),
        "dup_ids_meta.csv": _csv(pd.concat([meta, meta.iloc[[0]]], ignore_index=True)),
        "missing_sample_meta.csv": _csv(meta.drop(index=6)),
        "nan_counts.csv": _csv(_set(c.astype(float), [(3, 4), (9, 1)], np.nan), index=True),
        "inf_counts.csv": _csv(_set(c.astype(float), [(6, 2)], np.inf), index=True),
        "negative_counts.csv": _csv(_set(c, [(2, 3), (11, 7), (20, 0)], -5), index=True),
        "huge_int_counts.csv": _csv(_set(c.astype(object), [(4, 4)], 2**70), index=True),
        "huge_uint_counts.csv": _csv(_set(c.astype("uint64"), [(4, 4)], 2**64 - 1), index=True),
        "zero_rows_counts.csv": _csv(_set_rows(c, [5, 17], 0), index=True),
        "one_sample_counts.csv": _csv(counts.iloc[:1], index=True),
        "one_sample_meta.csv": _csv(meta.iloc[:1]),
        "one_class_meta.csv": _csv(meta.assign(label="tumor")),
        "label_variants_meta.csv": _csv(meta.assign(label=_variants(meta["label"]))),
        "trailing_space_meta.csv": _csv(
            meta.assign(label=meta["label"].where(meta.index % 5 != 0, meta["label"] + " "))
        ),
        "foreign_ids_counts.csv": _csv(_rename(counts, lambda s: "X" + s[1:]), index=True),
        "missing_labels_meta.csv": _csv(meta.assign(label=meta["label"].where(meta.index % 7 > 0))),
        "group_leak_meta.csv": _csv(
            meta.assign(split=np.where(np.arange(N_SAMPLES) % 2, meta["split"], "train"))
        ),
        "replicates_meta.csv": _csv(_discordant_replicates(meta)),
        # --- coordinates ----------------------------------------------------------------
        "broken_header.vcf": b"##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621\n"
        b"CHROM POS ID REF ALT\n1\t10177\trs367896724\tA\tAC\n",
        "end_before_start.bed": b"chr1\t1000\t2000\tr1\nchr1\t5000\t4000\tr2\n"
        b"chr2\t300\t200\tr3\nchr3\t10\t20\tr4\n",
        # --- configs --------------------------------------------------------------------
        "cfg/unknown_key.yaml": _yaml("probe:\n  enabeld: false\n"),
        "cfg/unknown_section.yaml": _yaml("input:\n  metadata: ../good_meta.csv\n"),
        "cfg/wrong_type.yaml": _yaml("thresholds:\n  n_folds: five\n"),
        "cfg/path_not_string.yaml": b"inputs:\n  metadata: 5\n",
        "cfg/missing_path.yaml": b"inputs:\n  features: [../no_such_counts.csv]\n"
        b"  metadata: ../good_meta.csv\n",
        "cfg/relative.yaml": _yaml(""),
        "cfg/not_yaml.yaml": b"inputs:\n  metadata: [../good_meta.csv\n",
        "cfg/python_tag.yaml": b"inputs: !!python/object/apply:os.system ['touch PWNED']\n",
        "cfg/empty.yaml": b"",
        "cfg/list_top.yaml": b"- ../good_meta.csv\n- ../good_counts.csv\n",
        "cfg/no_inputs.yaml": b"columns:\n  label: label\n  split: split\n",
    }
    return files


def _yaml(extra: str) -> bytes:
    return (
        "inputs:\n  features: [../good_counts.csv]\n  metadata: ../good_meta.csv\n"
        "columns:\n  label: label\n  split: split\n  groups: [patient_id]\n" + extra
    ).encode()


def _rename(df: pd.DataFrame, mapping) -> pd.DataFrame:
    return df.rename(index=mapping)


def _set(df: pd.DataFrame, cells: list[tuple[int, int]], value) -> pd.DataFrame:
    df = df.copy()
    for i, j in cells:
        df.iat[i, j] = value
    return df


def _set_rows(df: pd.DataFrame, rows: list[int], value) -> pd.DataFrame:
    df = df.copy()
    df.iloc[rows, :] = value
    return df


def _variants(labels: pd.Series) -> pd.Series:
    """'tumor' spelled 'Tumor' on some rows and 'tumor ' on others."""
    out = labels.copy()
    tumor = np.flatnonzero(labels.eq("tumor").to_numpy())
    out.iloc[tumor[::4]] = "Tumor"
    out.iloc[tumor[1::4]] = "tumor "
    return out


def _discordant_replicates(meta: pd.DataFrame) -> pd.DataFrame:
    """Each patient's two samples are replicates; in half the pairs their labels disagree."""
    out = meta.assign(replicate_group="R" + meta["patient_id"].str[1:])
    flip = out.index[(out.index % 2 == 1) & (out.index % 4 == 1)]
    out.loc[flip, "label"] = out.loc[flip, "label"].map({"tumor": "normal", "normal": "tumor"})
    return out


def _mixed_delimiters(meta: pd.DataFrame) -> bytes:
    """Comma-separated, but three rows pasted in with tabs (they read as one field each)."""
    lines = _csv(meta).decode().splitlines(keepends=True)
    for i in (4, 9, 15):
        lines[i] = lines[i].replace(",", "\t")
    return "".join(lines).encode()


# --- binary files: generated at test time ---------------------------------------------------


def _gzip(text: bytes) -> bytes:
    return gzip.compress(text, mtime=0)


def _truncated_gzip(dest: Path) -> None:
    counts, _ = base()
    data = _gzip(_csv(pd.concat([counts] * 20), index=True))
    dest.write_bytes(data[: len(data) // 2])


def _not_gzip(dest: Path) -> None:
    counts, _ = base()
    dest.write_bytes(_csv(counts, index=True))  # plain text behind a .gz name


def _adata(*, sparse: bool = False, obs: pd.DataFrame | None = None):
    import anndata as ad
    import scipy.sparse as sps

    counts, meta = base()
    X = counts.to_numpy(dtype=np.float32)
    obs = meta.set_index("sample_id") if obs is None else obs
    return ad.AnnData(
        X=sps.csr_matrix(X) if sparse else X,
        obs=obs,
        var=pd.DataFrame(index=counts.columns),
    )


def _write_h5ad(adata, dest: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata.write_h5ad(dest)


def _good_h5ad(dest: Path) -> None:
    _write_h5ad(_adata(sparse=True), dest)


def _truncated_h5ad(dest: Path) -> None:
    buf = dest.with_suffix(".tmp")
    _write_h5ad(_adata(), buf)
    data = buf.read_bytes()
    buf.unlink()
    dest.write_bytes(data[: len(data) // 2])


def _garbage_h5ad(dest: Path) -> None:
    rng = np.random.default_rng(SEED)
    dest.write_bytes(b"\x89HDF\r\n\x1a\n" + rng.bytes(2048))


def _dup_obs_h5ad(dest: Path) -> None:
    adata = _adata()
    names = list(adata.obs_names)
    names[1] = names[0]
    adata.obs_names = names
    _write_h5ad(adata, dest)


def _label_variants_h5ad(dest: Path) -> None:
    _, meta = base()
    meta = meta.assign(label=_variants(meta["label"])).set_index("sample_id")
    _write_h5ad(_adata(obs=meta), dest)


def _empty_h5ad(dest: Path) -> None:
    adata = _adata()
    _write_h5ad(adata[:0].copy(), dest)


def _obs_objects_h5ad(dest: Path) -> None:
    """An obs column stored with an encoding anndata does not know (as a foreign or tampered
    writer would): it must be reported, never interpreted."""
    import h5py

    _write_h5ad(_adata(), dest)
    with h5py.File(dest, "r+") as f:
        f["obs"]["label"].attrs["encoding-type"] = "python-object"
        f["obs"]["label"].attrs["encoding-version"] = "0.1.0"


def _opaque_obs_h5ad(dest: Path) -> None:
    """An obs column of opaque bytes (an HDF5 dtype no table column can hold)."""
    import h5py

    _write_h5ad(_adata(), dest)
    with h5py.File(dest, "r+") as f:
        del f["obs"]["batch"]
        data = np.array([b"\x80\x04N." * 2] * N_SAMPLES, dtype="V8")
        ds = f["obs"].create_dataset("batch", data=data)
        ds.attrs["encoding-type"] = "array"
        ds.attrs["encoding-version"] = "0.2.0"


def _string_x_h5ad(dest: Path) -> None:
    """X is an array of strings (a tool wrote gene symbols into the matrix)."""
    import h5py

    _write_h5ad(_adata(), dest)
    with h5py.File(dest, "r+") as f:
        del f["X"]
        ds = f.create_dataset(
            "X", data=np.full((N_SAMPLES, N_GENES), "7", dtype=object), dtype=h5py.string_dtype()
        )
        ds.attrs["encoding-type"] = "string-array"
        ds.attrs["encoding-version"] = "0.2.0"


def _pickle(dest: Path) -> None:
    # A minimal pickle stream (None); it is never loaded, the suffix alone is refused.
    dest.write_bytes(b"\x80\x04N.")


def _npy(dest: Path) -> None:
    counts, _ = base()
    buf = io.BytesIO()
    np.save(buf, counts.to_numpy())
    dest.write_bytes(buf.getvalue())


def _broken_parquet(dest: Path) -> None:
    dest.write_bytes(b"PAR1" + b"\x00" * 60 + b"PAR1")


def _directory(dest: Path) -> None:
    dest.mkdir()
    (dest / "part-0.csv").write_bytes(b"sample_id,G01\nS01,1\n")


#: Files generated at test time: name -> writer(dest path).
BINARY: dict[str, Callable[[Path], None]] = {
    "truncated_counts.csv.gz": _truncated_gzip,
    "not_gzip_counts.csv.gz": _not_gzip,
    "good_cells.h5ad": _good_h5ad,
    "truncated.h5ad": _truncated_h5ad,
    "garbage.h5ad": _garbage_h5ad,
    "dup_obs.h5ad": _dup_obs_h5ad,
    "label_variants.h5ad": _label_variants_h5ad,
    "empty_obs.h5ad": _empty_h5ad,
    "obs_objects.h5ad": _obs_objects_h5ad,
    "opaque_obs.h5ad": _opaque_obs_h5ad,
    "string_x.h5ad": _string_x_h5ad,
    "frame.pkl": _pickle,
    "counts.npy": _npy,
    "broken.parquet": _broken_parquet,
    "a_directory.csv": _directory,
}


def write_text(dest: Path = HERE) -> list[Path]:
    """Write the committed text files under ``dest``; return their paths."""
    out = []
    for rel, data in text_files().items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        out.append(p)
    return out


def write_binary(name: str, dest_dir: Path) -> Path:
    """Generate the binary file ``name`` (a key of :data:`BINARY`) in ``dest_dir``."""
    p = dest_dir / name
    BINARY[name](p)
    return p


if __name__ == "__main__":
    written = write_text(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"wrote {len(written)} files")
