"""Feature-id namespaces and organisms: each id classified by its pattern, symbols by the shipped
GENCODE tables (exact case) and, for symbols in neither table, by their case style."""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from biodata_guard.features._tables import symbol_set

#: Every namespace an id can be in. Gene namespaces name genes (or their products); the others
#: are features that are not genes (spike-ins, read counters, genomic intervals) or no names.
GENE_NAMESPACES = (
    "ensembl_gene",
    "ensembl_transcript",
    "ensembl_protein",
    "symbol",
    "entrez",
    "refseq",
    "probe",
)
NAMESPACES = (*GENE_NAMESPACES, "interval", "spike_in", "counter", "positional", "other")
NAMESPACE_LABELS = {
    "ensembl_gene": "Ensembl gene ids",
    "ensembl_transcript": "Ensembl transcript ids",
    "ensembl_protein": "Ensembl protein ids",
    "symbol": "gene symbols",
    "entrez": "Entrez gene ids",
    "refseq": "RefSeq accessions",
    "probe": "array probe ids",
    "interval": "genomic intervals",
    "spike_in": "ERCC spike-ins",
    "counter": "read counters (HTSeq / STAR summary rows)",
    "positional": "positions (no feature names)",
    "other": "unrecognised ids",
}
ENSEMBL = ("ensembl_gene", "ensembl_transcript", "ensembl_protein")

_GENOME_PREFIX = re.compile(r"^(?:GRCh3[78]|hg19|hg38|mm10|mm39|GRCm3[89])_+")
_ENSEMBL_KIND = {"G": "ensembl_gene", "T": "ensembl_transcript", "P": "ensembl_protein"}
_ENSEMBL_ORGANISM = {"": "human", "MUS": "mouse"}
_PATTERNS = (  # tried in order; the first match wins
    ("counter", r"__[A-Za-z_]+|N_(?:unmapped|multimapping|noFeature|ambiguous)"),
    ("spike_in", r"ERCC-\d{5}"),
    ("refseq", r"[NX][MR]_\d+(?P<refseq_version>\.\d+)?"),
    ("entrez", r"[1-9]\d{0,9}"),
    ("probe", r"\d+(?:_[a-z])?_at|AFFX-[\w\-.]+|ILMN_\d+|A_\d+_P\d+"),
    ("interval", r"(?:chr[\w.]+|\d{1,2}|[XYM]|MT)[:\-_]\d+[-_]\d+"),
    ("symbol", r"(?=.*[A-Za-z])[A-Za-z0-9][\w\-.@/:()'+]*"),
)
_ENSEMBL_RE = (
    r"ENS(?P<ens_species>[A-Z]{0,6}?)(?P<ens_kind>[GTP])\d{11}(?P<ens_version>\.\d+)?(?:_PAR_Y)?"
)
_COMBINED = re.compile(
    "|".join([f"(?P<ensembl>{_ENSEMBL_RE})", *(f"(?P<{n}>{p})" for n, p in _PATTERNS)])
)
_VERSION = re.compile(r"\.\d+(?:_PAR_Y)?$")
_ORF = re.compile(r"(?<=\d)orf(?=\d)")  # human C1orf112: the only lower case of human symbols


@dataclass(frozen=True, eq=False)
class ParsedIds:
    """Each id's namespace, organism and normalised forms (arrays aligned with the ids).

    ``organism`` is ``"human"`` / ``"mouse"`` from an Ensembl prefix or an exact match in one
    organism's symbol table, ``"both"`` for symbols in both tables, ``""`` otherwise;
    ``case_organism`` adds the case style of symbols in neither table (``XIST`` human-like,
    ``Xist`` mouse-like). ``base`` strips Ensembl / RefSeq versions and genome prefixes;
    ``folded`` is ``base`` upper-cased.
    """

    ids: np.ndarray
    namespace: np.ndarray
    organism: np.ndarray
    case_organism: np.ndarray
    versioned: np.ndarray  # bool: an Ensembl / RefSeq id with a version suffix
    base: np.ndarray
    folded: np.ndarray
    genome_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class IdProfile:
    """The namespace and organism of one list of feature ids (numbers only)."""

    n: int
    namespace: str  # the dominant namespace (most ids; gene namespaces first on ties)
    n_fit: int  # ids in the dominant namespace
    namespaces: dict[str, int] = field(default_factory=dict)
    organism: str = "unknown"  # "human", "mouse" or "unknown"
    organisms: dict[str, int] = field(default_factory=dict)  # from prefixes / tables
    case_organisms: dict[str, int] = field(default_factory=dict)  # adds symbol case styles
    n_versioned: int = 0
    n_unversioned: int = 0  # Ensembl / RefSeq ids without a version
    genome_prefixes: tuple[str, ...] = ()

    @property
    def versions(self) -> str:
        """``"versioned"``, ``"unversioned"``, ``"mixed"`` or ``""`` (no versionable ids)."""
        if self.n_versioned and self.n_unversioned:
            return "mixed"
        return "versioned" if self.n_versioned else "unversioned" if self.n_unversioned else ""

    @property
    def label(self) -> str:
        """E.g. ``"Ensembl gene ids, versioned (human)"``."""
        text = NAMESPACE_LABELS[self.namespace]
        if self.namespace in ENSEMBL or self.namespace == "refseq":
            text += f", {self.versions}" if self.versions else ""
        return text + (f" ({self.organism})" if self.organism != "unknown" else "")


def _positional(ids: pd.Index) -> bool:
    """``0, 1, 2 ...`` (anndata's default names) or ``f0, f1 ...``: no feature names."""
    n = len(ids)
    if n == 0:
        return False
    return bool(
        ids.equals(pd.Index([str(i) for i in range(n)]))
        or ids.equals(pd.Index([f"f{i}" for i in range(n)]))
    )


def parse_ids(ids: Any) -> ParsedIds:
    """Classify every id (one combined pattern per id; the last 16 lists are memoised).

    Examples
    --------
    >>> p = parse_ids(["ENSG00000141510.17", "TP53", "Xist", "ERCC-00002", "__no_feature"])
    >>> p.namespace.tolist()
    ['ensembl_gene', 'symbol', 'symbol', 'spike_in', 'counter']
    >>> p.organism.tolist()
    ['human', 'human', 'mouse', '', '']
    """
    return _parse(tuple(str(v) for v in ids))


@functools.lru_cache(maxsize=16)
def _parse(values: tuple[str, ...]) -> ParsedIds:
    prefixes = {m.group(0).rstrip("_") for v in values if (m := _GENOME_PREFIX.match(v))}
    core = [_GENOME_PREFIX.sub("", v) for v in values] if prefixes else list(values)
    n = len(core)
    namespace = np.full(n, "other", dtype=object)
    organism = np.full(n, "", dtype=object)
    versioned = np.zeros(n, dtype=bool)
    if _positional(pd.Index(values, dtype=str)):
        namespace[:] = "positional"
    else:
        for i, v in enumerate(core):
            m = _COMBINED.fullmatch(v)
            if m is None:
                continue
            kind = m.lastgroup
            if kind == "ensembl":
                namespace[i] = _ENSEMBL_KIND[m.group("ens_kind")]
                organism[i] = _ENSEMBL_ORGANISM.get(m.group("ens_species"), "other")
                versioned[i] = m.group("ens_version") is not None
            else:
                namespace[i] = kind
                versioned[i] = kind == "refseq" and m.group("refseq_version") is not None
    core_s = pd.Series(core, dtype=object)
    organism, case_organism = _symbol_organisms(core_s, namespace, organism)
    base = np.asarray(core, dtype=object)
    base[versioned] = [_VERSION.sub("", v) for v in base[versioned]]
    base = base.astype(str)
    return ParsedIds(
        ids=np.asarray(values, dtype=str),
        namespace=namespace.astype(str),
        organism=organism.astype(str),
        case_organism=case_organism.astype(str),
        versioned=versioned,
        base=base,
        folded=np.char.upper(base),
        genome_prefixes=tuple(sorted(prefixes)),
    )


def _symbol_organisms(
    core: pd.Series, namespace: np.ndarray, organism: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Organisms of symbols: exact match in one table; case style for symbols in neither."""
    organism = organism.copy()
    sym = namespace == "symbol"
    values = core[sym]
    in_h = values.isin(symbol_set("human")).to_numpy()
    in_m = values.isin(symbol_set("mouse")).to_numpy()
    called = np.where(in_h & in_m, "both", np.where(in_h, "human", np.where(in_m, "mouse", "")))
    organism[sym] = called
    case_organism = organism.copy()
    unknown = np.flatnonzero(sym)[called == ""]
    case_organism[unknown] = [_case_style(v) for v in core.iloc[unknown]]
    return organism, case_organism


def _case_style(symbol: str) -> str:
    """``"human"`` for upper-case symbols (``XIST``, ``C1orf112``), ``"mouse"`` for capitalised
    ones (``Xist``, ``mt-Co1``, ``4933401J01Rik``), ``""`` otherwise."""
    s = _ORF.sub("", symbol)
    if not any(c.islower() for c in s):
        return "human"
    if s.startswith("mt-"):
        return "mouse"
    first = next((c for c in s if c.isalpha()), "")
    return "mouse" if first.isupper() else ""


def profile_ids(parsed: ParsedIds) -> IdProfile:
    """The dominant namespace and organism of parsed ids, with the counts behind them.

    Examples
    --------
    >>> prof = profile_ids(parse_ids(["ENSMUSG00000086503", "ENSMUSG00000057666"]))
    >>> prof.label, prof.n_fit
    ('Ensembl gene ids, unversioned (mouse)', 2)
    """
    counts = Counter(parsed.namespace.tolist())
    rank = {ns: i for i, ns in enumerate(NAMESPACES)}
    dominant = min(counts, key=lambda ns: (-counts[ns], rank[ns])) if counts else "other"
    organisms = Counter(o for o in parsed.organism.tolist() if o)
    case_organisms = Counter(o for o in parsed.case_organism.tolist() if o)
    known = {o: case_organisms.get(o, 0) for o in ("human", "mouse")}
    organism = "unknown"
    if any(known.values()):
        organism = max(known, key=lambda o: (known[o], o == "human"))
    versionable = np.isin(parsed.namespace, (*ENSEMBL, "refseq"))
    return IdProfile(
        n=len(parsed.ids),
        namespace=dominant,
        n_fit=counts.get(dominant, 0),
        namespaces=dict(sorted(counts.items(), key=lambda kv: rank[kv[0]])),
        organism=organism,
        organisms=dict(sorted(organisms.items())),
        case_organisms=dict(sorted(case_organisms.items())),
        n_versioned=int(parsed.versioned.sum()),
        n_unversioned=int((versionable & ~parsed.versioned).sum()),
        genome_prefixes=parsed.genome_prefixes,
    )
