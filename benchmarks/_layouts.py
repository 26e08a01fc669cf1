"""Coordinate files in every layout the build checks read, and a UCSC chain lifter: shared by
``bench_genome_build.py`` and the build tests (``tests/test_build_layouts.py``).

Each writer takes a table of variants (``chrom`` without prefix, 1-based ``pos``, ``rsid``,
``ref``, ``alt``) and writes one file in the layout of a public format: VCF, BED, GWAS-SSF,
PGS Catalog scoring file, PLINK ``.bim`` / ``.map`` / ``.pvar`` / ``.assoc.linear``, REGENIE,
23andMe, AncestryDNA, MyHeritage, FTDNA, Neale-lab variant ids, a headerless table. Writers
state no build unless asked (``stated=``), so the coordinates alone are measured.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
CHAINS = {
    ("GRCh37", "GRCh38"): REFERENCE / "hg19ToHg38.over.chain.gz",
    ("GRCh38", "GRCh37"): REFERENCE / "hg38ToHg19.over.chain.gz",
}
_BASES = np.array(list("ACGT"))


# --------------------------------------------------------------------------- liftover


class Chain:
    """A UCSC chain file as ungapped blocks: per source chromosome, sorted block starts (0-based)
    with their lengths and targets. ``lift`` maps 1-based positions; unmapped ones are NaN."""

    def __init__(self, path: Path) -> None:
        blocks: dict[str, list[tuple[int, int, str, int, bool, int]]] = {}
        with gzip.open(path, "rt") as fh:
            head: list[str] = []
            t = q = 0
            for line in fh:
                parts = line.split()
                if not parts:
                    continue
                if parts[0] == "chain":
                    head = parts
                    t, q = int(parts[5]), int(parts[10])
                    continue
                size = int(parts[0])
                q_chrom, q_size, minus = head[7], int(head[8]), head[9] == "-"
                blocks.setdefault(head[2], []).append((t, size, q_chrom, q, minus, q_size))
                if len(parts) == 3:
                    t += size + int(parts[1])
                    q += size + int(parts[2])
        self.blocks = {}
        for chrom, rows in blocks.items():
            rows.sort()
            self.blocks[chrom] = tuple(
                np.array(col, dtype=object if i == 2 else None)
                for i, col in enumerate(zip(*rows, strict=True))
            )

    def lift(self, chrom: pd.Series, pos: pd.Series) -> pd.DataFrame:
        """``chrom`` (no prefix) and ``pos`` (1-based) lifted; rows that do not map are NaN."""
        out_chrom = np.full(len(pos), None, dtype=object)
        out_pos = np.full(len(pos), np.nan)
        c_arr, p_arr = chrom.astype(str).to_numpy(), pos.to_numpy(dtype=np.int64) - 1
        for c in np.unique(c_arr):
            key = "chrM" if c == "MT" else f"chr{c}"
            if key not in self.blocks:
                continue
            start, size, q_chrom, q_start, minus, q_size = self.blocks[key]
            rows = np.flatnonzero(c_arr == c)
            p = p_arr[rows]
            i = np.searchsorted(start.astype(np.int64), p, side="right") - 1
            ok = (i >= 0) & (
                p
                < start[np.maximum(i, 0)].astype(np.int64) + size[np.maximum(i, 0)].astype(np.int64)
            )
            j = i[ok]
            off = p[ok] - start[j].astype(np.int64)
            qp = q_start[j].astype(np.int64) + off
            mm = minus[j].astype(bool)
            qp = np.where(mm, q_size[j].astype(np.int64) - qp - 1, qp)
            out_chrom[rows[ok]] = [
                str(x).removeprefix("chr").replace("M", "MT") for x in q_chrom[j]
            ]
            out_pos[rows[ok]] = qp + 1
        return pd.DataFrame({"chrom": out_chrom, "pos": out_pos})


def lift(df: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """The variants of ``df`` lifted from ``source`` to ``target`` (rows that do not map, or map
    off the primary chromosomes, are dropped)."""
    lifted = Chain(CHAINS[(source, target)]).lift(df["chrom"], df["pos"])
    primary = lifted["chrom"].isin([*map(str, range(1, 23)), "X", "Y", "MT"]).to_numpy()
    ok = lifted["pos"].notna().to_numpy() & primary
    out = df.loc[ok].copy()
    out["chrom"] = lifted["chrom"].to_numpy()[ok]
    out["pos"] = lifted["pos"].to_numpy()[ok].astype(np.int64)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- variants


def random_variants(
    lengths: pd.Series, n: int, *, seed: int, chroms: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """``n`` random SNVs uniform over the chromosomes of ``lengths`` (chrom -> bp), with
    random rsIDs outside the marker panel's range and random alleles."""
    rng = np.random.default_rng(seed)
    names = list(chroms or [c for c in lengths.index if c not in ("Y", "MT") and lengths[c] > 0])
    w = lengths[names].to_numpy(dtype=float)
    chrom = rng.choice(np.array(names), n, p=w / w.sum())
    pos = (rng.random(n) * lengths[chrom].to_numpy()).astype(np.int64) + 1
    ref = _BASES[rng.integers(0, 4, n)]
    alt = _BASES[(np.searchsorted(_BASES, ref) + rng.integers(1, 4, n)) % 4]
    rsid = np.char.add("rs", rng.integers(2 * 10**9, 3 * 10**9, n).astype(str))
    order = np.lexsort((pos, [names.index(c) for c in chrom]))
    df = pd.DataFrame({"chrom": chrom, "pos": pos, "rsid": rsid, "ref": ref, "alt": alt})
    return df.iloc[order].reset_index(drop=True)


def _effects(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(df)
    return pd.DataFrame(
        {
            "beta": rng.normal(0, 0.05, n).round(5),
            "se": rng.uniform(0.01, 0.05, n).round(5),
            "eaf": rng.uniform(0.01, 0.99, n).round(4),
            "p": rng.uniform(0, 1, n).round(6),
        }
    )


# --------------------------------------------------------------------------- writers


def _vcf(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    head = ["##fileformat=VCFv4.2"]
    if stated:
        head.append(f"##reference={'GRCh37' if stated == 'GRCh37' else 'GRCh38'}.fa")
    head.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    body = pd.DataFrame(
        {"c": df["chrom"], "p": df["pos"], "i": df["rsid"], "r": df["ref"], "a": df["alt"]}
    ).assign(q=".", f="PASS", n=".")
    path.write_text("\n".join(head) + "\n" + body.to_csv(sep="\t", header=False, index=False))
    return path


def _bed(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    head = f"track name=snps db={'hg19' if stated == 'GRCh37' else 'hg38'}\n" if stated else ""
    out = pd.DataFrame(
        {"c": "chr" + df["chrom"].replace({"MT": "M"}), "s": df["pos"] - 1, "e": df["pos"]}
    )
    path.write_text(head + out.to_csv(sep="\t", header=False, index=False))
    return path


def _gwas_ssf(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    e = _effects(df)
    out = pd.DataFrame(
        {
            "chromosome": df["chrom"],
            "base_pair_location": df["pos"],
            "effect_allele": df["alt"],
            "other_allele": df["ref"],
            "beta": e["beta"],
            "standard_error": e["se"],
            "effect_allele_frequency": e["eaf"],
            "p_value": e["p"],
            "variant_id": df["chrom"]
            + "_"
            + df["pos"].astype(str)
            + "_"
            + df["ref"]
            + "_"
            + df["alt"],
            "rsid": df["rsid"],
        }
    )
    out.to_csv(path, sep="\t", index=False)
    if stated:
        Path(f"{path}-meta.yaml").write_text(
            f"genome_assembly: {stated}\ncoordinate_system: 1-based\n"
        )
    return path


def _pgs(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    e = _effects(df)
    head = [
        "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/",
        "#format_version=2.0",
        "##POLYGENIC SCORE (PGS) INFORMATION",
        "#pgs_id=PGS999999",
        f"#variants_number={len(df)}",
        f"#genome_build={stated or 'NR'}",
    ]
    out = pd.DataFrame(
        {
            "rsID": df["rsid"],
            "chr_name": df["chrom"],
            "chr_position": df["pos"],
            "effect_allele": df["alt"],
            "other_allele": df["ref"],
            "effect_weight": e["beta"],
        }
    )
    path.write_text("\n".join(head) + "\n" + out.to_csv(sep="\t", index=False))
    return path


def _bim(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    out = pd.DataFrame(
        {
            "c": df["chrom"].replace({"X": "23", "MT": "26"}),
            "i": df["rsid"],
            "cm": 0,
            "p": df["pos"],
            "a1": df["alt"],
            "a2": df["ref"],
        }
    )
    out.to_csv(path, sep="\t", header=False, index=False)
    return path


def _map(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    out = pd.DataFrame({"c": df["chrom"], "i": df["rsid"], "cm": 0.0, "p": df["pos"]})
    out.to_csv(path, sep="\t", header=False, index=False)
    return path


def _pvar(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    out = pd.DataFrame(
        {
            "#CHROM": df["chrom"],
            "POS": df["pos"],
            "ID": df["rsid"],
            "REF": df["ref"],
            "ALT": df["alt"],
        }
    )
    path.write_text("##source=plink2\n" + out.to_csv(sep="\t", index=False))
    return path


def _plink_assoc(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    e = _effects(df)
    lines = [
        f"{'CHR':>4} {'SNP':>14} {'BP':>10} {'A1':>3} {'TEST':>6} {'NMISS':>6} "
        f"{'BETA':>9} {'STAT':>8} {'P':>10}"
    ]
    lines += [
        f"{c:>4} {r:>14} {p:>10} {a:>3} {'ADD':>6} {1000:>6} {b:>9.4f} {b / s:>8.3f} {q:>10.4g}"
        for c, r, p, a, b, s, q in zip(
            df["chrom"].replace({"X": "23"}),
            df["rsid"],
            df["pos"],
            df["alt"],
            e["beta"],
            e["se"],
            e["p"],
            strict=True,
        )
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _regenie(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    e = _effects(df)
    out = pd.DataFrame(
        {
            "CHROM": df["chrom"],
            "GENPOS": df["pos"],
            "ID": df["rsid"],
            "ALLELE0": df["ref"],
            "ALLELE1": df["alt"],
            "A1FREQ": e["eaf"],
            "N": 5000,
            "TEST": "ADD",
            "BETA": e["beta"],
            "SE": e["se"],
            "CHISQ": (e["beta"] / e["se"]) ** 2,
            "LOG10P": -np.log10(e["p"] + 1e-12),
        }
    )
    out.to_csv(path, sep=" ", index=False)
    return path


def _genotypes(df: pd.DataFrame, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.char.add(
        df["ref"].to_numpy().astype(str),
        np.where(rng.random(len(df)) < 0.5, df["ref"], df["alt"]).astype(str),
    )


def _23andme(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    build = {"GRCh37": 37, "GRCh38": 38}.get(stated or "")
    head = "# This data file generated by 23andMe at: Mon Jan 01 00:00:00 2024\n#\n"
    if build:
        head += (
            f"# We are using reference human assembly build {build} "
            "(also known as Annotation Release 104).\n"
        )
    head += "# rsid\tchromosome\tposition\tgenotype\n"
    out = pd.DataFrame({"r": df["rsid"], "c": df["chrom"], "p": df["pos"], "g": _genotypes(df)})
    path.write_text(head + out.to_csv(sep="\t", header=False, index=False))
    return path


def _ancestry(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    head = "#AncestryDNA raw data download\n"
    if stated:
        head += f"#human reference build {37 if stated == 'GRCh37' else 38}.1\n"
    g = _genotypes(df)
    out = pd.DataFrame(
        {
            "rsid": df["rsid"],
            "chromosome": df["chrom"].replace({"X": "23", "MT": "26"}),
            "position": df["pos"],
            "allele1": [x[0] for x in g],
            "allele2": [x[1] for x in g],
        }
    )
    path.write_text(head + out.to_csv(sep="\t", index=False))
    return path


def _quoted_csv(df: pd.DataFrame, path: Path, head: str) -> Path:
    g = _genotypes(df)
    lines = [
        f'"{r}","{c}","{p}","{x}"'
        for r, c, p, x in zip(df["rsid"], df["chrom"], df["pos"], g, strict=True)
    ]
    path.write_text(head + "RSID,CHROMOSOME,POSITION,RESULT\n" + "\n".join(lines) + "\n")
    return path


def _myheritage(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    head = "##fileformat=MyHeritage\n##format=MHv1.0\n##chip=GSA\n"
    if stated:
        head += f"##reference={'build37' if stated == 'GRCh37' else 'build38'}\n"
    return _quoted_csv(df, path, head)


def _ftdna(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    return _quoted_csv(df, path, "")


def _neale(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    e = _effects(df)
    ids = df["chrom"] + ":" + df["pos"].astype(str) + ":" + df["ref"] + ":" + df["alt"]
    pd.DataFrame(
        {"variant": ids, "minor_allele": df["alt"], "beta": e["beta"], "pval": e["p"]}
    ).to_csv(path, sep="\t", index=False)
    return path


def _headerless(df: pd.DataFrame, path: Path, stated: str | None) -> Path:
    df[["chrom", "pos", "rsid", "ref", "alt"]].to_csv(path, sep="\t", header=False, index=False)
    return path


#: layout -> (file name, writer)
LAYOUTS: dict[str, tuple[str, Callable[[pd.DataFrame, Path, str | None], Path]]] = {
    "vcf": ("calls.vcf", _vcf),
    "bed": ("snps.bed", _bed),
    "gwas_ssf": ("GCST90000001.tsv", _gwas_ssf),
    "pgs_catalog": ("PGS999999.txt", _pgs),
    "plink_bim": ("cohort.bim", _bim),
    "plink_map": ("cohort.map", _map),
    "plink_pvar": ("cohort.pvar", _pvar),
    "plink_assoc": ("trait.assoc.linear", _plink_assoc),
    "regenie": ("trait.regenie", _regenie),
    "23andme": ("genome_Jane_Doe_v5_Full.txt", _23andme),
    "ancestrydna": ("AncestryDNA.txt", _ancestry),
    "myheritage": ("MyHeritage_raw_dna_data.csv", _myheritage),
    "ftdna": ("FTDNA_autosomal.csv", _ftdna),
    "neale_variant_ids": ("neale_ukb.tsv", _neale),
    "headerless": ("variants.txt", _headerless),
}


def write_layout(layout: str, df: pd.DataFrame, folder: Path, *, stated: str | None = None) -> Path:
    """Write ``df`` in ``layout`` under ``folder``; returns the path."""
    name, writer = LAYOUTS[layout]
    folder.mkdir(parents=True, exist_ok=True)
    return writer(df.reset_index(drop=True), folder / name, stated)
