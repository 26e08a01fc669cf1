"""The benchmark suite's --quick run keeps the benchmark code alive (figures are not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("scrna quick", "bulk quick", "variants quick", "frames 2k x 20 biodata_guard")


def test_quick_suite_runs_every_case(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    table = out[out.index("case ") : out.index("targets (issue 8")]
    for case in CASES:
        assert case in table, f"{case!r} missing from the table:\n{table}"
    assert "frames 2k x 20 deepchecks" in table  # measured, or SKIPPED with the reason
    assert "ERROR" not in table
    assert "Traceback" not in proc.stderr
    for target in ("read floor", "peak RSS", "audit(): "):
        assert target in out
    assert not any(tmp_path.iterdir()), "generated data must be removed without --keep-data"
