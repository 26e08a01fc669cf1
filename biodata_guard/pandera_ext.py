"""biodata_guard checks as pandera check methods, read from the check registry.

Nothing is registered on import; call :func:`register_checks` (idempotent). Loading a shipped
schema (:func:`biodata_guard.schemas.load`) and the CLI do it for you. Every check declared
with a ``pandera=PanderaMethod(...)`` becomes ``pa.Check.<name>(...)``; today:

DataFrame-level: ``pa.Check.unique_per_split(id_col=, split_col=)``,
``pa.Check.no_group_overlap(group_col=, split_col=)``,
``pa.Check.min_class_fraction(label_col=, min_fraction=)``.
Column-level: ``pa.Check.finite()``, ``pa.Check.integer_valued()``,
``pa.Check.consistent_categories()``.

Examples
--------
>>> import pandera.pandas as pa
>>> register_checks()
>>> schema = pa.DataFrameSchema({"x": pa.Column(float, pa.Check.finite())})
>>> schema.validate(pd.DataFrame({"x": [1.0, 2.0]})).shape
(2, 1)
"""

from __future__ import annotations

import pandas as pd

from biodata_guard import registry

__all__ = ["register_checks"]

_KINDS = {"frame": pd.DataFrame, "column": pd.Series}


def register_checks() -> None:
    """Register every check method the registry declares with pandera (idempotent)."""
    import pandera.pandas as pa
    from pandera import extensions

    for fn, method in registry.pandera_methods().items():
        if hasattr(pa.Check, fn.__name__):  # registered by an earlier call
            continue
        extensions.register_check_method(
            fn,
            statistics=list(method.statistics),
            supported_types=_KINDS[method.kind],
            check_type="vectorized",
        )
