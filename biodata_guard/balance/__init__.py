"""Class balance: per-class counts, imbalance, tiny classes, per-split shift, unseen classes."""

from biodata_guard.balance._audit import audit_balance
from biodata_guard.balance._classes import (
    IMBALANCE,
    SINGLE_CLASS,
    SUMMARY,
    TINY_CLASS,
    check_class_balance,
)
from biodata_guard.balance._splits import SPLIT_SHIFT, UNSEEN_CLASS, check_split_balance
from biodata_guard.balance._variants import LABEL_VARIANTS, check_label_variants
from biodata_guard.registry import declare_group

__all__ = [
    "IMBALANCE",
    "LABEL_VARIANTS",
    "SINGLE_CLASS",
    "SPLIT_SHIFT",
    "SUMMARY",
    "TINY_CLASS",
    "UNSEEN_CLASS",
    "audit_balance",
    "check_class_balance",
    "check_label_variants",
    "check_split_balance",
]

declare_group(
    "balance",
    title="Class balance",
    description="Class imbalance, class shift between splits, unseen and tiny classes.",
    order=20,
    run=audit_balance,
)
