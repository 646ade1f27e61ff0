"""Synthesise request rows when a bundle has no reference data.

From the pandera schema when there is one (values inside each column's bounds or
its allowed categories), else from the graph's input dtypes. Seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import scales as scales_module
from .config import InputSpec
from .scales import Scale


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


def graph_scales(ctx: Any) -> dict[str, Scale]:
    """The scales the model's graph states for its request columns (see `readiness.scales`), once per run."""

    def build() -> dict[str, Scale]:
        try:
            return scales_module.graph_scales(ctx.model_proto, ctx.inputs)
        except Exception:  # noqa: BLE001 - a graph we cannot read states nothing; ART001 reports it
            return {}

    return ctx.memo("synth:graph_scales", build)


def unscaled_columns(ctx: Any, columns: Sequence[str]) -> list[str]:
    """Columns of invented rows whose scale nobody stated: without reference data and schema, the
    ones the graph states no scale for. Checks whose verdict depends on the scale report only a
    measurement for them."""
    if ctx.bundle.reference is not None or ctx.bundle.schema is not None:
        return []
    stated = graph_scales(ctx)
    return [c for c in columns if c not in stated]


def from_inputs(
    inputs: Sequence[InputSpec], n_rows: int, rng: np.random.Generator, scales: dict[str, Scale] | None = None
) -> Any:
    """One column per feature: on the scale the graph states where `scales` has it (normal around its
    centre with its spread, or its categories), else standard-normal floats, small non-negative
    integers, short strings."""
    import pandas as pd

    scales = scales or {}

    data: dict[str, Any] = {}
    cell_inputs = [spec for spec in inputs if spec.features is None and needs_tensor_cells(spec.shape)]
    if cell_inputs:  # bound the memory: at most MAX_CELL_ELEMENTS values in all per-row tensors together
        per_row = sum(int(np.prod(cell_shape(spec.shape), dtype=np.int64)) for spec in cell_inputs)
        n_rows = max(1, min(n_rows, MAX_CELL_ELEMENTS // max(per_row, 1)))
        if any(len(cell_shape(s.shape)) == len(s.shape) for s in cell_inputs):
            n_rows = min(n_rows, 16)  # an input without a batch axis is fed one request at a time
    for spec in inputs:
        if spec in cell_inputs:
            data[spec.name] = [_cell(spec, rng) for _ in range(n_rows)]
            continue
        for name in scales_module.column_names(spec):
            scale = scales.get(name)
            if scale is not None and scale.categories:
                cats = list(scale.categories)
                data[name] = np.array([cats[i] for i in rng.integers(0, len(cats), n_rows)], dtype=object)
                if spec.dtype != "string":
                    data[name] = data[name].astype(spec.dtype if not spec.dtype.startswith("float") else "float64")
            elif scale is not None and spec.dtype.startswith("float"):
                data[name] = scale.center + scale.spread * rng.standard_normal(n_rows)
            elif scale is not None and spec.dtype != "bool" and spec.dtype != "string":
                data[name] = np.round(scale.center + scale.spread * rng.standard_normal(n_rows)).astype(np.int64)
            elif spec.dtype.startswith("float"):
                data[name] = rng.standard_normal(n_rows)
            elif spec.dtype == "bool":
                data[name] = rng.integers(0, 2, n_rows).astype(bool)
            elif spec.dtype == "string":
                data[name] = [f"value_{i}" for i in rng.integers(0, 5, n_rows)]
            else:
                data[name] = rng.integers(0, 5, n_rows)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------- N-D inputs (model-only runs)
MAX_CELL_ELEMENTS = 2_000_000  # values synthesised for per-row tensors, all rows and inputs together
DYNAMIC_DIM = 1  # size chosen for a dynamic dimension other than the batch axis


def needs_tensor_cells(shape: Sequence[int]) -> bool:
    """An input whose request row is a tensor rather than scalars: rank > 2, a scalar or 1-D input
    without a dynamic batch axis, or a static batch dimension other than 1."""
    if len(shape) > 2 or len(shape) == 0:
        return True
    return shape[0] not in (-1, 1) or (len(shape) == 1 and shape[0] == 1)


def cell_shape(shape: Sequence[int]) -> list[int]:
    """The shape of one request row's tensor: without the batch axis when the input has one (-1 or 1 first)."""
    dims = list(shape[1:]) if len(shape) >= 2 and shape[0] in (-1, 1) else list(shape)
    return [d if d > 0 else DYNAMIC_DIM for d in dims]


def _cell(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    shape = cell_shape(spec.shape)
    if spec.dtype.startswith("float"):
        return rng.standard_normal(shape).astype(spec.dtype)
    if spec.dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if spec.dtype == "string":
        return np.array([f"value_{i}" for i in rng.integers(0, 5, int(np.prod(shape)))], dtype=object).reshape(shape)
    return rng.integers(0, 5, shape).astype(spec.dtype)
