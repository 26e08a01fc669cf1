"""Coordinate columns by name: the synonym table (``data/coordinate_columns.tsv``), build tokens
in column names (``pos_b37``, ``BP_hg38``), coordinate sets (author and harmonised positions in
one table), variant ids (``1:12345:A:G``, ``chr1_12345_A_G_b38``) and headerless sniffing."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

#: Roles a column can play; ``id`` holds rsIDs or chrom:pos ids (told apart by content).
ROLES = ("chrom", "pos", "start", "end", "id", "gene_name", "strand", "genotype")

_BUILD_TOKENS = {
    "hg19": "GRCh37",
    "grch37": "GRCh37",
    "b37": "GRCh37",
    "ncbi37": "GRCh37",
    "37": "GRCh37",
    "hg38": "GRCh38",
    "grch38": "GRCh38",
    "b38": "GRCh38",
    "38": "GRCh38",
    "hg18": "NCBI36",
    "ncbi36": "NCBI36",
    "b36": "NCBI36",
    "36": "NCBI36",
}
_TOKEN = r"hg1[89]|hg38|grch3[78]|b3[678]|ncbi3[67]"
_BUILD_PREFIX = re.compile(rf"^(?P<b>{_TOKEN})[_.\-]?(?P<rest>[a-z].*)$")
_BUILD_SUFFIX = re.compile(rf"^(?P<rest>.*?[a-z])[_.\-]?(?P<b>{_TOKEN}|3[678])$")
_PARENS = re.compile(r"\s*\([^)]*\)\s*$")

#: A variant id carrying its locus: 1:12345, chr1:12345:A:G, 1_12345_A_G, chr1-12345-A-G,
#: X:5000_C_T, GTEx chr1_13550_G_A_b38; group 1 chromosome, 2 position, 3 build suffix.
VARIANT_ID = re.compile(
    r"^(?:chr)?(\d{1,2}|X|Y|XY|MT|M)[:_\-](\d+)"
    r"(?:[:_\-/][ACGTN]+|[:_\-/]\*|[:_\-/]<[^>]+>|[:_\-/][DI])*"
    r"(?:[_:](b3[78]|hg19|hg38))?$",
    re.IGNORECASE,
)
RS_LIKE = re.compile(r"^rs\d+$", re.IGNORECASE)
CHROM_LIKE = re.compile(
    r"^(chr)?(\d{1,2}|x|y|m|mt|xy|un\w*|[\w]+_(random|alt|fix|decoy))$|^(nc|cm)_?\d+\.\d+$",
    re.IGNORECASE,
)
INT_LIKE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Synonym:
    """One row of the synonym table."""

    role: str
    set: str  # "" or "harmonised"
    base: str  # "0", "1" or "" (not a position)
    order: int  # rank within the table (earlier wins)
    source: str


@functools.cache
def synonyms() -> dict[str, Synonym]:
    """Normalised column name -> its role, from ``biodata_guard/data/coordinate_columns.tsv``.

    Examples
    --------
    >>> synonyms()["base_pair_location"].role, synonyms()["hm_pos"].set
    ('pos', 'harmonised')
    """
    path = resources.files("biodata_guard").joinpath("data", "coordinate_columns.tsv")
    with path.open("rb") as fh:
        df = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
    return {
        r.name: Synonym(r.role, r.set, r.base, i, r.source)
        for i, r in enumerate(df.itertuples(index=False))
    }


def normalise(name: object) -> str:
    """A column name as the synonym table writes it: trimmed, lower-case, no leading ``#``,
    no quotes, no trailing ``(1-based)``-style note."""
    s = str(name).strip().strip('"').strip("'").lstrip("#").strip().lower()
    note = _PARENS.search(s)
    if note is not None:  # BP(hg19) -> bp_hg19; hg19_pos(1-based) -> hg19_pos
        inner = note.group(0).strip().strip("()")
        s = s[: note.start()] + (f"_{inner}" if inner in _BUILD_TOKENS else "")
    return s.replace(" ", "_")


@dataclass(frozen=True)
class ColumnRole:
    """What one column is: its role, its coordinate set and the build its name states."""

    index: int
    name: str
    role: str
    key: str  # the coordinate set: "" (the author's), "harmonised", or a stated build
    build: str | None  # the build the column name states (pos_b37 -> GRCh37)
    base: str
    order: int


def column_role(index: int, name: object) -> ColumnRole | None:
    """The role of a column from its name, or None.

    Examples
    --------
    >>> r = column_role(3, "BP_hg19")
    >>> r.role, r.key, r.build
    ('pos', 'GRCh37', 'GRCh37')
    >>> column_role(0, "#CHROM").role, column_role(1, "hm_chr").key
    ('chrom', 'harmonised')
    """
    norm = normalise(name)
    syn = synonyms().get(norm)
    build = None
    if syn is None:
        m = _BUILD_PREFIX.match(norm) or _BUILD_SUFFIX.match(norm)
        if m is None:
            return None
        rest = m.group("rest").rstrip("_.-")
        syn = synonyms().get(rest) or synonyms().get(rest + "c")
        if syn is None or syn.role not in ("chrom", "pos", "start", "end", "id"):
            return None
        build = _BUILD_TOKENS[m.group("b")]
    elif norm.startswith(("hg19", "hg38", "hg18")):
        build = _BUILD_TOKENS[norm[:4]]
    key = build or syn.set
    return ColumnRole(index, str(name), syn.role, key, build, syn.base, syn.order)


@dataclass(frozen=True)
class ColumnSet:
    """One coordinate set of a table: its chromosome column and position (or start / end)
    column, with the id column of the same set and the build its column names state."""

    key: str
    chrom: ColumnRole
    pos: ColumnRole | None = None
    start: ColumnRole | None = None
    end: ColumnRole | None = None
    id: ColumnRole | None = None
    build: str | None = None
    extra: dict[str, ColumnRole] = field(default_factory=dict)  # gene_name, strand

    @property
    def label(self) -> str:
        """``chrom/pos`` or ``chrom/start/end`` as the file names them."""
        if self.pos is not None:
            return f"{self.chrom.name}/{self.pos.name}"
        end = f"/{self.end.name}" if self.end is not None else ""
        return f"{self.chrom.name}/{self.start.name}{end}"  # type: ignore[union-attr]

    def indices(self) -> dict[str, int]:
        """role -> column index of everything this set reads."""
        out = {"chrom": self.chrom.index}
        for role in ("pos", "start", "end", "id"):
            col = getattr(self, role)
            if col is not None:
                out[role] = col.index
        out.update({r: c.index for r, c in self.extra.items()})
        return out


def roles_of(columns: list[str]) -> list[ColumnRole]:
    """Every recognised column, in column order."""
    found = (column_role(i, c) for i, c in enumerate(columns))
    return [r for r in found if r is not None]


def _first(roles: list[ColumnRole], role: str, key: str) -> ColumnRole | None:
    hits = [r for r in roles if r.role == role and r.key == key]
    return min(hits, key=lambda r: (r.order, r.index)) if hits else None


def column_sets(columns: list[str]) -> list[ColumnSet]:
    """The coordinate sets of a header: the author's first, then harmonised / build-named ones.

    A set is a chromosome column with a position (or start) column of the same set; a set
    without its own chromosome column borrows the author's (``chr``, ``pos_b37``, ``pos_b38``).

    Examples
    --------
    >>> cols = ["rsID", "chr_name", "chr_position", "effect_allele", "hm_chr", "hm_pos"]
    >>> [(s.key, s.label) for s in column_sets(cols)]
    [('', 'chr_name/chr_position'), ('harmonised', 'hm_chr/hm_pos')]
    >>> [(s.label, s.build) for s in column_sets(["chr", "pos_b37", "pos_b38"])]
    [('chr/pos_b37', 'GRCh37'), ('chr/pos_b38', 'GRCh38')]
    """
    roles = roles_of(columns)
    keys = list(dict.fromkeys(r.key for r in roles if r.role in ("pos", "start")))
    keys.sort(key=lambda k: k != "")
    chroms = [r for r in roles if r.role == "chrom"]
    out = []
    for key in keys:
        chrom = _first(roles, "chrom", key) or _first(roles, "chrom", "")
        if chrom is None and len(chroms) == 1:
            chrom = chroms[0]
        if chrom is None:
            continue
        pos, start = _first(roles, "pos", key), _first(roles, "start", key)
        id_col = _first(roles, "id", key) or _first(roles, "id", "")
        extra = {r: c for r in ("gene_name", "strand") if (c := _first(roles, r, "")) is not None}
        build = next((c.build for c in (pos, start, chrom) if c is not None and c.build), None)
        out.append(
            ColumnSet(
                key,
                chrom,
                pos=pos,
                start=None if pos is not None else start,
                end=None if pos is not None else _first(roles, "end", key),
                id=id_col,
                build=build,
                extra=extra,
            )
        )
    return out


def id_columns(columns: list[str]) -> list[ColumnRole]:
    """The variant-id columns of a header, best first (rsid-named before generic ids)."""
    ids = [r for r in roles_of(columns) if r.role == "id"]
    return sorted(ids, key=lambda r: (r.key != "", r.order, r.index))


def is_header(fields: list[str]) -> bool:
    """Whether a line is a column-name line: it names a coordinate set, or a variant-id column
    beside other recognised columns, and no field looks like data."""
    if column_sets(fields):
        return True
    if any(RS_LIKE.match(f.strip('"')) or VARIANT_ID.match(f.strip('"')) for f in fields):
        return False
    return bool(id_columns(fields))


# --------------------------------------------------------------------------- content


def share_matching(values: list[str], pattern: re.Pattern[str]) -> float:
    if not values:
        return 0.0
    return float(np.mean([bool(pattern.match(v.strip().strip('"'))) for v in values]))


def parse_variant_ids(ids: pd.Series) -> pd.DataFrame:
    """``chrom``, ``pos`` (float, NaN where the id holds no locus) and ``build`` (the suffix
    ``b37`` / ``b38`` / ``hg19`` / ``hg38`` it states, else None) of variant ids.

    Examples
    --------
    >>> parse_variant_ids(pd.Series(["1:12345:A:G", "chrX_500_C_T_b38", "rs42"])).values.tolist()
    [['1', 12345.0, None], ['X', 500.0, 'GRCh38'], [nan, nan, None]]
    """
    parts = ids.astype(str).str.strip().str.extract(VARIANT_ID.pattern, flags=re.IGNORECASE)
    build = parts[2].str.lower().map(_BUILD_TOKENS)
    return pd.DataFrame(
        {
            "chrom": parts[0],
            "pos": pd.to_numeric(parts[1], errors="coerce"),
            "build": build.astype(object).where(build.notna(), None),
        },
        index=ids.index,
    )


def infer_roles(rows: list[list[str]]) -> dict[str, int]:
    """Headerless table: chromosome, position (or start / end) and id columns by content.

    PLINK ``.map`` (chrom, id, cM, bp) and ``.bim`` (chrom, id, cM, bp, a1, a2) fall out of
    it: the centimorgan column holds small or fractional numbers and is skipped.
    """
    width = min(len(r) for r in rows)
    roles: dict[str, int] = {}
    ints: list[int] = []
    for j in range(width):
        values = [r[j].strip().strip('"') for r in rows]
        if "chrom" not in roles and share_matching(values, CHROM_LIKE) >= 0.9:
            roles["chrom"] = j
            continue
        if "id" not in roles and (
            share_matching(values, RS_LIKE) >= 0.5 or share_matching(values, VARIANT_ID) >= 0.5
        ):
            roles["id"] = j
            continue
        if all(INT_LIKE.match(v) for v in values) and max(abs(int(v)) for v in values) > 26:
            ints.append(j)
    if ints:
        a = ints[0]
        b = ints[1] if len(ints) > 1 and ints[1] == a + 1 else None
        if b is not None and all(int(r[b]) >= int(r[a]) for r in rows):
            roles["start"], roles["end"] = a, b
        else:
            roles["pos"] = a
    return roles


def build_token(text: str) -> str | None:
    """The build a token names (``hg19`` -> GRCh37), or None."""
    return _BUILD_TOKENS.get(text.strip().lower())
