"""The wording of a units call: its one-sentence reason and what stays undetermined."""

from __future__ import annotations

from typing import Any

from biodata_guard.units._call import _SUM_RTOL, _g
from biodata_guard.units._hints import _inverse


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
        "rpkm": (
            "value x gene length sits on a per-sample lattice of integer counts and sums to "
            f"{_g(ev.get('length_sum_over_1e9', 0))}e9 per sample: length-normalised, "
            "the RPKM/FPKM definition (sum of value x length = 1e9)"
            if ev.get("fraction_on_length_lattice")
            else "sum of value x gene length (bp) is 1e9 per sample, the RPKM/FPKM definition"
        ),
        "lennorm~": (
            "value x gene length sits on a per-sample lattice of integer counts (length-"
            f"normalised) but sums vary ({sums}) and value x length sums to "
            f"{_g(ev.get('length_sum_over_1e9', 0))}e9: RPKM/FPKM of a subset of genes, or "
            "another length-normalised scale"
        ),
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
                + (
                    ""
                    if ev.get("n_negative")
                    else "; small linear values (RPKM of low-expressed genes) fit as well"
                )
            )
        inverse = _inverse(log_base, pseudo or 1.0)
        return f"back-transformed with {inverse}: " + linear.get(key, key)
    return linear.get(key, key)


def _undetermined(
    linear: str | None, key: str, *, unresolved_log: bool, has_lengths: bool, signed: bool = True
) -> list[str]:
    """What the data cannot tell apart, one phrase each."""
    out = []
    if linear == "cpm_or_tpm":
        out.append(
            "tpm vs cpm: both sum to 1e6 per sample"
            + (
                "; the values are not exact multiples of integer counts for these lengths"
                if has_lengths
                else "; pass gene lengths to tell them apart"
            )
        )
    if key == "rpkm~":
        out.append(
            "rpkm/fpkm vs size-factor normalised estimated counts: the values are not on a "
            "per-sample lattice of integer counts (so not CPM, DESeq2 or edgeR normalised "
            "integer counts); pass gene lengths to confirm RPKM (value x length sums to 1e9)"
        )
    if unresolved_log:
        out.append(
            "log base and the units under the log"
            + ("" if signed else "; or small linear values (RPKM of low-expressed genes)")
        )
    return out


def _counts_columns_reason(n_counts: int, n_nonzero: int, n_other: int, kind: str | None) -> str:
    """Reason of a counts call whose odd feature columns hold other values."""
    return (
        f"integers ≥ 0 in {n_counts} of {n_nonzero} non-empty "
        f"features; {n_other} features hold {kind} values"
    )
