"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def _block_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(heading) :]
    return re.search(r"```python\n(.*?)```", rest, flags=re.S).group(1)


def test_data_loader_walkthrough_runs(tmp_path):
    make_data = ROOT / "examples" / "snakemake" / "make_data.py"
    subprocess.run([sys.executable, make_data, "--out", tmp_path], check=True, capture_output=True)
    code = _block_after("### In a data loader")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "patient_id: 16 of 40 (40%) groups have samples in more than one split" in done.stdout
    assert "group_split" in done.stdout


def test_quick_start_has_exactly_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^python3\.12 -m venv \.venv.*$", text, flags=re.M)
    assert len(commands) == 2
    assert "python -m biodata_guard audit --config examples/demo/audit.yaml" in commands[0]
    assert commands[1].endswith("python -m pytest")
