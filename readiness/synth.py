"""Synthesise request rows when a bundle has no reference data.

From the pandera schema when there is one (values inside each column's bounds or
its allowed categories), else from the graph's input dtypes. Seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import InputSpec


def column_bounds(column: Any) -> tuple[float | None, float | None, list[Any] | None]:
    """(low, high, allowed values) read from a pandera Column's checks."""
    low = high = None
    allowed = None
    for chk in getattr(column, "checks", []) or []:
        stats = dict(getattr(chk, "statistics", {}) or {})
        name = getattr(chk, "name", "")
        if name == "in_range":
            low, high = stats.get("min_value"), stats.get("max_value")
        elif name in ("greater_than_or_equal_to", "greater_than"):
            low = stats.get("min_value")
        elif name in ("less_than_or_equal_to", "less_than"):
            high = stats.get("max_value")
        elif name == "isin":
            allowed = list(stats.get("allowed_values", []))
    return low, high, allowed


def from_schema(schema: Any, columns: Sequence[str], n_rows: int, rng: np.random.Generator) -> Any:
    import pandas as pd

    data: dict[str, Any] = {}
    for col in columns:
        column = schema.columns.get(col)
        low, high, allowed = column_bounds(column) if column is not None else (None, None, None)
        dtype = str(getattr(column, "dtype", "float64")) if column is not None else "float64"
        if allowed:
            data[col] = [allowed[i] for i in rng.integers(0, len(allowed), n_rows)]
        elif "int" in dtype:
            lo, hi = int(low if low is not None else 0), int(high if high is not None else 10)
            data[col] = rng.integers(lo, hi + 1, n_rows)
        elif "str" in dtype or "object" in dtype:
            data[col] = [f"value_{i}" for i in rng.integers(0, 5, n_rows)]
        else:
            lo = float(low) if low is not None else (float(high) - 2.0 if high is not None else -1.0)
            hi = float(high) if high is not None else lo + 2.0
            data[col] = rng.uniform(lo, hi, n_rows)
    return pd.DataFrame(data)


def from_inputs(inputs: Sequence[InputSpec], n_rows: int, rng: np.random.Generator) -> Any:
    """Standard-normal floats, small non-negative integers, short strings: one column per feature."""
    import pandas as pd

    data: dict[str, Any] = {}
    for spec in inputs:
        if spec.features is not None:
            names = list(spec.features)
        elif len(spec.shape) == 2 and spec.shape[1] > 1:
            names = [f"{spec.name}_{i}" for i in range(spec.shape[1])]
        else:
            names = [spec.name]
        for name in names:
            if spec.dtype.startswith("float"):
                data[name] = rng.standard_normal(n_rows)
            elif spec.dtype == "bool":
                data[name] = rng.integers(0, 2, n_rows).astype(bool)
            elif spec.dtype == "string":
                data[name] = [f"value_{i}" for i in rng.integers(0, 5, n_rows)]
            else:
                data[name] = rng.integers(0, 5, n_rows)
    return pd.DataFrame(data)
