"""Conversion hints: the code that turns one input's units into another's."""

from __future__ import annotations

import numpy as np

from biodata_guard.units._call import _CANDIDATES, CPM_TARGET, UnitsCall, _g
from biodata_guard.units._classify import _parse


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


def _inverse(base: str | None, pseudo: float) -> str:
    if base is None:
        return "the inverse log"
    if base == "e" and pseudo == 1.0:
        return "np.expm1(X)"
    power = "np.exp(X)" if base == "e" else f"{base}**X"
    return f"{power} - {pseudo:g}"
