"""Pandera schemas for common biological tables, shipped as YAML (``biodata_guard.schemas``).

This folder is the top-level ``schemas/`` of the repository; the package exposes it as
``biodata_guard.schemas`` so the YAML files travel inside the wheel. It also validates a table
file against a schema (:func:`validate_file`, the ``schema validate`` verb), in memory or on a
Dask cluster, and reports each failure as a ``schema.failure`` finding.
"""

from biodata_guard.schemas._findings import SCHEMA_FAILURE, case_findings, schema_findings
from biodata_guard.schemas._load import available, load
from biodata_guard.schemas.validate import validate_file

__all__ = [
    "SCHEMA_FAILURE",
    "available",
    "case_findings",
    "load",
    "schema_findings",
    "validate_file",
]
