"""Units of expression matrices: counts, CPM, TPM, RPKM/FPKM, normalised, log, scaled; mixes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biodata_guard._format import fraction, jsonable, preview
from biodata_guard._format import subjects as _first
from biodata_guard._units_scan import (
    BASE_VALUE,
    HIST_EDGES,
    LOG_BASES,
    NEG_ROW_SHARE,
    Scan,
    scan_accumulator,
    scan_matrix,
)
from biodata_guard.errors import ConfigError, InputError
from biodata_guard.findings import Finding, Severity
from biodata_guard.io.matrix import (
    DEFAULT_CHUNK_ROWS,
    MatrixView,
    _is_anndata,
    anndata_matrices,
    as_matrix,
)

__all__ = [
    "CHECK_IDS",
    "DETECTED",
    "INVALID_VALUES",
    "MISMATCH",
    "MIXED_WITHIN",
    "UNEXPECTED",
    "UNITS",
    "UnitsCall",
    "audit_units",
    "check_anndata_units",
    "check_units",
    "check_units_mismatch",
    "detect_units",
    "gene_lengths_from_var",
    "read_gene_lengths",
]

DETECTED = "units.detected"
MISMATCH = "units.mismatch"
UNEXPECTED = "units.unexpected"
MIXED_WITHIN = "units.mixed_within"
INVALID_VALUES = "units.invalid_values"
CHECK_IDS = (DETECTED, MISMATCH, UNEXPECTED, MIXED_WITHIN, INVALID_VALUES)

#: Every value of :attr:`UnitsCall.units`. ``"cpm_or_tpm"`` is the one ambiguity kept as a
#: value of its own: the data sum to 1e6 per sample, but without exact evidence (gene lengths,
#: values that are exact multiples of integer counts) TPM and CPM cannot be told apart.
UNITS = (
    "counts",
    "cpm",
    "tpm",
    "rpkm",
    "normalized",
    "log",
    "scaled",
    "cpm_or_tpm",
    "unknown",
)

CPM_TARGET = 1e6  # CPM and TPM sum to this per sample
RPKM_LENGTH_SUM = 1e9  # sum over genes of RPKM x gene length (bp) per sample

_SUM_RTOL = 1e-3  # "sums to T" tolerance (relative)
_EST_COUNTS_INT_SHARE = 0.25  # estimated counts (salmon/RSEM): many values still integers
_MAX_PLOT_POINTS = 2000

#: Layer names whose content users expect in given units (lower-cased key -> units).
_LAYER_EXPECTATIONS = {
    **dict.fromkeys(("counts", "raw_counts", "count", "umi", "umis", "umi_counts"), "counts"),
    **dict.fromkeys(
        (
            "log1p",
            "lognorm",
            "log_norm",
            "logcounts",
            "log_counts",
            "log_normalized",
            "lognormalized",
            "log",
        ),
        "log",
    ),
    "cpm": "cpm",
    "tpm": "tpm",
    "rpkm": "rpkm",
    "fpkm": "rpkm",
    **dict.fromkeys(("scaled", "scale", "zscore", "z_score", "z_scored"), "scaled"),
}

# Linear (not log) per-sample labels. "~" marks a weak call (no exact evidence).
_CANDIDATES = {
    "counts": ("counts",),
    "cpm": ("cpm",),
    "tpm": ("tpm",),
    "rpkm": ("rpkm",),
    "normalized": ("normalized",),
    "cpm_or_tpm": ("cpm", "tpm"),
    "scaled": ("scaled",),
    "log": ("log",),
    "unknown": (),
}
_CONFIDENCE = {
    "counts": 0.99,
    "counts~": 0.6,
    "cpm": 0.99,
    "tpm": 0.99,
    "rpkm": 0.95,
    "rpkm~": 0.4,
    "normalized": 0.95,
    "normalized~": 0.8,
    "cpm_or_tpm": 0.9,
    "cpm_or_tpm~": 0.75,
    "unknown~": 0.0,
    "scaled": 0.95,
    "scaled~": 0.7,
    "unknown": 0.0,
}
_STRONG = {"counts", "cpm", "tpm", "rpkm", "normalized", "cpm_or_tpm"}
_NO_NEGATIVES = {"counts", "cpm", "tpm", "rpkm", "normalized", "cpm_or_tpm"}


@dataclass(frozen=True, eq=False)
class UnitsCall:
    """The units of one matrix, with the evidence behind the call.

    Attributes
    ----------
    units
        One of :data:`UNITS`: ``counts``, ``cpm``, ``tpm``, ``rpkm`` (covers FPKM),
        ``normalized`` (library-size normalised to a constant other than 1e6, e.g. scanpy
        ``normalize_total`` to 1e4, or size-factor normalised), ``log``, ``scaled``,
        ``cpm_or_tpm`` (sums to 1e6; TPM vs CPM undetermined) or ``unknown``.
    confidence
        0..1: 0.99 for exact evidence (integers, values on a per-sample integer grid,
        sum of RPKM x length = 1e9), lower for sums-only or fallback calls, scaled by the
        share of samples that agree.
    reason
        One sentence with the numbers behind the call.
    evidence
        The figures (JSON-safe): sums, fractions, counts of samples per per-sample call ...
    label
        Human-readable label, e.g. ``"log1p(normalized)"``, ``"log2(tpm+1)"``, ``"counts"``.
    candidates
        Every unit of ``config.UNITS`` the data are consistent with (``("cpm", "tpm")`` for
        ``cpm_or_tpm``, ``("rpkm", "normalized")`` for an unconfirmed RPKM call, ``()`` for
        unknown). :meth:`matches` compares an expectation with these.
    log_base, log_of, pseudocount
        For ``units == "log"``: ``"e"``, ``"2"`` or ``"10"``, the units under the log
        (``None`` when no back-transform gave known units) and the pseudocount added.
    name
        The matrix's name in messages.
    sample_units
        Per-sample labels (a ``pandas.Series`` indexed by sample id; ``"empty"`` for all-zero
        samples), the basis of ``units.mixed_within``.
    offenders
        First ids per problem (``"nan_samples"``, ``"negative_samples"``, ``"zero_samples"``,
        ``"zero_features"``, ``"mixed_samples"``, ``"mixed_features"``); totals are in
        ``evidence``.
    """

    units: str
    confidence: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    candidates: tuple[str, ...] = ()
    log_base: str | None = None
    log_of: str | None = None
    pseudocount: float | None = None
    name: str = "<matrix>"
    sample_units: pd.Series | None = field(default=None, repr=False)
    offenders: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def matches(self, expected: str) -> bool:
        """Whether the data are consistent with ``expected`` (a ``config.UNITS`` value).

        ``"fpkm"`` counts as ``"rpkm"``; ``"normalized"`` also accepts CPM (library-size
        normalised to 1e6); ``"log"`` accepts any log transform.
        """
        want = "rpkm" if expected == "fpkm" else expected
        if want in self.candidates:
            return True
        return want == "normalized" and "cpm" in self.candidates

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (per-sample calls as counts, not the full series)."""
        return jsonable(
            {
                "name": self.name,
                "units": self.units,
                "label": self.label,
                "confidence": self.confidence,
                "reason": self.reason,
                "candidates": list(self.candidates),
                "log_base": self.log_base,
                "log_of": self.log_of,
                "pseudocount": self.pseudocount,
                "evidence": self.evidence,
            }
        )

    def __str__(self) -> str:
        return f"{self.name}: {self.label} (confidence {self.confidence:.2f}) — {self.reason}"


# --------------------------------------------------------------------------- gene lengths

_ID_COLS = (
    "gene_id",
    "geneid",
    "gene",
    "ensembl_gene_id",
    "ensembl_id",
    "feature_id",
    "id",
    "name",
    "gene_name",
    "symbol",
    "target_id",
)
_LENGTH_COLS = (
    "length",
    "gene_length",
    "length_bp",
    "len",
    "gene_len",
    "size",
    "bp",
    "effective_length",
    "efflength",
)


def read_gene_lengths(path: str | Path) -> pd.Series:
    """Read gene lengths (bp) from a CSV/TSV table (optionally gzipped).

    The id and length columns are found case-insensitively (``gene_id``/``Geneid``/``Name``/
    ``id`` ... and ``length``/``gene_length``/``Length`` ...), so featureCounts output,
    salmon ``quant.sf``, RSEM ``genes.results`` and plain two-column tables (with or
    without a header) all work. Lines starting with ``#`` are skipped.

    Returns
    -------
    pandas.Series
        Lengths in bp (float), indexed by gene id (str), named ``"length"``.

    Raises
    ------
    InputError
        Missing/empty file, no length column, non-numeric or non-positive lengths,
        conflicting duplicate ids — the message names the file.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "len.tsv")
    >>> _ = open(p, "w").write("Geneid\\tLength\\nG1\\t1500\\nG2\\t800\\n")
    >>> read_gene_lengths(p).to_dict()
    {'G1': 1500.0, 'G2': 800.0}
    """
    name = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"{name}: gene lengths file does not exist",
            path=name,
            hint="Check the --gene-lengths path.",
        )
    suffixes = [s.lower() for s in p.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    last = suffixes[-1] if suffixes else ""
    sep = "," if last == ".csv" else "\t" if last in (".tsv", ".tab", ".txt", ".sf") else None
    try:
        df = _read_table(p, sep)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"{name}: cannot read gene lengths ({str(exc).splitlines()[0]})",
            path=name,
            hint="Give a CSV/TSV with a gene id column and a length column (bp).",
        ) from None
    if df.shape[0] == 0 or df.shape[1] < 2:
        raise InputError(
            f"{name}: gene lengths table needs an id and a length column; got "
            f"{df.shape[1]} column(s) and {df.shape[0]} row(s)",
            path=name,
            hint="Write two columns, gene_id and length (bp), one gene per line.",
        )
    header = [str(c) for c in df.columns]
    if _numeric(header[-1]) or (len(header) == 2 and _numeric(header[1])):
        df = _read_table(p, sep, header=None)  # headerless two-column file
        df.columns = header = [str(c) for c in df.columns]
    lower = {h.lower().strip(): h for h in header}
    length_col = next((lower[c] for c in _LENGTH_COLS if c in lower), None)
    id_col = next((lower[c] for c in _ID_COLS if c in lower), None)
    if length_col is None and len(header) == 2:
        id_col, length_col = header
    if length_col is None:
        raise InputError(
            f"{name}: no gene length column; columns are {header[:10]}",
            path=name,
            hint="Name the length column 'length' (bp) and the id column 'gene_id'.",
        )
    if id_col is None:
        id_col = next(h for h in header if h != length_col)
    lengths = pd.to_numeric(df[length_col], errors="coerce")
    ids = df[id_col].astype(str).str.strip()
    return _validate_lengths(pd.Series(lengths.to_numpy(float), index=pd.Index(ids)), name)


def _read_table(p: Path, sep: str | None, header: int | None = 0) -> pd.DataFrame:
    return pd.read_csv(
        p, sep=sep, engine="python", comment="#", dtype=str, header=header, skip_blank_lines=True
    )


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _validate_lengths(s: Any, name: str) -> pd.Series:
    if isinstance(s, Mapping):
        s = pd.Series(s)
    if not isinstance(s, pd.Series):
        raise InputError(
            f"{name}: gene lengths must be a pandas Series indexed by gene id; got "
            f"{type(s).__name__} instead",
            path=name,
            hint="Pass read_gene_lengths(path) or adata.var['length'].",
        )
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    ids = pd.Index(s.index.astype(str))
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        where = np.flatnonzero(bad)
        raise InputError(
            f"{name}: gene lengths must be positive numbers (bp); {fraction(len(where), len(s))} "
            f"are not (e.g. {preview([f'{ids[i]}={s.iloc[i]!r}' for i in where[:5]])})",
            path=name,
            column="length",
            hint="Fix or drop those rows; lengths are in base pairs.",
        )
    out = pd.Series(values, index=ids, name="length")
    dup = out.index.duplicated(keep=False)
    if dup.any():
        conflicting = out[dup].groupby(level=0).nunique()
        conflicting = conflicting[conflicting > 1]
        if len(conflicting):
            raise InputError(
                f"{name}: {len(conflicting)} gene id(s) have conflicting lengths (e.g. "
                f"{preview(list(conflicting.index))})",
                path=name,
                column="length",
                hint="Keep one length per gene id (e.g. the union exon length per gene).",
            )
        out = out[~out.index.duplicated(keep="first")]
    return out


def gene_lengths_from_var(adata: Any, *, column: str | None = None) -> pd.Series | None:
    """Gene lengths from an AnnData ``.var`` column.

    With ``column=None`` the first of ``length``, ``gene_length``, ``gene_len``, ``len``,
    ``length_bp`` (case-insensitive) is used, and ``None`` is returned when there is none.

    Raises
    ------
    InputError
        ``column`` is given but missing, or its values are not positive numbers.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> a = ad.AnnData(np.ones((2, 2)), var=pd.DataFrame({"Length": [900, 2100]}, index=["A", "B"]))
    >>> gene_lengths_from_var(a).to_dict()
    {'A': 900.0, 'B': 2100.0}
    """
    var = adata.var
    if column is None:
        lower = {str(c).lower(): c for c in var.columns}
        column = next(
            (
                lower[c]
                for c in ("length", "gene_length", "gene_len", "len", "length_bp")
                if c in lower
            ),
            None,
        )
        if column is None:
            return None
    elif column not in var.columns:
        raise InputError(
            f"<AnnData>.var: no column '{column}'; columns are {list(var.columns)[:10]}",
            path="<AnnData>.var",
            column=column,
            hint="Pass the .var column holding gene lengths in bp.",
        )
    s = pd.Series(var[column].to_numpy(), index=pd.Index(var.index.astype(str)))
    return _validate_lengths(s, f"<AnnData>.var['{column}']")


def _align_lengths(lengths: pd.Series, var_names: pd.Index, *, name: str) -> np.ndarray:
    """Lengths in the order of ``var_names`` (NaN where unknown); versions stripped if needed."""
    lengths = _validate_lengths(lengths, "gene_lengths")
    aligned = lengths.reindex(var_names).to_numpy(dtype=float)
    matched = np.isfinite(aligned)
    if matched.mean() < 0.5:
        strip = re.compile(r"\.\d+$")
        by_base = pd.Series(lengths.to_numpy(), index=[strip.sub("", i) for i in lengths.index])
        by_base = by_base[~by_base.index.duplicated(keep="first")]
        alt = by_base.reindex([strip.sub("", v) for v in var_names]).to_numpy(dtype=float)
        if np.isfinite(alt).sum() > matched.sum():
            aligned, matched = alt, np.isfinite(alt)
    if len(var_names) and matched.mean() < 0.5:
        missing = [v for v, ok in zip(var_names, matched, strict=True) if not ok]
        raise InputError(
            f"gene_lengths: only {fraction(int(matched.sum()), len(var_names))} features of "
            f"{name} have a length (missing e.g. {preview(missing, total=len(missing))}; "
            f"length ids look like {preview(list(lengths.index[:3]))})",
            path="gene_lengths",
            hint="Key the lengths by the matrix's feature ids (same id type, e.g. Ensembl).",
        )
    return aligned


# --------------------------------------------------------------------------- classification


def _in_band(S: np.ndarray, target: float, lo: float) -> np.ndarray:
    return (target * lo <= S) & (target * (1 + _SUM_RTOL) >= S)


def _tight(S: np.ndarray, target: float) -> np.ndarray:
    return np.abs(S / target - 1.0) <= _SUM_RTOL


def _linear_labels(
    st: dict[str, np.ndarray],
    *,
    integer: np.ndarray,
    int_share: np.ndarray | None,
    has_lengths: bool,
    lo: float,
) -> np.ndarray:
    """Per-row linear-scale labels from row statistics (``~`` = weak, no exact evidence)."""
    S = st["S"]
    lab = np.full(len(S), "unknown~" if has_lengths else "rpkm~", dtype=object)
    band = _in_band(S, CPM_TARGET, lo)
    if int_share is not None:
        lab[int_share >= _EST_COUNTS_INT_SHARE] = "counts~"
    lab[_tight(S, CPM_TARGET)] = "cpm_or_tpm"
    if has_lengths:
        lband = _in_band(st["SL"], RPKM_LENGTH_SUM, lo)
        lab[lband] = "rpkm"
        on_grid = st["len_m"] > 0
        lab[on_grid] = "normalized"
        lab[on_grid & lband] = "rpkm"
        lab[on_grid & band] = "tpm"
    on_grid = st["grid_m"] > 0
    lab[on_grid] = "normalized"
    lab[on_grid & band] = "cpm"
    lab[integer] = "counts"
    lab[st["n_pos"] == 0] = "empty"
    return lab


def _refine(lab: np.ndarray, S: np.ndarray, consider: np.ndarray, lo: float) -> np.ndarray:
    """Dataset-level relabelling that needs all samples: sums at 1e6 up to filtering,
    constant sums at another target, integers that sum to 1e6 (rounded CPM/TPM)."""
    lab = lab.copy()
    weak = consider & np.isin(lab, ["rpkm~", "unknown~"])
    if weak.any():
        band = _in_band(S, CPM_TARGET, lo)
        if band[weak].mean() >= 0.9:
            lab[weak & band] = "cpm_or_tpm~"
        elif weak.sum() >= 2 and _spread(S[weak]) <= _SUM_RTOL:
            lab[weak] = "normalized~"
    ints = consider & (lab == "counts")
    # Samples whose scale factor happens to be an integer (library size dividing the target)
    # look like counts; they belong with the normalised samples when they share the sum.
    on_grid = consider & np.isin(lab, ["normalized", "cpm"])
    if ints.any() and on_grid.any() and _spread(S[on_grid]) <= _SUM_RTOL:
        target = float(np.median(S[on_grid]))
        same = ints & _tight(S, target)
        lab[same] = "cpm" if abs(target / CPM_TARGET - 1) <= _SUM_RTOL else "normalized"
        ints &= ~same
        # samples with too few values to test the grid, at the same constant sum
        few = consider & np.isin(lab, ["rpkm~", "unknown~"]) & _tight(S, target)
        lab[few] = "normalized~"
    if ints.sum() >= 2 and _tight(S, CPM_TARGET)[ints].mean() >= 0.9:
        lab[ints & _tight(S, CPM_TARGET)] = "cpm_or_tpm~"
    return lab


def _spread(S: np.ndarray) -> float:
    if len(S) == 0:
        return np.inf
    med = float(np.median(S))
    return float((S.max() - S.min()) / abs(med)) if med else np.inf


def _structured(lab: np.ndarray) -> np.ndarray:
    return ~np.isin(lab, ["rpkm~", "unknown~", "counts~", "empty"])


def _log_label(base: str, pseudo: float, inner: str) -> str:
    if inner == "?":
        return "log"
    if abs(pseudo - 1.0) <= 1e-9:
        return {"e": f"log1p({inner})", "2": f"log2({inner}+1)", "10": f"log10({inner}+1)"}[base]
    prefix = "log" if base == "e" else f"log{base}"
    return f"{prefix}({inner}+{pseudo:.3g})"


def _display(internal: str) -> str:
    if internal.startswith("log|"):
        _, base, pseudo, inner = internal.split("|")
        return _log_label(base, float(pseudo), _display(inner) if inner != "?" else "?")
    return internal.rstrip("~")


def _parse(label: str) -> tuple[str, str | None, str | None]:
    """Display label -> (units, "base:pseudocount" of a log, inner units)."""
    if label == "log":
        return "log", None, None
    m = re.fullmatch(r"log(1p|2|10)?\((\w+?)(?:\+([0-9.e+-]+))?\)", label)
    if m:
        base = {"1p": "e", None: "e"}.get(m.group(1), m.group(1))
        return "log", f"{base}:{float(m.group(3) or 1):.3g}", m.group(2)
    return label, None, None


def _compatible(a: str, b: str) -> bool:
    """Whether two display labels may be the same units (ambiguity is not a mismatch)."""
    if a == b:
        return True
    ua, ba, ia = _parse(a)
    ub, bb, ib = _parse(b)
    if ua == "log" or ub == "log":
        if ua != ub:
            return False
        if ia is None or ib is None:
            return True
        return ba == bb and _compatible(ia, ib)
    ca, cb = set(_CANDIDATES.get(ua, ())), set(_CANDIDATES.get(ub, ()))
    return bool(ca & cb)


@dataclass
class _Decision:
    internal: np.ndarray  # per-row internal labels
    display: np.ndarray  # per-row display labels
    base: str | None  # chosen log base
    feature_scaled: dict[str, Any]
    mixed_cols: np.ndarray | None
    mixed_kind: str | None


def _classify(scan: Scan, *, has_lengths: bool, lo: float) -> _Decision:
    n, m = scan.n, scan.m
    nnz = scan.nnz
    n_pos = nnz - scan.n_neg
    neg_row = (scan.n_neg > 0) & (scan.n_neg >= NEG_ROW_SHARE * np.maximum(nnz, 1))
    integer = (scan.n_nonint == 0) & (n_pos > 0)
    int_share = 1.0 - scan.n_nonint / np.maximum(nnz, 1)
    raw_stats = {**scan.raw, "S": scan.S, "n_pos": n_pos}
    lab = _linear_labels(
        raw_stats, integer=integer, int_share=int_share, has_lengths=has_lengths, lo=lo
    )
    lab[nnz == 0] = "empty"
    lab = _refine(lab, scan.S, ~neg_row, lo)
    # log transforms: pick the base whose back-transform gives structure to most candidates
    cand = scan.cand & (neg_row | ~_structured(lab))
    best, best_labels, best_score = None, None, 0
    if cand.any():
        for b in LOG_BASES:
            st = scan.log[b]
            lab_b = _linear_labels(
                st, integer=st["int_ok"], int_share=None, has_lengths=has_lengths, lo=lo
            )
            lab_b = _refine(lab_b, st["S"], cand, lo)
            score = int((_structured(lab_b) & cand).sum())
            if score > best_score:
                best, best_labels, best_score = b, lab_b, score
        lab[cand] = "log|?|1|?"
        if best is not None:
            good = cand & _structured(best_labels)
            offsets = scan.log[best]["offset"]
            for i in np.flatnonzero(good):
                lab[i] = f"log|{best}|{float(f'{offsets[i]:.6g}')}|{best_labels[i]}"
    # negative values that are not a log(x + p) pattern: scaled or unknown
    other_neg = neg_row & ~cand
    if other_neg.any():
        mean = scan.S / max(m, 1)
        sd = np.sqrt(np.maximum(scan.sumsq / max(m, 1) - mean**2, 0.0))
        centred = np.abs(mean) <= 0.25 * sd
        lab[other_neg & centred] = "scaled~"
        lab[other_neg & ~centred] = "unknown"
    # features centred (z-scored / centred) or unit variance
    fmean = scan.f_sum / max(n, 1)
    fsd = np.sqrt(np.maximum(scan.f_sumsq / max(n, 1) - fmean**2, 0.0))
    ok = fsd > 1e-12
    fs: dict[str, Any] = {}
    if ok.any() and n >= 3:
        z = np.abs(fmean[ok]) / fsd[ok]
        fs = {
            "median_abs_mean_over_sd": float(np.median(z)),
            "median_sd": float(np.median(fsd[ok])),
            "centred": bool(np.mean(z <= 0.1) >= 0.9),
            "unit_variance": bool(abs(np.median(fsd[ok]) - 1.0) <= 0.05),
        }
        rows_present = (nnz > 0) | (scan.n_neg > 0)
        if fs["centred"] and scan.n_neg.sum() > 0:
            lab[rows_present] = "scaled"
        elif fs["unit_variance"] and scan.n_neg.sum() == 0:
            weak = rows_present & ~_structured(lab)
            if weak.sum() > 0.5 * rows_present.sum():
                lab[weak] = "scaled~"
    lab[(nnz == 0) & (scan.n_neg == 0)] = "empty"
    mixed_cols, kind = _column_mix(scan)
    display = np.array([_display(x) for x in lab], dtype=object) if n else np.array([])
    return _Decision(lab, display, best, fs, mixed_cols, kind)


def _column_mix(scan: Scan) -> tuple[np.ndarray | None, str | None]:
    """Feature columns on another scale than the rest (log or scaled columns among counts)."""
    f_nnz = scan.f_nnz
    present = f_nnz > 0
    k = int(present.sum())
    if k < 2:
        return None, None
    neg_cols = present & (scan.f_neg >= 0.2 * f_nnz)
    if neg_cols.any() and neg_cols.sum() < 0.5 * k:
        return neg_cols, "negative"
    no_neg = present & (scan.f_neg == 0)
    int_cols = no_neg & (scan.f_nonint == 0)
    nonint_cols = no_neg & (scan.f_nonint >= 0.9 * f_nnz)
    partial = no_neg & (scan.f_nonint > 0) & (scan.f_nonint < 0.9 * f_nnz)
    if int_cols.sum() >= 0.5 * k and nonint_cols.any() and not partial.any():
        small = bool((scan.f_large[nonint_cols] == 0).all())
        return nonint_cols, "log-scale" if small else "non-integer"
    return None, None


# --------------------------------------------------------------------------- the call


def _g(x: float) -> str:
    return f"{x:.3g}"


def _confidence(internal: str) -> float:
    if internal.startswith("log|"):
        inner = internal.split("|")[3]
        return 0.4 if inner == "?" else 0.95 * _CONFIDENCE.get(inner, 0.5)
    return _CONFIDENCE.get(internal, 0.5)


def _summary(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "max": float(values.max()),
    }


def _build_call(
    view: MatrixView,
    scan: Scan,
    dec: _Decision,
    *,
    lengths_info: dict[str, int] | None,
    lo: float,
) -> UnitsCall:
    n, m = view.shape
    name = view.name
    has_lengths = lengths_info is not None
    display = dec.display
    present = display != "empty"
    n_present = int(present.sum())
    tally = Counter(display[present].tolist())
    nonfinite_rows = (scan.n_nan + scan.n_inf) > 0
    ev: dict[str, Any] = {
        "n_samples": n,
        "n_features": m,
        "n_nonzero": int(scan.nnz.sum()),
        "min": float(scan.mn.min()) if n and m else None,
        "max": float(scan.mx.max()) if n and m else None,
        "fraction_non_integer": float(scan.n_nonint.sum() / max(scan.nnz.sum(), 1)),
        "n_negative": int(scan.n_neg.sum()),
        "n_nan": int(scan.n_nan.sum()),
        "n_inf": int(scan.n_inf.sum()),
        "sample_sum": _summary(scan.S[present]),
        "sample_sum_spread": _spread(scan.S[present]) if n_present else None,
        "sample_units": dict(sorted(tally.items())),
        "n_empty_samples": n - n_present,
        "gene_lengths": lengths_info,
        "dtype": scan.dtype,
    }
    obs = view.obs_names
    var = view.var_names
    offenders: dict[str, list[str]] = {}
    # invalid values (independent of the units)
    zero_rows = (scan.nnz == 0) & (scan.n_neg == 0) & ~nonfinite_rows
    zero_cols = (scan.f_nnz == 0) & (scan.f_nonfinite == 0)
    ev["n_samples_with_nan_or_inf"] = int(nonfinite_rows.sum())
    ev["n_zero_samples"] = int(zero_rows.sum()) if m else 0
    ev["n_zero_features"] = int(zero_cols.sum()) if n else 0
    offenders["nan_samples"] = _first(obs[nonfinite_rows])
    offenders["zero_samples"] = _first(obs[zero_rows]) if m else []
    offenders["zero_features"] = _first(var[zero_cols]) if n else []
    if not n_present:
        why = "all values are zero or missing" if n and m else "the matrix is empty"
        return UnitsCall(
            "unknown",
            0.0,
            why,
            ev,
            label="unknown",
            name=name,
            sample_units=pd.Series(display, index=obs, dtype=object),
            offenders=offenders,
        )
    majority = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    compat = {lab: _compatible(lab, majority) for lab in tally}
    agree = present & np.array([compat.get(d, False) for d in display], dtype=bool)
    major_rows = present & (display == majority)
    internal = Counter(dec.internal[major_rows].tolist()).most_common(1)[0][0]
    if internal.endswith("~"):
        # Beside a call without exact evidence (RPKM-like, unknown), a row called "log" only
        # for being small and non-integer is ambiguous, not another unit -- unless its sum is
        # an order of magnitude below the others' (log values appended to linear ones).
        bare_log = present & (display == "log")
        typical = float(np.median(scan.S[major_rows]))
        agree |= bare_log & (scan.S >= 0.1 * typical)
    n_agree = int(agree.sum())
    conf = float(np.mean([_confidence(x) for x in dec.internal[major_rows]]))
    units = _parse(majority)[0]
    log_base = log_of = pseudo = None
    stats = {**scan.raw, "S": scan.S}
    if units == "log":
        if internal.startswith("log|") and internal.split("|")[1] != "?":
            _, log_base, p, inner_internal = internal.split("|")
            pseudo = float(p)
            log_of = _display(inner_internal)
            stats = scan.log[log_base]
            ev["log_base"], ev["pseudocount"] = log_base, pseudo
            ev["linear_sum"] = _summary(stats["S"][major_rows])
        key = internal.split("|")[3] if internal.startswith("log|") else "?"
    else:
        key = internal
    linear = log_of if units == "log" else units
    candidates: tuple[str, ...] = _CANDIDATES.get(units, ())
    if key == "rpkm~":
        candidates = ("rpkm", "normalized")
    if key == "unknown~" or (units == "unknown"):
        units, candidates = "unknown", ()
    S = stats["S"][major_rows]
    if linear in ("cpm", "tpm", "cpm_or_tpm", "normalized") and len(S):
        ev["target_sum"] = float(np.median(S))
        ev["linear_sum_spread"] = _spread(S)
        if linear != "normalized" and ev["target_sum"] < CPM_TARGET * (1 - _SUM_RTOL):
            ev["filtered_share"] = 1.0 - ev["target_sum"] / CPM_TARGET
    if has_lengths and "SL" in stats and len(S):
        ev["length_sum_over_1e9"] = float(np.median(stats["SL"][major_rows]) / RPKM_LENGTH_SUM)
    ev["fraction_on_integer_grid"] = float(np.mean(stats["grid_m"][major_rows] > 0))
    if stats["rounded"][major_rows].any():
        ev["n_rounded_samples"] = int(stats["rounded"][major_rows].sum())
    if dec.feature_scaled:
        ev["features"] = dec.feature_scaled
    undetermined = []
    if linear == "cpm_or_tpm":
        undetermined.append(
            "tpm vs cpm: both sum to 1e6 per sample"
            + (
                "; the values are not exact multiples of integer counts for these lengths"
                if has_lengths
                else "; pass gene lengths to tell them apart"
            )
        )
    if key == "rpkm~":
        undetermined.append(
            "rpkm vs other normalisation: pass gene lengths (RPKM x length sums to 1e9)"
        )
    if units == "log" and log_of is None:
        undetermined.append("log base and the units under the log")
    ev["undetermined"] = undetermined
    reason = _reason(key, units, ev, log_base=log_base, pseudo=pseudo, has_lengths=has_lengths)
    label = majority
    # columns on another scale: the call describes the majority columns
    if dec.mixed_cols is not None:
        cols = dec.mixed_cols
        rest = (scan.f_nnz > 0) & ~cols
        ev["n_mixed_features"] = int(cols.sum())
        ev["mixed_feature_kind"] = dec.mixed_kind
        ev["n_features_nonzero"] = int((scan.f_nnz > 0).sum())
        offenders["mixed_features"] = _first(var[cols])
        if (scan.f_nonint[rest] == 0).all() and (scan.f_neg[rest] == 0).all():
            units = label = "counts"
            candidates, log_base, log_of, pseudo = ("counts",), None, None, None
            conf = 0.7
            reason = (
                f"integers ≥ 0 in {int(rest.sum())} of {ev['n_features_nonzero']} non-empty "
                f"features; {int(cols.sum())} features hold {dec.mixed_kind} values"
            )
        n_agree = n_present  # row calls are blurred by the odd columns; not assessed
    else:
        mixed_rows = present & ~agree
        ev["n_mixed_samples"] = int(mixed_rows.sum())
        ev["mixed_units"] = dict(sorted(Counter(display[mixed_rows].tolist()).items()))
        offenders["mixed_samples"] = _first(obs[mixed_rows])
    ev["n_samples_agreeing"] = n_agree
    ev["n_samples_nonempty"] = n_present
    # negative values where the units forbid them
    forbids = units in _NO_NEGATIVES or (units == "log" and pseudo is not None and pseudo >= 1)
    if forbids:
        cols_neg = scan.f_neg.copy()
        if dec.mixed_cols is not None:
            cols_neg[dec.mixed_cols] = 0
        ev["n_negative_forbidden"] = int(cols_neg.sum())
        ev["n_features_with_negatives"] = int((cols_neg > 0).sum())
        if dec.mixed_cols is None:
            neg_rows = scan.n_neg > 0
            ev["n_samples_with_negatives"] = int(neg_rows.sum())
            offenders["negative_samples"] = _first(obs[neg_rows])
        else:
            offenders["negative_features"] = _first(var[cols_neg > 0])
    return UnitsCall(
        units=units,
        confidence=round(conf * n_agree / n_present, 3),
        reason=reason,
        evidence=ev,
        label=label,
        candidates=candidates,
        log_base=log_base,
        log_of=log_of,
        pseudocount=pseudo,
        name=name,
        sample_units=pd.Series(display, index=obs, dtype=object),
        offenders=offenders,
    )


def _reason(
    key: str,
    units: str,
    ev: dict[str, Any],
    *,
    log_base: str | None,
    pseudo: float | None,
    has_lengths: bool,
) -> str:
    s = (ev.get("linear_sum") if units == "log" else None) or ev.get("sample_sum") or {}
    sums = f"{_g(s.get('min', 0))}–{_g(s.get('max', 0))}"
    target = ev.get("target_sum")
    filtered = ev.get("filtered_share")
    filt = f" (up to {filtered:.1%} removed by gene filtering)" if filtered else ""
    linear = {
        "counts": (
            f"{'' if units == 'log' else 'non-negative '}integers; library sizes {sums} "
            f"(median {_g(s.get('median', 0))})"
        ),
        "counts~": (
            f"non-integer estimated counts (salmon/RSEM style): "
            f"{1 - ev['fraction_non_integer']:.0%} of values are integers; sums {sums}"
        ),
        "cpm": f"per-sample multiples of integer counts that sum to 1e6{filt}",
        "tpm": f"value x gene length is a per-sample multiple of integer counts; sums 1e6{filt}",
        "rpkm": "sum of value x gene length (bp) is 1e9 per sample, the RPKM/FPKM definition",
        "normalized": (
            f"per-sample multiples of integer counts; sums {sums}"
            + (
                f": normalised to a constant {_g(target)} "
                f"(normalize_total(target_sum={_g(target)}))"
                if target and ev.get("linear_sum_spread", 1) <= _SUM_RTOL
                else " vary: size-factor normalised (DESeq2/TMM style)"
            )
        ),
        "normalized~": f"constant per-sample sums {_g(target or 0)}",
        "cpm_or_tpm": (
            f"sums to 1e6 per sample{filt} but values are not multiples of integer counts: TPM, "
            "or CPM of estimated/rounded counts"
            + ("" if has_lengths else "; TPM vs CPM needs gene lengths")
        ),
        "cpm_or_tpm~": (
            f"sums {sums}, at 1e6 up to filtering or rounding: TPM or CPM"
            + ("" if has_lengths else " (TPM vs CPM needs gene lengths)")
        ),
        "rpkm~": (
            f"non-integer, non-negative values whose per-sample sums vary ({sums}): RPKM/FPKM "
            "or another length/size-factor normalisation (cannot tell without gene lengths)"
        ),
        "unknown~": (
            f"non-integer, non-negative values whose sums vary ({sums}) and whose sum of "
            f"value x gene length is {_g(ev.get('length_sum_over_1e9', 0))}e9, not 1e9: not "
            "counts, CPM, TPM or RPKM for these gene lengths"
        ),
        "scaled": (
            "features centred (median |mean|/sd "
            f"{_g(ev.get('features', {}).get('median_abs_mean_over_sd', 0))}) with median sd "
            f"{_g(ev.get('features', {}).get('median_sd', 0))}: scaled / z-scored"
        ),
        "scaled~": "samples centred around 0 with negative values, or features with sd 1: scaled",
        "unknown": (
            "negative values, but neither features nor samples are centred and there is no "
            "log(x + pseudocount) pattern"
        ),
    }
    if units == "log":
        if log_base is None:
            return (
                f"non-integer values in [{_g(ev['min'])}, {_g(ev['max'])}]: a log scale, but no "
                "back-transform (base e, 2, 10) gives counts, CPM/TPM or constant sums"
            )
        inverse = _inverse(log_base, pseudo or 1.0)
        return f"back-transformed with {inverse}: " + linear.get(key, key)
    return linear.get(key, key)


def _inverse(base: str | None, pseudo: float) -> str:
    if base is None:
        return "the inverse log"
    if base == "e" and pseudo == 1.0:
        return "np.expm1(X)"
    power = "np.exp(X)" if base == "e" else f"{base}**X"
    return f"{power} - {pseudo:g}"


def _as_view(X: Any, name: str | None) -> MatrixView:
    if isinstance(X, MatrixView):
        return X
    return as_matrix(X, name=name)


def _check_options(chunk_size: int, max_filtered_share: float) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(
            f"chunk_size must be a positive integer; got {chunk_size!r} instead",
            key="chunk_size",
            hint="Use e.g. chunk_size=10_000 (--chunk-size).",
        )
    if not 0.0 <= max_filtered_share < 1.0:
        raise ConfigError(
            f"max_filtered_share must be in [0, 1); got {max_filtered_share!r} instead",
            key="max_filtered_share",
            hint="Use e.g. max_filtered_share=0.25.",
        )


def _view_lengths(
    view: MatrixView, gene_lengths: pd.Series | None, *, strict: bool
) -> tuple[np.ndarray | None, dict[str, int] | None]:
    """Gene lengths aligned to ``view``'s features (NaN where unknown) and how many matched.
    Lengths that match no feature raise when ``strict``, else are ignored."""
    if gene_lengths is None:
        return None, None
    try:
        lengths = _align_lengths(gene_lengths, view.var_names, name=view.name)
    except InputError:
        if strict:
            raise
        return None, None
    return lengths, {"n_matched": int(np.isfinite(lengths).sum()), "n_features": view.n_vars}


def _detect(
    X: Any,
    *,
    gene_lengths: pd.Series | None,
    chunk_size: int,
    name: str | None,
    max_filtered_share: float,
    strict_lengths: bool = True,
) -> tuple[UnitsCall, Scan]:
    """Detect units and keep the scan (for artifacts). With ``strict_lengths=False``
    (lengths found automatically, e.g. in ``.var``), lengths that do not match are ignored
    instead of raising."""
    _check_options(chunk_size, max_filtered_share)
    if gene_lengths is None and _is_anndata(X):
        gene_lengths = gene_lengths_from_var(X)
        strict_lengths = False
    view = _as_view(X, name)
    lengths, lengths_info = _view_lengths(view, gene_lengths, strict=strict_lengths)
    scan = scan_matrix(view, lengths, chunk_size)
    lo = 1.0 - max_filtered_share
    with np.errstate(all="ignore"):
        dec = _classify(scan, has_lengths=lengths is not None, lo=lo)
        return _build_call(view, scan, dec, lengths_info=lengths_info, lo=lo), scan


def detect_units(
    X: Any,
    *,
    gene_lengths: pd.Series | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    name: str | None = None,
    max_filtered_share: float = 0.25,
) -> UnitsCall:
    """Infer the units of a samples x features matrix in one streaming pass over its rows.

    Per sample it measures sums, non-zeros, min/max, non-integer and negative values,
    NaN/inf, whether the values sit on a per-sample grid of integer counts (CPM and
    library-size normalised values do; TPM does only after multiplying by gene length),
    the sum of value x gene length (1e9 for RPKM/FPKM) and the same after undoing log
    transforms (base e, 2, 10, pseudocount 1 or the sample minimum); per feature it keeps
    sums and sums of squares (scaled detection). Each sample gets its own call
    (``sample_units``); the matrix gets the majority call.

    Parameters
    ----------
    X
        Dense array, scipy.sparse matrix, DataFrame (rows = samples), AnnData (``.X``; in
        memory or backed) or a ``MatrixView``. Never densified: rows are read in chunks.
    gene_lengths
        Gene lengths in bp indexed by feature id (see :func:`read_gene_lengths`); for an
        AnnData without it, a ``.var`` length column is used when present. With lengths,
        TPM, CPM and RPKM are told apart exactly; without them TPM vs CPM may stay
        ``"cpm_or_tpm"`` and RPKM is unconfirmed (``candidates == ("rpkm", "normalized")``).
    chunk_size
        Rows per block (memory is bounded by one block).
    name
        Name used in messages.
    max_filtered_share
        CPM/TPM samples may sum to less than 1e6 by up to this share (genes filtered after
        normalising).

    Returns
    -------
    UnitsCall

    Raises
    ------
    InputError
        Non-numeric or non-2-D input; gene lengths that match fewer than half the features.
    ConfigError
        ``chunk_size`` < 1 or ``max_filtered_share`` outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(20, (30, 200))
    >>> detect_units(counts).units
    'counts'
    >>> detect_units(np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)).label
    'log1p(normalized)'
    """
    call, _ = _detect(
        X,
        gene_lengths=gene_lengths,
        chunk_size=chunk_size,
        name=name,
        max_filtered_share=max_filtered_share,
    )
    return call


# --------------------------------------------------------------------------- conversion hints


def _num(x: float) -> str:
    k = np.log10(abs(x)) if x else 0.5
    return f"1e{round(float(k))}" if abs(k - round(k)) < 1e-9 else _g(x)


def _recipe(src: str, dst: str, *, target: float | None = None) -> str | None:
    """Statements turning linear ``src`` units (in X) into ``dst`` (in Y); None if impossible."""
    linear = ("counts", "cpm", "normalized", "tpm", "rpkm")
    if src not in linear or dst not in linear[1:]:
        return None

    def rescale(expr: str, factor: float) -> str:
        if expr == "X":
            return f"Y = X / X.sum(axis=1, keepdims=True) * {_num(factor)}"
        return f"Y = {expr}; Y = Y / Y.sum(axis=1, keepdims=True) * {_num(factor)}"

    prop = "X" if src in ("counts", "cpm", "normalized") else "X * gene_length_bp"
    if dst == "cpm":
        return rescale(prop, CPM_TARGET)
    if dst == "normalized":
        return rescale(prop, target or 1e4)
    if dst == "tpm":
        return rescale("X" if src in ("tpm", "rpkm") else "X / gene_length_bp", CPM_TARGET)
    return rescale(prop, CPM_TARGET) + "; Y = Y / (gene_length_bp / 1e3)"


def _forward(base: str | None, pseudo: float | None, var: str) -> str:
    p = 1.0 if pseudo is None else pseudo
    if base in (None, "e") and p == 1.0:
        return f"np.log1p({var})"
    fn = "np.log" if base in (None, "e") else f"np.log{base}"
    return f"{fn}({var} + {p:g})"


def _convert_hint(call: UnitsCall, dst: str, *, dst_call: UnitsCall | None = None) -> str:
    """One imperative sentence with the code turning ``call``'s data into ``dst`` units."""
    dst = "rpkm" if dst == "fpkm" else dst
    name = call.name
    if call.units == "scaled":
        return (
            f"Scaled values cannot be converted back: rebuild {name} from raw counts and "
            "scale last, fitting the scaler on the training split only."
        )
    if dst == "counts":
        return (
            f"{call.label} values cannot be turned back into counts: load the raw counts for "
            f"{name} instead (e.g. adata.layers['counts'], the featureCounts/STAR table or "
            "salmon NumReads)."
        )
    if dst == "scaled":
        return (
            f"Scale {name} with sklearn.preprocessing.StandardScaler fitted on the training "
            "split, after bringing every input to the same units."
        )
    steps = []
    src = call.units
    if call.units == "log":
        if call.log_base is None:
            return f"Find out which log transform produced {name}, or re-derive it from counts."
        steps.append(f"X = {_inverse(call.log_base, call.pseudocount or 1.0)}")
        src = call.log_of or "unknown"
    target = dst_call.evidence.get("target_sum") if dst_call is not None else None
    if dst == "log":
        inner = dst_call.log_of if dst_call is not None else None
        base = dst_call.log_base if dst_call is not None else None
        pseudo = dst_call.pseudocount if dst_call is not None else None
    else:
        inner, base, pseudo = dst, None, None
    var = "X"
    if inner is not None and inner != src:
        if src == "cpm_or_tpm" or inner == "cpm_or_tpm":
            return (
                f"Tell TPM from CPM first (pass gene lengths: --gene-lengths or "
                f"gene_lengths=read_gene_lengths(path)) or re-quantify {name} from raw counts."
            )
        recipe = _recipe(src, inner, target=target)
        if recipe is None:
            return f"Re-quantify {name} from raw counts with the same pipeline as the other inputs."
        steps.append(recipe)
        var = "Y"
    if dst == "log":
        steps.append(f"Y = {_forward(base, pseudo, var)}")
    elif var == "X" and steps:
        steps.append("Y = X")
    code = "; ".join(steps)
    lengths = (
        " (gene_length_bp: lengths in bp aligned to the columns)" if "gene_length" in code else ""
    )
    return f"Convert {name} with {code}{lengths}."


def _pair_hint(a: UnitsCall, b: UnitsCall) -> str:
    """Hint for two inputs in different units: convert the one that can be converted."""
    order = [(a, b), (b, a)] if a.units == "counts" else [(b, a), (a, b)]
    for src, dst in order:
        if src.units in ("scaled", "unknown") or dst.units in ("unknown", "cpm_or_tpm", "scaled"):
            continue
        if dst.units == "counts" or (dst.units == "log" and dst.log_of in (None, "cpm_or_tpm")):
            continue
        hint = _convert_hint(src, dst.units, dst_call=dst)
        if hint.startswith("Convert "):
            return hint
    return (
        f"Re-quantify {a.name} and {b.name} from raw counts with one pipeline "
        "(same normalisation and transform) before combining them."
    )


def _call_from_label(label: str, name: str) -> UnitsCall:
    """A bare call for a per-sample label (used to phrase conversion hints)."""
    units, base_pseudo, inner = _parse(label)
    base, pseudo = base_pseudo.split(":") if base_pseudo else (None, None)
    return UnitsCall(
        units,
        0.0,
        "",
        label=label,
        candidates=_CANDIDATES.get(units, ()),
        log_base=base,
        log_of=inner,
        pseudocount=float(pseudo) if pseudo else None,
        name=name,
    )


# --------------------------------------------------------------------------- findings


def _detected_finding(call: UnitsCall, *, role: str | None = None) -> Finding:
    ev = call.evidence
    agree = ev.get("n_samples_agreeing", 0)
    total = ev.get("n_samples_nonempty", 0)
    hint = ""
    if "cpm_or_tpm" in call.label and not ev.get("gene_lengths"):
        hint = (
            "Pass gene lengths (--gene-lengths lengths.tsv, or "
            "gene_lengths=read_gene_lengths(path)) to tell TPM from CPM."
        )
    elif call.candidates == ("rpkm", "normalized") and not ev.get("gene_lengths"):
        hint = (
            "Pass gene lengths (--gene-lengths lengths.tsv) to confirm RPKM/FPKM "
            "(sum of value x length = 1e9 per sample)."
        )
    what = f"{role}: " if role else ""
    return Finding(
        DETECTED,
        Severity.INFO,
        f"{call.name}: {what}{call.label} — {call.reason}; {fraction(agree, total)} samples agree",
        evidence={
            "units": call.units,
            "label": call.label,
            "confidence": call.confidence,
            "candidates": list(call.candidates),
            "log_base": call.log_base,
            "log_of": call.log_of,
            "pseudocount": call.pseudocount,
            **({"role": role} if role else {}),
            **ev,
        },
        hint=hint,
        input=call.name,
    )


def _unexpected_findings(call: UnitsCall, expected: str, *, source: str) -> list[Finding]:
    if call.matches(expected):
        return []
    unknown = call.units == "unknown"
    what = "could not be confirmed" if unknown else f"look like {call.label}"
    return [
        Finding(
            UNEXPECTED,
            Severity.WARNING if unknown else Severity.ERROR,
            f"{call.name}: expected {expected} ({source}) but the values {what} ({call.reason})",
            evidence={
                "expected": expected,
                "expected_from": source,
                "detected": call.units,
                "label": call.label,
                "candidates": list(call.candidates),
                "confidence": call.confidence,
            },
            hint=_convert_hint(call, expected)
            if not unknown
            else (f"Check how {call.name} was produced; its units could not be inferred."),
            input=call.name,
        )
    ]


def _mixed_findings(call: UnitsCall) -> list[Finding]:
    ev = call.evidence
    out = []
    k = ev.get("n_mixed_samples", 0)
    if k:
        ids = call.offenders.get("mixed_samples", [])
        others = ev.get("mixed_units", {})
        kinds = ", ".join(f"{lab} ({c})" for lab, c in others.items())
        dominant = max(others.items(), key=lambda kv: (kv[1], kv[0]))[0]
        out.append(
            Finding(
                MIXED_WITHIN,
                Severity.ERROR,
                f"{call.name}: {fraction(k, ev['n_samples_nonempty'])} samples are in other "
                f"units than the {call.label} of the rest: {kinds} (e.g. "
                f"{preview(ids, total=k)})",
                evidence={
                    "axis": "samples",
                    "majority": call.label,
                    "n_samples": ev["n_samples_nonempty"],
                    "n_other": k,
                    "other_units": others,
                },
                subjects=ids,
                hint=_mixed_hint(call, dominant, k),
                input=call.name,
            )
        )
    kf = ev.get("n_mixed_features", 0)
    if kf:
        ids = call.offenders.get("mixed_features", [])
        kind = ev.get("mixed_feature_kind")
        n_nonempty = ev.get("n_features_nonzero", 0)
        out.append(
            Finding(
                MIXED_WITHIN,
                Severity.ERROR,
                f"{call.name}: {fraction(kf, n_nonempty)} features hold {kind} values while "
                f"the other {n_nonempty - kf} hold {call.label} (e.g. {preview(ids, total=kf)})",
                evidence={
                    "axis": "features",
                    "majority": call.label,
                    "kind": kind,
                    "n_features": n_nonempty,
                    "n_other": kf,
                },
                subjects=ids,
                hint=(
                    "Build every feature column from the same matrix: drop or re-derive the "
                    f"{kf} odd columns (e.g. X.loc[:, ~X.columns.isin(odd)]) before training."
                ),
                input=call.name,
            )
        )
    return out


def _mixed_hint(call: UnitsCall, dominant: str, k: int) -> str:
    if call.units == "counts":
        return (
            f"Re-load the {k} {dominant} samples as raw counts from their quantifier output "
            f"({dominant} cannot be turned back into counts) before merging."
        )
    if call.units == "unknown":
        return "Re-quantify every sample with one pipeline before merging."
    src = _call_from_label(dominant, f"the {k} {dominant} samples")
    return _convert_hint(src, call.units, dst_call=call)


def _invalid_findings(call: UnitsCall) -> list[Finding]:
    ev = call.evidence
    name = call.name
    out = []
    n, m = ev["n_samples"], ev["n_features"]
    bad_rows = ev.get("n_samples_with_nan_or_inf", 0)
    if bad_rows:
        ids = call.offenders.get("nan_samples", [])
        out.append(
            Finding(
                INVALID_VALUES,
                Severity.ERROR,
                f"{name}: {ev['n_nan']} NaN and {ev['n_inf']} infinite values in "
                f"{fraction(bad_rows, n)} samples (e.g. {preview(ids, total=bad_rows)})",
                evidence={
                    "kind": "nan_inf",
                    "n_nan": ev["n_nan"],
                    "n_inf": ev["n_inf"],
                    "n_samples_affected": bad_rows,
                    "n_samples": n,
                },
                subjects=ids,
                hint=(
                    "Locate them with np.argwhere(~np.isfinite(X)) and impute or drop those "
                    "samples/features before training (most models propagate NaN silently)."
                ),
                input=name,
            )
        )
    n_neg = ev.get("n_negative_forbidden", 0)
    if n_neg:
        by_sample = "negative_samples" in call.offenders
        ids = call.offenders.get("negative_samples" if by_sample else "negative_features", [])
        k = ev["n_samples_with_negatives"] if by_sample else ev["n_features_with_negatives"]
        axis = "samples" if by_sample else "features"
        out.append(
            Finding(
                INVALID_VALUES,
                Severity.ERROR,
                f"{name}: {n_neg} negative values in {call.label} data, which cannot be "
                f"negative, in {fraction(k, n if by_sample else m)} {axis} (e.g. "
                f"{preview(ids, total=k)})",
                evidence={
                    "kind": "negative",
                    "units": call.units,
                    "n_negative": n_neg,
                    f"n_{axis}_affected": k,
                    "n_features_with_negatives": ev.get("n_features_with_negatives", 0),
                },
                subjects=ids,
                hint=(
                    "Find the step that produced them (np.argwhere(X < 0)): a subtraction, a "
                    "batch correction or a merge; clip only if they are rounding noise."
                ),
                input=name,
            )
        )
    k = ev.get("n_zero_samples", 0)
    if k:
        ids = call.offenders.get("zero_samples", [])
        out.append(
            Finding(
                INVALID_VALUES,
                Severity.WARNING,
                f"{name}: {fraction(k, n)} samples are zero in every feature (e.g. "
                f"{preview(ids, total=k)})",
                evidence={"kind": "zero_samples", "n_zero_samples": k, "n_samples": n},
                subjects=ids,
                hint=(
                    "Drop empty samples before normalising (X[X.sum(axis=1) > 0] or "
                    "sc.pp.filter_cells(adata, min_counts=1)); they become NaN after "
                    "library-size normalisation."
                ),
                input=name,
            )
        )
    k = ev.get("n_zero_features", 0)
    if k:
        ids = call.offenders.get("zero_features", [])
        out.append(
            Finding(
                INVALID_VALUES,
                Severity.WARNING,
                f"{name}: {fraction(k, m)} features are zero in every sample (e.g. "
                f"{preview(ids, total=k)})",
                evidence={"kind": "zero_features", "n_zero_features": k, "n_features": m},
                subjects=ids,
                hint=(
                    "Drop features that are zero everywhere (X[:, X.sum(axis=0) > 0] or "
                    "sc.pp.filter_genes(adata, min_cells=1)) before scaling or training."
                ),
                input=name,
            )
        )
    return out


def _matrix_findings(call: UnitsCall, *, role: str | None = None) -> list[Finding]:
    return [_detected_finding(call, role=role), *_mixed_findings(call), *_invalid_findings(call)]


def _check_expected(expected: str | None) -> None:
    from biodata_guard.config import UNITS as CONFIG_UNITS

    if expected is not None and expected not in CONFIG_UNITS:
        raise ConfigError(
            f"expected_units must be one of {', '.join(CONFIG_UNITS)}; got {expected!r} instead",
            key="expectations.units",
            hint="Set expectations.units (or --expected-units) to one of the listed values.",
        )


def check_units(
    X: Any,
    *,
    gene_lengths: pd.Series | None = None,
    expected_units: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    name: str | None = None,
    max_filtered_share: float = 0.25,
) -> list[Finding]:
    """All single-matrix unit checks in one streaming pass.

    Emits ``units.detected`` (info, the call with its evidence), ``units.unexpected``
    (error when the data are definitely not ``expected_units``; warning when the units
    could not be inferred), ``units.mixed_within`` (error: samples in other units than the
    rest, or feature columns on another scale) and ``units.invalid_values`` (NaN/inf and
    negative values where the units forbid them: error; all-zero samples or features:
    warning).

    Parameters
    ----------
    X
        A matrix (see :func:`detect_units`) or a :class:`UnitsCall` already computed.
    expected_units
        One of ``config.UNITS`` (``counts``, ``cpm``, ``tpm``, ``rpkm``, ``fpkm``,
        ``normalized``, ``log``, ``scaled``), or None.

    Examples
    --------
    A batch appended in TPM to raw counts:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(20, (40, 300)).astype(float)
    >>> lengths = rng.integers(500, 5000, 300)
    >>> rate = counts[30:] / lengths
    >>> X = np.vstack([counts[:30], rate / rate.sum(1, keepdims=True) * 1e6])
    >>> [(f.check, str(f.severity)) for f in check_units(X) if f.severity != "info"]
    [('units.mixed_within', 'error')]
    """
    _check_expected(expected_units)
    if isinstance(X, UnitsCall):
        call = X
    else:
        call = detect_units(
            X,
            gene_lengths=gene_lengths,
            chunk_size=chunk_size,
            name=name,
            max_filtered_share=max_filtered_share,
        )
    out = _matrix_findings(call)
    if expected_units is not None:
        out += _unexpected_findings(call, expected_units, source="expected_units")
    return out


def _calls_compatible(a: UnitsCall, b: UnitsCall) -> bool:
    if a.units == "unknown" or b.units == "unknown":
        return True  # cannot tell: no mismatch claimed
    if (a.units == "log") != (b.units == "log"):
        return False
    if a.units == "log":
        if a.log_base and b.log_base:
            same_log = a.log_base == b.log_base and _g(a.pseudocount or 1) == _g(b.pseudocount or 1)
            if not same_log:
                return False
        if a.log_of is None or b.log_of is None:
            return True
        ca, cb = set(_CANDIDATES.get(a.log_of, ())), set(_CANDIDATES.get(b.log_of, ()))
        inner_a, inner_b = a.log_of, b.log_of
    else:
        ca, cb = set(a.candidates), set(b.candidates)
        inner_a, inner_b = a.units, b.units
    if not ca & cb:
        return False
    if inner_a == inner_b == "normalized":
        ta, tb = a.evidence.get("target_sum"), b.evidence.get("target_sum")
        const = all((c.evidence.get("linear_sum_spread") or 1) <= _SUM_RTOL for c in (a, b))
        if const and ta and tb and abs(ta / tb - 1) > 0.01:
            return False
    return True


def _mismatch_findings(calls: Sequence[UnitsCall]) -> list[Finding]:
    out = []
    for i, a in enumerate(calls):
        for b in calls[i + 1 :]:
            if _calls_compatible(a, b):
                continue
            out.append(
                Finding(
                    MISMATCH,
                    Severity.ERROR,
                    f"{b.name} vs {a.name}: {a.name} holds {a.label} but {b.name} holds "
                    f"{b.label} ({b.reason})",
                    evidence={
                        "inputs": [a.name, b.name],
                        "units": {a.name: a.units, b.name: b.units},
                        "labels": {a.name: a.label, b.name: b.label},
                        "confidence": {a.name: a.confidence, b.name: b.confidence},
                        "target_sums": {
                            a.name: a.evidence.get("target_sum"),
                            b.name: b.evidence.get("target_sum"),
                        },
                    },
                    subjects=[a.name, b.name],
                    hint=_pair_hint(a, b),
                    input=b.name,
                )
            )
    return out


def check_units_mismatch(
    inputs: Mapping[str, Any] | Sequence[UnitsCall],
    *,
    gene_lengths: pd.Series | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
) -> list[Finding]:
    """``units.mismatch`` (error) for every pair of feature inputs in different units.

    Inputs whose units are unknown are not compared; ambiguity (``cpm_or_tpm`` vs ``tpm``)
    is not a mismatch; log transforms must agree in base and pseudocount; library-size
    normalised inputs must share the target sum.

    Parameters
    ----------
    inputs
        ``{name: matrix or UnitsCall}``, or a sequence of :class:`UnitsCall`.

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.random.default_rng(0).poisson(20, (20, 100))
    >>> cpm = counts / counts.sum(1, keepdims=True) * 1e6
    >>> [f.check for f in check_units_mismatch({"cohort_a": counts, "cohort_b": cpm})]
    ['units.mismatch']
    """
    if isinstance(inputs, Mapping):
        calls = [
            x
            if isinstance(x, UnitsCall)
            else detect_units(x, gene_lengths=gene_lengths, chunk_size=chunk_size, name=str(k))
            for k, x in inputs.items()
        ]
    else:
        calls = list(inputs)
        if not all(isinstance(c, UnitsCall) for c in calls):
            raise ConfigError(
                "inputs must be a mapping {name: matrix} or a sequence of UnitsCall; got "
                f"{[type(c).__name__ for c in calls][:3]} instead",
                key="inputs",
                hint="Pass {'cohort_a': X_a, 'cohort_b': X_b}.",
            )
    return _mismatch_findings(calls)


# --------------------------------------------------------------------------- AnnData layout


def _anndata_roles(adata: Any) -> list[str]:
    roles = [".X"] if adata.X is not None else []
    if adata.raw is not None:
        roles.append(".raw.X")
    roles += [f"layers['{k}']" for k in adata.layers if k is not None]
    return roles


def _back_transform(block: np.ndarray, call: UnitsCall) -> np.ndarray:
    if call.units != "log":
        return block
    base = BASE_VALUE[call.log_base or "e"]
    with np.errstate(over="ignore"):
        return np.power(base, block) - (call.pseudocount or 1.0)


def _derived_consistency(
    view: MatrixView,
    call: UnitsCall,
    counts_view: MatrixView,
    lengths: np.ndarray | None,
    *,
    n_rows: int = 100,
) -> dict[str, Any] | None:
    """Whether ``view`` back-transforms row by row to a multiple of ``counts_view`` on the
    first ``n_rows`` samples (same non-zero genes, constant ratio). None when not testable."""
    linear = call.log_of if call.units == "log" else call.units
    if call.units == "log" and call.log_base is None:
        return None
    if linear not in ("counts", "cpm", "normalized", "tpm", "rpkm"):
        return None
    if linear in ("tpm", "rpkm") and lengths is None:
        return None
    if view.shape != counts_view.shape or not view.var_names.equals(counts_view.var_names):
        return None
    k = min(n_rows, view.n_obs)
    bad: list[int] = []
    for start in range(0, k, 25):
        stop = min(k, start + 25)
        A = view.rows(slice(start, stop))
        C = counts_view.rows(slice(start, stop))
        A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=np.float64)
        C = np.asarray(C.toarray() if sp.issparse(C) else C, dtype=np.float64)
        A = _back_transform(A, call)
        if linear in ("tpm", "rpkm"):
            keep = np.isfinite(lengths)
            A, C = A[:, keep] * lengths[keep], C[:, keep]
        for i in range(stop - start):
            a, c = A[i], C[i]
            scale = np.nanmax(np.abs(a)) if a.size else 0.0
            support_a = np.abs(a) > 1e-6 * max(scale, 1e-300)
            if not np.array_equal(support_a, c > 0):
                bad.append(start + i)
                continue
            if not support_a.any():
                continue
            ratio = a[support_a] / c[support_a]
            if (ratio.max() - ratio.min()) > 1e-3 * abs(np.median(ratio)):
                bad.append(start + i)
    return {"rows_checked": k, "rows_inconsistent": len(bad), "examples": bad}


def _lengths_source(adata: Any, gene_lengths: pd.Series | None, role: str) -> pd.Series | None:
    """Gene lengths for one matrix of an AnnData: the given ones, else a ``.var`` column."""
    if gene_lengths is not None or adata is None:
        return gene_lengths
    return gene_lengths_from_var(adata.raw if role == ".raw.X" else adata)


def stream_accumulators(ctx: Any, fi: Any) -> dict[tuple, Scan]:
    """The units scan of ``fi.view``, for the audit's shared pass (same key as the audit's)."""
    layer = ctx.config.layer
    role = ".X" if layer is None else ".raw.X" if layer == "raw" else f"layers['{layer}']"
    source = _lengths_source(fi.adata, ctx.gene_lengths, role)
    try:
        lengths, _ = _view_lengths(fi.view, source, strict=ctx.gene_lengths is not None)
    except InputError:
        return {}  # the check itself reports it
    key, acc = scan_accumulator(fi.view, lengths)
    return {key: acc}


def _anndata_findings(
    adata: Any,
    *,
    name: str,
    gene_lengths: pd.Series | None,
    chunk_size: int,
    max_filtered_share: float = 0.25,
    primary: MatrixView | None = None,
) -> tuple[list[Finding], list[tuple[UnitsCall, MatrixView, Scan, str]]]:
    # ``primary``: the audit's view of one of these matrices; scanning that very object reuses
    # the statistics of the audit's shared pass.
    views = [
        primary if primary is not None and v.name == primary.name else v
        for v in anndata_matrices(adata, name=name)
    ]
    roles = _anndata_roles(adata)
    strict = gene_lengths is not None
    results = []
    findings: list[Finding] = []
    for view, role in zip(views, roles, strict=True):
        lengths = _lengths_source(adata, gene_lengths, role)
        call, scan = _detect(
            view,
            gene_lengths=lengths,
            chunk_size=chunk_size,
            name=view.name,
            max_filtered_share=max_filtered_share,
            strict_lengths=strict,
        )
        results.append((call, view, scan, role))
        findings += _matrix_findings(call, role=role)
        key = role[len("layers['") : -2] if role.startswith("layers[") else None
        expected = _LAYER_EXPECTATIONS.get(key.lower()) if key else None
        if expected is not None:
            findings += _unexpected_findings(call, expected, source=f"layer name '{key}'")
    # is each normalised/log matrix a transform of the counts matrix, sample by sample?
    counts = [r for r in results if r[0].units == "counts" and r[3] != ".X"]
    counts.sort(key=lambda r: (r[3] != "layers['counts']", r[3]))
    layout: dict[str, Any] = {r[3]: r[0].label for r in results}
    checks: dict[str, Any] = {}
    if counts:
        _, c_view, _, c_role = counts[0]
        for call, view, _, role in results:
            if role == c_role or call.units in ("counts", "unknown", "scaled"):
                continue
            lengths = None
            if call.evidence.get("gene_lengths"):
                src = gene_lengths if gene_lengths is not None else gene_lengths_from_var(adata)
                if src is not None:
                    lengths = _align_lengths(src, view.var_names, name=view.name)
            res = _derived_consistency(view, call, c_view, lengths)
            if res is None:
                continue
            checks[role] = {"from": c_role, **res}
            if res["rows_inconsistent"]:
                ids = [str(view.obs_names[i]) for i in res["examples"]]
                findings.append(
                    Finding(
                        MISMATCH,
                        Severity.WARNING,
                        f"{name}: {role} ({call.label}) is not a per-sample transform of "
                        f"{c_role} in {fraction(res['rows_inconsistent'], res['rows_checked'])} "
                        f"checked samples (e.g. {preview(ids, total=res['rows_inconsistent'])})",
                        evidence={
                            "matrix": role,
                            "counts_matrix": c_role,
                            "rows_checked": res["rows_checked"],
                            "rows_inconsistent": res["rows_inconsistent"],
                        },
                        subjects=ids,
                        hint=(
                            f"Rebuild {role} from {c_role} (e.g. adata.X = "
                            "adata.layers['counts'].copy(); sc.pp.normalize_total(adata); "
                            "sc.pp.log1p(adata)) or check that both were subset and "
                            "reordered together."
                        ),
                        input=name,
                    )
                )
    if len(results) > 1:
        parts = ", ".join(f"{role} {label}" for role, label in layout.items())
        standard = layout.get(".X", "").startswith(("log1p(", "log")) and any(
            r[0].units == "counts" for r in results if r[3] != ".X"
        )
        derived = [r for r, c in checks.items() if not c["rows_inconsistent"]]
        tail = (
            f"; {', '.join(derived)} back-transform(s) to {counts[0][3]} sample by sample"
            if derived
            else ""
        )
        findings.append(
            Finding(
                DETECTED,
                Severity.INFO,
                f"{name}: matrices {parts}"
                + (
                    " (the standard scanpy layout: log-normalised .X, raw counts kept)"
                    if standard
                    else ""
                )
                + tail,
                evidence={"layout": layout, "standard_layout": standard, "derived_checks": checks},
                input=name,
            )
        )
    return findings, results


def check_anndata_units(
    adata: Any,
    *,
    name: str = "<AnnData>",
    gene_lengths: pd.Series | None = None,
    expected_units: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    max_filtered_share: float = 0.25,
) -> list[Finding]:
    """Unit checks for every matrix of an AnnData (``.X``, ``.raw.X``, each layer).

    Each matrix gets the single-matrix checks of :func:`check_units` (its ``role`` in the
    evidence). Different units across ``.X``, ``.raw`` and layers are expected (that is what
    layers are for) and reported as info, e.g. the standard scanpy layout (log-normalised
    ``.X`` + ``layers['counts']``). Problems are: a layer whose name promises units it does
    not hold (``layers['counts']`` with log values: ``units.unexpected``, error), and a
    normalised/log matrix that does not back-transform sample by sample to the counts layer
    (first 100 samples checked: ``units.mismatch``, warning — the layers are out of sync).
    ``expected_units`` applies to ``.X``.

    Examples
    --------
    >>> import anndata as ad, numpy as np
    >>> counts = np.random.default_rng(0).poisson(3, (50, 80)).astype(np.float32)
    >>> a = ad.AnnData(np.log1p(counts / counts.sum(1, keepdims=True) * 1e4))
    >>> a.layers["counts"] = counts
    >>> sorted({(f.check, str(f.severity)) for f in check_anndata_units(a)})
    [('units.detected', 'info')]
    >>> a.layers["counts"] = a.X.copy()  # log values stored under "counts"
    >>> [f.check for f in check_anndata_units(a) if f.severity == "error"]
    ['units.unexpected']
    """
    if not _is_anndata(adata):
        raise InputError(
            f"{name}: expected an AnnData; got {type(adata).__name__} instead",
            path=name,
            hint="Use check_units() for arrays, sparse matrices and DataFrames.",
        )
    _check_options(chunk_size, max_filtered_share)
    _check_expected(expected_units)
    findings, results = _anndata_findings(
        adata,
        name=name,
        gene_lengths=gene_lengths,
        chunk_size=chunk_size,
        max_filtered_share=max_filtered_share,
    )
    if expected_units is not None:
        main = next((r[0] for r in results if r[3] == ".X"), None)
        if main is not None:
            findings += _unexpected_findings(main, expected_units, source="expected_units")
    return findings


# --------------------------------------------------------------------------- audit


def _artifact(call: UnitsCall, scan: Scan, role: str | None = None) -> dict[str, Any]:
    n = scan.n
    idx = np.unique(np.linspace(0, n - 1, min(n, _MAX_PLOT_POINTS)).astype(int)) if n else []
    labels = call.sample_units.to_numpy() if call.sample_units is not None else []
    art: dict[str, Any] = {
        "name": call.name,
        "role": role,
        "units": call.units,
        "label": call.label,
        "sample_ids": [str(call.sample_units.index[i]) for i in idx] if n else [],
        "sample_sums": scan.S[idx].tolist() if n else [],
        "sample_units": [str(labels[i]) for i in idx] if n else [],
        "histogram": {
            "scale": "asinh",
            "edges": np.sinh(HIST_EDGES).tolist(),
            "counts": scan.hist.tolist(),
            "n_sampled_nonzero": scan.n_hist_sampled,
            "n_zero": int(scan.n * scan.m - scan.nnz.sum() - scan.n_neg.sum() * 0),
        },
    }
    if call.log_base is not None and n:
        art["linear_sums"] = scan.log[call.log_base]["S"][idx].tolist()
    return art


def audit_units(ctx: Any) -> list[Finding]:
    """Units checks for one audit.

    For each ``ctx.features[i]``: the single-matrix checks on its view; when ``.adata`` is
    set, on every matrix of the AnnData (``X``, ``raw``, layers) with the layout checks of
    :func:`check_anndata_units`. ``ctx.config.expected_units`` is compared with each input's
    audited view; inputs are compared pairwise (``units.mismatch``). Gene lengths come from
    ``ctx.gene_lengths`` or, for AnnData, a ``.var`` length column. Streams rows in
    ``ctx.config.chunk_size`` blocks. Plot data (sub-sampled per-sample sums and a value
    histogram per matrix) go to ``ctx.artifacts["units"]["matrices"]``.
    """
    cfg = ctx.config
    chunk = int(cfg.chunk_size)
    expected = cfg.expected_units
    _check_expected(expected)
    findings: list[Finding] = []
    primary: list[UnitsCall] = []
    matrices: list[dict[str, Any]] = []
    for fi in ctx.features:
        main = None
        if fi.adata is not None:
            fs, results = _anndata_findings(
                fi.adata,
                name=fi.name,
                gene_lengths=ctx.gene_lengths,
                chunk_size=chunk,
                primary=fi.view,
            )
            findings += fs
            for call, view, scan, role in results:
                matrices.append(_artifact(call, scan, role))
                if view.name == fi.view.name and view.shape == fi.view.shape:
                    main = call
        if main is None:
            lengths = ctx.gene_lengths
            strict = lengths is not None
            if lengths is None and fi.adata is not None:
                lengths = gene_lengths_from_var(fi.adata)
            main, scan = _detect(
                fi.view,
                gene_lengths=lengths,
                chunk_size=chunk,
                name=fi.name,
                max_filtered_share=0.25,
                strict_lengths=strict,
            )
            findings += _matrix_findings(main)
            matrices.append(_artifact(main, scan))
        if expected is not None:
            findings += _unexpected_findings(main, expected, source="expected_units")
        primary.append(main)
    findings += _mismatch_findings(primary)
    if matrices:
        ctx.artifacts.setdefault("units", {})["matrices"] = matrices
    return findings
