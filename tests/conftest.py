"""Shared fixtures: run the CLI in a subprocess, hash files, the demo paths."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Set by .ci/run: tests that need an optional tool (snakemake, multiqc, chromium) fail instead
#: of skipping when the tool is missing, so CI cannot pass by skipping them.
REQUIRE_TOOLS = os.environ.get("BIODATA_GUARD_REQUIRE_TOOLS") == "1"
DEMO = ROOT / "examples" / "demo"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python -m biodata_guard ARGS`` and capture its output."""
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "biodata_guard", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


def assert_clean_failure(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, one clear error naming what is wrong, and never a traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.needs_tool(found, reason)``: skip when the tool is absent (fail in CI)."""
    for marker in item.iter_markers("needs_tool"):
        found, reason = marker.args
        if not found:
            if REQUIRE_TOOLS:
                pytest.fail(f"BIODATA_GUARD_REQUIRE_TOOLS=1 but {reason}", pytrace=False)
            pytest.skip(reason)
