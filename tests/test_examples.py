"""The examples and the quick start say what the data and the machines hold."""

from __future__ import annotations

import ast
import re

import pandas as pd
from conftest import DEMO, ROOT


def test_the_demo_docstring_and_the_readme_count_the_patients_in_the_data():
    meta = pd.read_csv(DEMO / "data" / "metadata.csv")
    n = meta["patient_id"].nunique()
    doc = ast.get_docstring(ast.parse((DEMO / "make_demo.py").read_text(encoding="utf-8")))
    assert re.search(rf"from {n}\s+patients", doc), doc
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start") : readme.index("## What it checks")]
    assert re.search(rf"from {n} patients", quick)
    assert len(meta) == 300


def test_the_quick_start_says_what_to_do_without_python312_and_keeps_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start") : readme.index("## What it checks")]
    assert 'export PATH="$(pyenv prefix 3.12)/bin:$PATH"' in quick
    assert len(re.findall(r"^python3\.12 -m venv \.venv", readme, flags=re.M)) == 2
