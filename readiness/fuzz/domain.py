"""Column domains: what values one request column may take (from the schema, the data or per-row tensors),
its edge values and its typical value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import runtime as rt
from .tensors import FLOAT32_TINY, LITERAL_MAX, MAX_BATCH_ELEMENTS, STRING_EDGES, TensorSpec, TensorValue, jsonable

if TYPE_CHECKING:
    from ..context import Context


# --------------------------------------------------------------------------- column domains
@dataclass
class Domain:
    """What values one request column may take."""

    name: str
    kind: str  # float | int | bool | category | string | other
    low: float | None = None
    high: float | None = None
    low_strict: bool = False
    high_strict: bool = False
    allowed: list[Any] | None = None
    nullable: bool = False
    typical: Any = None
    tensor: TensorSpec | None = None  # set for a column holding one tensor per row (kind "tensor")

    def contains(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_strict and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_strict and value == self.high)):
            return False
        return True

    def edges(self) -> list[Any]:
        """Edge values of this column, each valid for the column."""
        if self.tensor is not None:
            return self.tensor.edges()
        if self.allowed is not None:
            return list(self.allowed)[:50]
        if self.kind == "bool":
            return [False, True]
        if self.kind == "string":
            return list(STRING_EDGES)
        if self.kind not in ("float", "int"):
            return []
        out: list[Any] = []
        if self.kind == "float":
            f32 = np.float32
            if self.low is not None:
                low = float(np.nextafter(f32(self.low), f32(np.inf))) if self.low_strict else float(self.low)
                out.append(low)
            if self.high is not None:
                high = float(np.nextafter(f32(self.high), f32(-np.inf))) if self.high_strict else float(self.high)
                out.append(high)
            candidates = [0.0, FLOAT32_TINY, -FLOAT32_TINY]
        else:
            if self.low is not None:
                out.append(int(math.floor(self.low)) + (1 if self.low_strict and float(self.low).is_integer() else 0))
            if self.high is not None:
                out.append(int(math.ceil(self.high)) - (1 if self.high_strict and float(self.high).is_integer() else 0))
            candidates = [0, 1, -1]
        out += [v for v in candidates if self.contains(v)]
        seen: list[Any] = []
        for v in out:
            if v not in seen and self.contains(v):
                seen.append(v)
        return seen


_LOWER = {"greater_than_or_equal_to": False, "greater_than": True}
_UPPER = {"less_than_or_equal_to": False, "less_than": True}


def _kind(dtype: str) -> str:
    dtype = dtype.lower()
    if "bool" in dtype:
        return "bool"
    if "float" in dtype or "double" in dtype:
        return "float"
    if "int" in dtype:
        return "int"
    if "str" in dtype or "object" in dtype or "category" in dtype:
        return "string"
    return "other"


def schema_domain(column: Any, name: str) -> Domain:
    """A Domain read from a pandera Column's dtype and checks."""
    dom = Domain(
        name, _kind(str(getattr(column, "dtype", "float64"))), nullable=bool(getattr(column, "nullable", False))
    )
    for chk in getattr(column, "checks", []) or []:
        stats = dict(getattr(chk, "statistics", {}) or {})
        cname = getattr(chk, "name", "")
        if cname == "in_range":
            lo, hi = stats.get("min_value"), stats.get("max_value")
            dom.low = lo if dom.low is None or (lo is not None and lo > dom.low) else dom.low
            dom.high = hi if dom.high is None or (hi is not None and hi < dom.high) else dom.high
            dom.low_strict = not stats.get("include_min", True)
            dom.high_strict = not stats.get("include_max", True)
        elif cname in _LOWER:
            dom.low, dom.low_strict = stats.get("min_value"), _LOWER[cname]
        elif cname in _UPPER:
            dom.high, dom.high_strict = stats.get("max_value"), _UPPER[cname]
        elif cname == "equal_to":
            dom.allowed = [stats.get("value")]
        elif cname == "isin":
            dom.allowed = list(stats.get("allowed_values", []))
    if dom.allowed is not None:
        dom.kind = "category" if dom.kind in ("string", "other") else dom.kind
    return dom


def data_domain(series: Any) -> Domain:
    """A Domain read from observed values: their range, or their distinct values."""
    values = series.dropna()
    dtype = str(series.dtype)
    kind = _kind(dtype)
    dom = Domain(str(series.name), kind, nullable=bool(series.isna().any()))
    if kind in ("float", "int") and len(values):
        dom.low, dom.high = float(values.min()), float(values.max())
    elif kind in ("string", "bool", "other") and len(values):
        try:
            distinct = sorted(set(values.tolist()), key=str)
        except TypeError:  # unhashable (array-valued) cells
            distinct = None
        if distinct is not None and len(distinct) <= 50:
            dom.allowed, dom.kind = distinct, ("bool" if kind == "bool" else "category")
    return dom


def typical_value(series: Any, dom: Domain) -> Any:
    values = series.dropna() if series is not None else None
    if values is not None and len(values):
        if dom.kind in ("float", "int"):
            med = float(values.median())
            return int(round(med)) if dom.kind == "int" else med
        try:
            return values.mode().iloc[0]
        except TypeError:
            return values.iloc[0]
    if dom.allowed:
        return dom.allowed[0]
    if dom.kind in ("float", "int"):
        lo = dom.low if dom.low is not None else (dom.high - 1 if dom.high is not None else 0.0)
        hi = dom.high if dom.high is not None else lo + 1
        mid = (lo + hi) / 2
        return int(round(mid)) if dom.kind == "int" else float(mid)
    return {"bool": False, "string": ""}.get(dom.kind)


def domains(ctx: Context) -> tuple[list[Domain], str]:
    """Per feature column, its domain, and where the domains came from (`schema` or `data`)."""
    cols = ctx.feature_columns
    sample = ctx.sample_frame
    schema = ctx.bundle.schema
    out: list[Domain] = []
    source = "schema" if schema is not None else "data"
    synthesised = ctx.bundle.reference is None
    for col in cols:
        if col in sample.columns and rt.has_tensor_cells(sample[col]):
            out.append(tensor_domain(sample[col], ctx.seed))
            if schema is not None:
                source = "schema+data"
            continue
        if schema is not None and col in schema.columns:
            dom = schema_domain(schema.columns[col], col)
        else:
            dom = data_domain(sample[col]) if col in sample.columns else Domain(col, "float")
            if dom.kind == "category" and synthesised and _is_string_input(ctx, col):
                # synthesised placeholder strings are no category contract: fuzz the string itself
                dom.kind, dom.allowed = "string", None
            if schema is not None:
                source = "schema+data"
        dom.typical = typical_value(sample[col] if col in sample.columns else None, dom)
        out.append(dom)
    return out, source


def _is_string_input(ctx: Context, col: str) -> bool:
    return any(
        spec.dtype == "string" and col in (spec.features if spec.features is not None else [spec.name])
        for spec in ctx.inputs
    )


def tensor_domain(series: Any, seed: int) -> Domain:
    """The Domain of a column of per-row tensors: shape and dtype of its first cell, the elements' range
    over the first rows; typical value: the first row's cell (a seeded random tensor within that range
    when it has more than LITERAL_MAX elements, so that the reproduce line stays one line)."""
    cells = [np.asarray(c) for c in series.tolist()[:16]]
    first = cells[0]
    dtype = "object" if first.dtype == object else str(first.dtype)
    element = "string" if dtype == "object" else _kind(dtype)
    spec = TensorSpec(tuple(int(d) for d in first.shape), dtype, element)
    same = [c.ravel() for c in cells if c.shape == first.shape]
    values = np.concatenate(same) if same else first.ravel()
    if element in ("float", "int") and values.size:
        spec.low, spec.high = float(values.min()), float(values.max())
    elif element == "string":
        spec.choices = tuple(sorted({str(v) for v in values.tolist()}))[:50]
    dom = Domain(str(series.name), "tensor", low=spec.low, high=spec.high, tensor=spec)
    if first.size <= LITERAL_MAX:
        dom.typical = TensorValue(
            spec.shape, dtype, literal=jsonable(first.tolist()) if dtype != "object" else first.tolist()
        )
    else:
        dom.typical = spec.random_value(seed)
    return dom


def tensor_edge_rows(dom: Domain, base: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """Per edge value of a tensor column: the whole tensor filled with it, and the typical tensor with element 0 set to it."""
    assert dom.tensor is not None
    out = []
    for value in dom.edges():
        out.append((dom.name, value, {**base, dom.name: dom.tensor.filled(value)}))
        if dom.tensor.size > 1:
            out.append((dom.name, value, {**base, dom.name: replace(dom.typical, poke=(value,))}))
    return out


def _random_scalar(dom: Domain, gen: np.random.Generator) -> Any:
    if dom.allowed:
        return dom.allowed[int(gen.integers(0, len(dom.allowed)))]
    if dom.kind == "float":
        low = dom.low if dom.low is not None else (dom.high - 2.0 if dom.high is not None else -1.0)
        high = dom.high if dom.high is not None else low + 2.0
        return float(np.float32(gen.uniform(low, high)))
    if dom.kind == "int":
        low = int(dom.low) if dom.low is not None else 0
        high = int(dom.high) if dom.high is not None else low + 10
        return int(gen.integers(low, high, endpoint=True))
    if dom.kind == "bool":
        return bool(gen.integers(0, 2))
    if dom.kind == "string":
        return STRING_EDGES[int(gen.integers(0, len(STRING_EDGES)))] + f"value_{int(gen.integers(0, 5))}"
    return dom.typical


def _rows_per_batch(doms: Sequence[Domain]) -> int:
    """How many rows to score at once so their tensors hold at most MAX_BATCH_ELEMENTS elements."""
    per_row = sum(d.tensor.size for d in doms if d.tensor is not None)
    return max(1, MAX_BATCH_ELEMENTS // per_row) if per_row else 1_000_000


def edge_rows(doms: Sequence[Domain]) -> list[tuple[str | None, Any, dict[str, Any]]]:
    """(column, edge value, row) for every edge of every column, others at typical values. With tensor
    columns, the typical row itself comes first (column None): a model that cannot score a typical
    tensor (say a log of synthesised values below 0) is told so, not blamed on an edge value."""
    base = {d.name: d.typical for d in doms}
    out: list[tuple[str | None, Any, dict[str, Any]]] = []
    if any(d.tensor is not None for d in doms):
        out.append((None, None, dict(base)))
    for dom in doms:
        if dom.tensor is not None:
            out += tensor_edge_rows(dom, base)
            continue
        for value in dom.edges():
            row = dict(base)
            row[dom.name] = value
            out.append((dom.name, value, row))
    return out


def _simpler(dom: Domain, value: Any) -> list[Any]:
    """Simpler stand-ins for `value`, simplest first: zero, the integer towards zero, fewer decimals."""
    if dom.allowed:
        return [v for v in dom.allowed[:1] if v != value]
    if dom.kind not in ("float", "int") or isinstance(value, bool):
        return []
    try:
        v = float(value)
    except (TypeError, ValueError):
        return []
    if not math.isfinite(v):
        return []
    out: list[Any] = [0.0, float(math.trunc(v)), round(v, 1), round(v, 2)]
    if dom.kind == "int":
        out = [0, math.trunc(v)]
    seen: list[Any] = []
    for c in out:
        if c != v and c not in seen and dom.contains(c):
            seen.append(c)
    return seen
