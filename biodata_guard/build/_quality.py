"""What the coordinates say about the file itself: malformed rows set aside
(``build.malformed_rows``) and a header whose stated build the coordinates contradict
(``build.stale_header``)."""

from __future__ import annotations

import os
from typing import Any

from biodata_guard._format import fraction, preview
from biodata_guard.build._detect import BuildCall
from biodata_guard.build._inputs import _Prepared
from biodata_guard.build._reference import _UCSC
from biodata_guard.findings import Finding, Severity
from biodata_guard.registry import declare_check

MALFORMED_ROWS = declare_check(
    "build.malformed_rows",
    group="build",
    severities=("warning",),
    needs=("coords",),
    doc="Rows of a coordinate file that cannot be read (a line split in two, NA or text in a "
    "position column): counted, located by line, and left out of the build call.",
)
STALE_HEADER = declare_check(
    "build.stale_header",
    group="build",
    severities=("warning",),
    needs=("coords",),
    doc="A header states one build and the coordinates decide another on their own (a header "
    "left stale after a liftover): the call follows the coordinates.",
)


def _malformed_hint(p: _Prepared, info: dict[str, Any]) -> str:
    path = p.ci.path or p.name
    base = os.path.basename(path)
    cat = "zcat" if base.endswith((".gz", ".bgz")) else "cat"
    n_fields = next((r.split()[1] for r in info.get("reasons", {}) if r.startswith("not ")), None)
    sep = p.ci.header.get("sep")
    if n_fields is not None and sep in ("\t", ","):
        flag = "\\t" if sep == "\t" else ","
        return (
            f"Repair or drop the listed lines; keep only rows with {n_fields} fields: {cat} "
            f"{base} | awk -F'{flag}' 'NF == {n_fields}' > clean.txt (a line split in two "
            "lost or gained a newline, often inside an unquoted text field)."
        )
    pos = (p.ci.header.get("columns") or {}).get("pos", "pos")
    return (
        "Repair or drop the listed lines (positions must be whole numbers); the build was "
        f"decided on the other rows. With pandas: df = df[pd.to_numeric(df['{pos}'], "
        "errors='coerce').notna()]."
    )


def _malformed_finding(p: _Prepared) -> list[Finding]:
    """``build.malformed_rows`` (warning) when the reader set rows aside."""
    info = p.ci.header.get("malformed") or {}
    n = int(info.get("n", 0))
    if not n:
        return []
    where = info.get("where", "line")
    lines = info.get("lines", [])
    reasons = info.get("reasons", {})
    total = int(info.get("n_rows", n + p.n))
    message = (
        f"{p.where}: {fraction(n, total)} rows are malformed and were left out "
        f"({where}s {preview(lines, n=5, total=n)}: "
        f"{preview([f'{k} ({v})' for k, v in reasons.items()], n=3)}); the build is decided on "
        f"the {p.n:,} usable rows"
    )
    return [
        Finding(
            MALFORMED_ROWS,
            Severity.WARNING,
            message,
            evidence={
                "n_malformed": n,
                "n_rows_read": total,
                "n_usable": p.n,
                "first_lines": lines,
                "reasons": reasons,
                "examples": info.get("examples", []),
                "located_by": where,
            },
            subjects=[str(x) for x in lines[:20]],
            hint=_malformed_hint(p, info),
            input=p.name,
        )
    ]


def _stale_hint(p: _Prepared, call: BuildCall) -> str:
    path = p.ci.path or p.name
    base = os.path.basename(path)
    kind = p.ci.kind
    build = call.build
    if kind == "vcf":
        return (
            f"Rewrite the header for {build}: bcftools reheader --fai {build}.fa.fai -o "
            f"fixed.{base} {base} (and update ##reference), or, if the header is right, lift the "
            f"records (CrossMap vcf with the {_UCSC.get(build, build)} chain)."
        )
    return (
        f"Correct the build the file states (its header / metadata / column names) to {build}, "
        "or, if the header is right, lift the coordinates to it; downstream tools that trust "
        "the header will otherwise read the rows in the wrong build."
    )


def _stale_finding(p: _Prepared, call: BuildCall) -> list[Finding]:
    """``build.stale_header`` (warning) when the coordinates overrule the header."""
    if not call.stale_header:
        return []
    header = call.evidence.get("header", {})
    decided = call.build if call.determined else f"neither build (fits {call.best_fit} best)"
    return [
        Finding(
            STALE_HEADER,
            Severity.WARNING,
            f"{p.name}, header: states {call.stated_build} but the coordinates ({p.coord_cols}, "
            f"{call.n_rows:,} rows) are in {decided} on their own; the header is stale and "
            "was not trusted",
            evidence={
                "stated_build": call.stated_build,
                "build": call.build,
                "best_fit": call.best_fit,
                "header": header.get("summary"),
                "posterior": call.posterior,
            },
            subjects=[p.name],
            hint=_stale_hint(p, call),
            input=p.name,
        )
    ]
