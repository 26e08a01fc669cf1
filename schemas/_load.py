"""Load a shipped or user pandera YAML schema (with the biodata_guard check methods)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from biodata_guard.errors import ConfigError
from biodata_guard.pandera_ext import register_checks

__all__ = ["available", "load"]

_PACKAGE = "biodata_guard.schemas"


def available() -> list[str]:
    """Names of the shipped schemas."""
    folder = resources.files(_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load(name_or_path: str | Path) -> Any:
    """Load a pandera ``DataFrameSchema`` by shipped name (``"sample_sheet"``) or YAML path.

    Registers the biodata_guard check methods first, since the schemas use them.

    Examples
    --------
    >>> schema = load("sample_sheet")
    >>> sorted(schema.columns)[:2]
    ['label', 'patient_id']
    """
    import pandera.pandas as pa

    register_checks()
    text: str
    if str(name_or_path) in available():
        text = (resources.files(_PACKAGE) / f"{name_or_path}.yaml").read_text(encoding="utf-8")
    else:
        p = Path(name_or_path)
        if not p.is_file():
            raise ConfigError(
                f"schema '{name_or_path}' is neither a shipped schema nor a file",
                hint=f"Use one of {', '.join(available())} or a path to a pandera YAML schema.",
            )
        text = p.read_text(encoding="utf-8")
    try:
        return pa.DataFrameSchema.from_yaml(text)
    except Exception as exc:  # pandera raises several types for malformed schemas
        raise ConfigError(
            f"schema '{name_or_path}' is not a valid pandera YAML schema ({exc})",
            hint="Write it with DataFrameSchema.to_yaml() and edit from there.",
        ) from None
