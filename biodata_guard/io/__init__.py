"""The one reader layer: every input opens through one path check and fails in one vocabulary."""

from __future__ import annotations

from biodata_guard.io._align import RowAlignment, align_rows
from biodata_guard.io._files import (
    INVALID,
    UNREADABLE,
    InputFile,
    check_file,
    check_store,
    file_sha256,
    is_h5ad,
    is_zarr,
    no_data_error,
    not_utf8_error,
    parquet_error,
    ragged_rows_error,
    read_error,
    refuse_duplicate_columns,
)
from biodata_guard.io._files import _check_file as _check_file
from biodata_guard.io._files import _delimiter as _delimiter
from biodata_guard.io._files import _header_line as _header_line
from biodata_guard.io._files import _suffixes as _suffixes
from biodata_guard.io.anndata import no_hdf5_locking, read_h5ad, read_zarr
from biodata_guard.io.features import ParquetRows, read_features
from biodata_guard.io.gene_lengths import read_gene_lengths, validate_gene_lengths
from biodata_guard.io.matrix import non_finite_cells
from biodata_guard.io.tables import _check_short_rows as _check_short_rows
from biodata_guard.io.tables import read_table
from biodata_guard.registry import declare_group

__all__ = [
    "INVALID",
    "UNREADABLE",
    "InputFile",
    "ParquetRows",
    "RowAlignment",
    "align_rows",
    "check_file",
    "check_store",
    "file_sha256",
    "is_h5ad",
    "is_zarr",
    "no_data_error",
    "no_hdf5_locking",
    "non_finite_cells",
    "not_utf8_error",
    "parquet_error",
    "ragged_rows_error",
    "read_error",
    "read_features",
    "read_gene_lengths",
    "read_h5ad",
    "read_table",
    "read_zarr",
    "refuse_duplicate_columns",
    "validate_gene_lengths",
]

declare_group(
    "io",
    title="Inputs that could not be audited",
    description="Unreadable or invalid inputs.",
    order=0,
    prefixes=("input",),
)
