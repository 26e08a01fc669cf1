"""What one audit hands to each concern's ``audit_<concern>(ctx)`` function."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # annotations only: the context is the leaf every concern imports
    from biodata_guard.config import AuditConfig
    from biodata_guard.io.matrix import MatrixView

#: ``progress_bar(label, total)``: a context manager yielding ``advance(done, total)``.
ProgressBar = Callable[[str, int], AbstractContextManager[Callable[[int, int], None]]]


@dataclass
class FeatureInput:
    """One feature matrix of the audit."""

    name: str  # display name for messages: the file name, or "<AnnData>"
    view: MatrixView  # the matrix audited (``.X`` or the configured layer), samples x features
    path: str | None = None
    adata: Any = None  # the AnnData (possibly backed) when the input is h5ad / AnnData


@dataclass
class CoordInput:
    """One coordinate-bearing input (VCF, BED, GTF, genotype text, chrom/pos table)."""

    name: str
    frame: pd.DataFrame  # Chromosome, Start, End (0-based, half-open), optional Strand, rsid, ...
    kind: str  # "vcf", "bed", "gtf", "gff", "genotype", "table", "anndata_var"
    header: dict[str, Any] = field(default_factory=dict)  # parsed header (contigs, reference ...)
    path: str | None = None


@dataclass
class AuditContext:
    """Everything read for one audit.

    ``samples`` is the per-sample table (metadata joined with labels) indexed by sample id. When
    ``aligned`` is true its rows correspond one-to-one, in order, to the rows of
    ``features[0].view`` (samples without metadata hold NaN); otherwise it is the metadata as read.
    """

    config: AuditConfig
    features: list[FeatureInput] = field(default_factory=list)
    samples: pd.DataFrame | None = None
    samples_name: str = "metadata"
    aligned: bool = False
    coords: list[CoordInput] = field(default_factory=list)
    gene_lengths: pd.Series | None = None
    #: The label / metadata tables as read: role ("labels", "metadata") -> (frame, name, id column).
    tables: dict[str, tuple[pd.DataFrame, str, str]] = field(default_factory=dict)
    #: Plot data for the report, per check group (e.g. ``artifacts["balance"] = {...}``).
    artifacts: dict[str, Any] = field(default_factory=dict)
    #: The audit's progress bars on stderr for long steps (None: no bars).
    progress_bar: ProgressBar | None = None
    #: Values derived from the inputs once per audit and read by several checks (not reported).
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.config.seed

    def column(self, attr: str) -> pd.Series | None:
        """The samples column configured by ``attr`` (e.g. ``"label_col"``), or None."""
        col = getattr(self.config, attr)
        if col is None or self.samples is None or col not in self.samples.columns:
            return None
        return self.samples[col]
