"""Shared by the derivation scripts: write the derived files, or check them byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(outputs: dict[str, bytes], out: Path, *, check: bool) -> int:
    """With ``check``: exit status 1 (naming each file) unless every file in ``out`` equals its
    derivation; without: write them. Returns the script's exit status."""
    if check:
        bad = [n for n, b in outputs.items() if (out / n).read_bytes() != b]
        for n in bad:
            print(f"differs: {out / n}", file=sys.stderr)
        return 1 if bad else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, data in outputs.items():
        (out / name).write_bytes(data)
        print(f"wrote {out / name} ({len(data):,} bytes)")
    return 0
