"""Schema-driven fuzzing of a served model: edge values first, then a seeded hypothesis search.

The oracle: a request row must score without a runtime error, every numeric output
must be finite, and outputs must honour their declared contract (probabilities in
[0, 1] summing to 1, labels within `classes`).

1. Edge cases, explicitly: each column at its bounds, at zero and at the smallest
   positive float32 where the bounds allow them, at each allowed category, with every
   other column at a typical value (the median, or the most frequent value).
2. A seeded hypothesis search over schema-valid rows from pandera's per-column
   strategies (the schema's checks compiled to hypothesis strategies, as
   `schema.strategy()` uses them, without its per-DataFrame cost), bounded in
   examples and seconds, shrinking what it finds.
   Where pandera's strategies cannot express a check (a custom check without a
   strategy), rows come from a generator built from the column bounds, filtered by
   the schema; without a schema, from the ranges of the rows the model is fed
   (reference data, or rows synthesised from the graph's inputs).

Columns holding one tensor per row (inputs of rank >= 3, scalars, inputs without a batch
axis; see `synth.from_inputs`) are fuzzed element-wise: `TensorValue` recipes (a fill value,
a small literal or a seeded uniform draw, optionally with element 0 set) stand for the tensors,
so the evidence and the reproduce line stay short. The typical row is scored first, then each
dtype edge value over the whole tensor and in one element, then seeded random tensors within
the synthesised range (`_tensor_search`, no shrinking).

`run(ctx, max_examples=..., max_seconds=...)` returns a `FuzzReport`; ROB001 judges it.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import runtime as rt
from . import vocabulary

if TYPE_CHECKING:
    import pandas as pd

    from .context import Context

FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # smallest positive normal float32, 1.1754944e-38
PROB_TOL = 1e-5  # probabilities may stray this far outside [0, 1] (float32 rounding)
SUM_TOL = 1e-3  # and their rows may sum this far from 1
SEARCH_ROUND = 50  # at most this many hypothesis examples (one request row each) per seeded search round


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


# --------------------------------------------------------------------------- tensor-valued columns
STRING_EDGES = ("", "x" * 1000, "naïve 漢字 🙂")  # empty, long, non-ASCII
FLOAT_LARGE = 1e6  # the large magnitude tried for float tensors (half the dtype's range for float16)
LITERAL_MAX = 64  # a typical tensor of at most this many elements is the sample row's own cell
MAX_BATCH_ELEMENTS = 2_000_000  # tensor elements per batch of random rows


@dataclass(frozen=True)
class TensorValue:
    """One request row's tensor, kept as the recipe that builds it, so evidence and the reproduce line
    stay short: every element `fill`, a small `literal`, or seeded uniform values in `random`
    ((seed, low, high), or (seed, choices) for strings); `poke` sets element 0 afterwards."""

    shape: tuple[int, ...]
    dtype: str
    fill: Any = None
    literal: Any = None
    random: tuple[Any, ...] | None = None
    poke: tuple[Any] | None = None

    def array(self) -> np.ndarray:
        dtype = rt.numpy_dtype("string" if self.dtype == "object" else self.dtype)
        if self.random is not None:
            arr = _random_array(self.random, self.shape, self.dtype)
        elif self.literal is not None:
            arr = np.array(self.literal, dtype=dtype).reshape(self.shape)
        else:
            arr = np.full(self.shape, self.fill, dtype=dtype)
        if self.poke is not None:
            arr = arr.copy()
            arr.flat[0] = self.poke[0]
        return arr

    def __jsonable__(self) -> dict[str, Any]:
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """Shape, dtype and the edge value (or min and max), never the elements."""
        out: dict[str, Any] = {"shape": list(self.shape), "dtype": self.dtype}
        if self.random is None and self.literal is None:
            out["every_element"] = jsonable(self.fill)
        else:
            if self.random is not None:
                out["random"] = {"seed": self.random[0], "range": jsonable(list(self.random[1:]))}
            arr = self.array()
            if arr.dtype != object and arr.size:
                out["min"], out["max"] = jsonable(arr.min()), jsonable(arr.max())
        if self.poke is not None:
            out["element_0"] = jsonable(self.poke[0])
        return _short_strings(out)

    def code(self, var: str, shape: tuple[int, ...]) -> list[str]:
        """Python statements that build this tensor (with `shape`, e.g. a batch axis added) as `var`."""
        dtype = "object" if self.dtype == "object" else self.dtype
        if self.random is not None:
            expr = _random_expr(self.random, shape, dtype)
        elif self.literal is not None:
            expr = f"np.array({_literal(self.literal)}, dtype={dtype!r}).reshape({shape!r})"
        else:
            expr = f"np.full({shape!r}, {_literal(self.fill)}, dtype={dtype!r})"
        out = [f"{var} = {expr}"]
        if self.poke is not None:
            out.append(f"{var}.flat[0] = {_literal(self.poke[0])}")
        return out

    @property
    def where(self) -> str:
        return "element 0" if self.poke is not None else "every element"


def _random_array(recipe: tuple[Any, ...], shape: tuple[int, ...], dtype: str) -> np.ndarray:
    gen = np.random.default_rng(recipe[0])
    if dtype == "object":
        return np.array(recipe[1], dtype=object)[gen.integers(0, len(recipe[1]), shape)]
    if dtype == "bool":
        return gen.integers(0, 2, shape).astype(bool)
    if np.dtype(dtype).kind in "iu":
        return gen.integers(int(recipe[1]), int(recipe[2]), shape, endpoint=True).astype(dtype)
    return gen.uniform(recipe[1], recipe[2], shape).astype(dtype)


def _random_expr(recipe: tuple[Any, ...], shape: tuple[int, ...], dtype: str) -> str:
    gen = f"np.random.default_rng({recipe[0]})"
    if dtype == "object":
        return f"np.array({_literal(list(recipe[1]))}, dtype=object)[{gen}.integers(0, {len(recipe[1])}, {shape!r})]"
    if dtype == "bool":
        return f"{gen}.integers(0, 2, {shape!r}).astype(bool)"
    if np.dtype(dtype).kind in "iu":
        return f"{gen}.integers({int(recipe[1])}, {int(recipe[2])}, {shape!r}, endpoint=True).astype({dtype!r})"
    return f"{gen}.uniform({recipe[1]!r}, {recipe[2]!r}, {shape!r}).astype({dtype!r})"


def _short_strings(value: Any) -> Any:
    """Long strings in evidence as 'xxxx... (1000 chars)'."""
    if isinstance(value, dict):
        return {k: _short_strings(v) for k, v in value.items()}
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:10]}... ({len(value)} chars)"
    return value


@dataclass
class TensorSpec:
    """The tensor one request row holds in a column: its shape and dtype, and the range of the elements
    of the rows the model is fed (synthesised from the graph's inputs)."""

    shape: tuple[int, ...]
    dtype: str  # numpy dtype name; "object" for strings
    element: str  # float | int | bool | string
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def edges(self) -> list[Any]:
        """Edge values of the dtype: zero, the smallest positive float32 both signs and a large magnitude
        (floats); 0, 1, -1 and the synthesiser's bounds within the dtype (integers); both booleans;
        the empty, a long and a non-ASCII string."""
        if self.element == "bool":
            return [False, True]
        if self.element == "string":
            return list(STRING_EDGES)
        if self.element == "float":
            large = min(FLOAT_LARGE, float(np.finfo(self.dtype).max) / 2)
            tiny = FLOAT32_TINY if np.dtype(self.dtype).itemsize >= 4 else float(np.finfo(self.dtype).tiny)
            return [0.0, tiny, -tiny, large, -large]
        if self.element == "int":
            info = np.iinfo(self.dtype)
            candidates = [0, 1, -1] + [int(v) for v in (self.low, self.high) if v is not None]
            out: list[Any] = []
            for v in candidates:
                if info.min <= v <= info.max and v not in out:
                    out.append(v)
            return out
        return []

    def filled(self, value: Any) -> TensorValue:
        return TensorValue(self.shape, self.dtype, fill=value)

    def random_value(self, seed: int) -> TensorValue:
        if self.element == "string":
            return TensorValue(self.shape, self.dtype, random=(seed, self.choices or ("value",)))
        low = self.low if self.low is not None else -1.0
        high = self.high if self.high is not None else 1.0
        return TensorValue(self.shape, self.dtype, random=(seed, low, high))


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


def _tensor_search(
    ctx: Context, doms: Sequence[Domain], report: FuzzReport, max_examples: int, deadline: float
) -> dict[str, Any] | None:
    """Seeded random rows for a model fed tensors: every tensor column uniform within its synthesised range,
    other columns within their bounds; the first failing row (no shrinking: the recipe is the evidence)."""
    report.generator = "random tensors"
    cap = _rows_per_batch(doms)
    gen = np.random.default_rng([ctx.seed, 0x7E5])
    round_no = 0
    while report.search_examples < max_examples and time.perf_counter() < deadline:
        budget = min(SEARCH_ROUND, 10 * 2**round_no, max_examples - report.search_examples, cap)
        rows = []
        for k in range(report.search_examples, report.search_examples + budget):
            row: dict[str, Any] = {}
            for j, d in enumerate(doms):
                seed = ctx.seed * 1_000_003 + k * 101 + j
                row[d.name] = d.tensor.random_value(seed) if d.tensor is not None else _random_scalar(d, gen)
            rows.append(row)
        round_no += 1
        report.search_rounds = round_no
        problems = probe(ctx, _frame(ctx, rows)).problems
        bad = next((i for i, p in enumerate(problems) if p), None)
        if bad is not None:
            report.search_examples += bad + 1
            report.search_stopped = "found a counterexample"
            return rows[bad]
        report.search_examples += len(rows)
    report.search_stopped = "example budget spent" if report.search_examples >= max_examples else "time budget spent"
    return None


# --------------------------------------------------------------------------- the oracle
def jsonable(value: Any) -> Any:
    """A JSON-safe copy (`readiness.vocabulary.jsonable`); a TensorValue reads as its summary."""
    return vocabulary.jsonable(value)


OUTPUT_MAX = 32  # an output row with more elements is summarised (shape, dtype, min, max, non-finite count)


def _row_output(raw: dict[str, Any], i: int, n: int | None = None) -> dict[str, Any]:
    """Row i of every output tensor (or ZipMap list), JSON-safe; the whole output when one row was scored
    and the output has no batch axis; large rows summarised."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, np.ndarray):
            row = np.asarray(value[i] if value.ndim and not (n == 1 and len(value) != 1) else value)
            out[name] = _summarise(row) if row.size > OUTPUT_MAX else jsonable(row)
        elif isinstance(value, list) and i < len(value):
            out[name] = jsonable(value[i])
    return out


def _summarise(arr: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    if arr.dtype.kind in "fiub" and arr.size:
        finite = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
        if finite.size:
            out["min"], out["max"] = jsonable(finite.min()), jsonable(finite.max())
        if arr.dtype.kind == "f":
            out["non_finite"] = int(arr.size - finite.size)
    return out


def row_problems(ctx: Context, pred: rt.Predictions, n: int | None = None) -> list[str | None]:
    """Per row, what is wrong with the model's output (None when nothing); `n` rows were scored (when one
    row was, an output without a batch axis is judged whole)."""
    n = len(pred) if n is None else n
    problems: list[list[str]] = [[] for _ in range(n)]
    for name, value in pred.raw.items():
        arr = np.asarray(value) if isinstance(value, np.ndarray) else None
        if arr is None or arr.dtype.kind not in "fc":
            continue
        if arr.ndim == 0 or len(arr) != n:
            if n != 1:
                continue
            arr = arr.reshape(1, -1)
        bad = ~np.isfinite(arr.reshape(n, -1)).all(axis=1)
        for i in np.flatnonzero(bad):
            problems[i].append(f"output {name!r} is not finite")
    if pred.probabilities is not None and len(pred.probabilities) == n:
        p = np.asarray(pred.probabilities, dtype=np.float64)
        finite = np.isfinite(p).all(axis=1)
        outside = finite & ((p < -PROB_TOL) | (p > 1 + PROB_TOL)).any(axis=1)
        badsum = finite & ~outside & (np.abs(p.sum(axis=1) - 1) > SUM_TOL)
        for i in np.flatnonzero(~finite):
            if not problems[i]:
                problems[i].append("probabilities are not finite")
        for i in np.flatnonzero(outside):
            problems[i].append("probabilities outside [0, 1]")
        for i in np.flatnonzero(badsum):
            problems[i].append(f"probabilities sum to {p[i].sum():.6g}, not 1")
    declared = [o for o in ctx.outputs if o.kind == "label" and o.classes]
    if declared and pred.labels is not None:
        classes = {str(c) for c in declared[0].classes}
        for i, label in enumerate(np.asarray(pred.labels).tolist()[:n]):
            if str(label) not in classes:
                problems[i].append(f"label {label!r} is not one of classes {list(declared[0].classes)}")
    return ["; ".join(p) if p else None for p in problems]


@dataclass
class Probe:
    """The model's verdict on some rows: per row, a problem (or None) and the output."""

    problems: list[str | None]
    outputs: list[dict[str, Any]]


def probe(ctx: Context, frame: pd.DataFrame) -> Probe:
    """Score `frame` (as the server would) and judge every row; a batch that errors is retried row by row."""
    n = len(frame)
    try:
        pred = ctx.predict(frame)
        if n > 1 and not _batched(pred.raw, n):
            raise ValueError("outputs without a batch axis")  # a model fed one request at a time: judge each alone
    except Exception as exc:  # noqa: BLE001 - onnxruntime and feeding raise many types
        if n == 1:
            return Probe([f"runtime error: {type(exc).__name__}: {_short(exc)}"], [{}])
        parts = [probe(ctx, frame.iloc[i : i + 1]) for i in range(n)]
        return Probe([p.problems[0] for p in parts], [p.outputs[0] for p in parts])
    return Probe(row_problems(ctx, pred, n), [_row_output(pred.raw, i, n) for i in range(n)])


def _batched(raw: dict[str, Any], n: int) -> bool:
    """Whether every output tensor has one row per request row."""
    return all(
        not isinstance(v, np.ndarray) or (v.ndim > 0 and len(v) == n) for v in raw.values() if not isinstance(v, list)
    )


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- reproduction
def _literal(value: Any) -> str:
    """A Python literal for a JSON-safe value, with non-finite floats spelled float('nan')."""
    text = repr(jsonable(value))
    for name in ("nan", "inf", "-inf"):
        text = text.replace(f"'{name}'", f"float('{name}')")
    return text.replace(repr(STRING_EDGES[1]), f"{STRING_EDGES[1][0]!r} * {len(STRING_EDGES[1])}")


def reproduce_command(ctx: Context, row: pd.DataFrame | dict[str, Any]) -> str:
    """A one-line shell command that feeds `row` (a one-row frame, or a fuzz row) to the model with
    onnxruntime alone; a tensor kept as a TensorValue is rebuilt from its recipe, not spelled out."""
    import shlex

    recipes: dict[str, TensorValue] = {}
    if isinstance(row, dict):
        recipes = {k: v for k, v in row.items() if isinstance(v, TensorValue)}
        row = _frame(ctx, [row])
    tensor_specs = [s for s in ctx.inputs if s.features is None and s.name in recipes]
    feeds = rt.to_feeds(row, [s for s in ctx.inputs if s not in tensor_specs])
    statements: list[str] = []
    variables: dict[str, str] = {}
    for spec in tensor_specs:
        value = recipes[spec.name]
        shape = value.shape if len(value.shape) == len(spec.shape) else (1, *value.shape)  # the batch axis
        variables[spec.name] = f"x{len(variables)}"
        statements += value.code(variables[spec.name], shape)
    parts = []
    for name in [s.name for s in ctx.inputs if s.name in feeds or s.name in variables]:
        if name in variables:
            parts.append(f"{name!r}: {variables[name]}")
            continue
        arr = feeds[name]
        dtype = "object" if arr.dtype == object else str(arr.dtype)
        values = arr.tolist()
        if arr.dtype in (np.float32, np.float16):  # the shortest text that round-trips at this width
            values = np.array([float(str(v)) for v in arr.ravel()]).reshape(arr.shape).tolist()
        parts.append(f"{name!r}: np.array({_literal(values)}, dtype={dtype!r})")
    model = ctx.bundle.relpath(ctx.bundle.model_path)
    code = (
        "import numpy as np, onnxruntime as ort; "
        + "".join(f"{statement}; " for statement in statements)
        + f"s = ort.InferenceSession({model!r}, providers=['CPUExecutionProvider']); "
        f"print(s.run(None, {{{', '.join(parts)}}}))"
    )
    quoted = f'"{code}"' if not any(ch in code for ch in '"$`\\!') else shlex.quote(code)
    return f"cd {shlex.quote(str(ctx.bundle.root))} && python -c {quoted}"


# --------------------------------------------------------------------------- the search
@dataclass
class Finding:
    phase: str  # edge | search
    problem: str
    row: dict[str, Any]
    output: dict[str, Any]
    column: str | None = None  # the column set to an edge value
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "phase": self.phase,
            "problem": self.problem,
            "row": _short_strings(jsonable(self.row)),
            "output": self.output,
        }
        if self.phase == "edge" and self.column is None:
            out["case"] = "every input typical"
        if self.column is not None:
            out["column"], out["value"] = self.column, _short_strings(jsonable(self.value))
            if isinstance(self.row.get(self.column), TensorValue):
                out["where"] = self.row[self.column].where
        return out

    @property
    def where(self) -> str | None:
        """For an edge value of a tensor column: which elements hold it."""
        cell = self.row.get(self.column) if self.column is not None else None
        return cell.where if isinstance(cell, TensorValue) else None


@dataclass
class FuzzReport:
    generator: str  # pandera | bounds | edge cases (the search did not run)
    domain_source: str
    edge_cases: int = 0
    edge_failures: list[Finding] = field(default_factory=list)
    search_examples: int = 0
    search_rounds: int = 0
    search_stopped: str = ""  # why the search ended
    counterexample: Finding | None = None
    reproduce: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.counterexample is not None


def request_frame(ctx: Context, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Request rows (dicts) as the DataFrame the model is fed; TensorValue cells become arrays."""
    import pandas as pd

    built = [{k: v.array() if isinstance(v, TensorValue) else v for k, v in row.items()} for row in rows]
    return pd.DataFrame(built, columns=ctx.feature_columns)


_frame = request_frame


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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


def _expressible(chk: Any) -> bool:
    """Whether pandera can generate data for a check (a constraint or a strategy is registered for it)."""
    import pandas as pd

    try:
        import pandera.backends.pandas.builtin_checks  # noqa: F401 - registers the built-in constraints
        import pandera.backends.pandas.builtin_hypotheses  # noqa: F401
        from pandera.strategies import pandas_strategies as ps
    except ImportError:  # pragma: no cover - pandera without hypothesis support
        return False
    key = (getattr(chk, "name", None), pd.Series)
    constraints = getattr(ps, "CONSTRAINT_DISPATCHER", {})
    return bool(
        getattr(chk, "constraint", None)
        or constraints.get(key)
        or getattr(chk, "strategy", None)
        or ps.STRATEGY_DISPATCHER.get(key)
    )


def _unexpressible(schema: Any, cols: Sequence[str]) -> list[str]:
    """Checks (as 'column: check') that pandera cannot turn into a hypothesis strategy."""
    found = []
    for col in cols:
        column = schema.columns.get(col)
        for chk in getattr(column, "checks", []) or []:
            if not _expressible(chk):
                found.append(f"{col}: {getattr(chk, 'name', None) or 'custom check'}")
    for chk in getattr(schema, "checks", []) or []:
        found.append(f"<dataframe>: {getattr(chk, 'name', None) or 'custom check'}")
    return found


def _f32_inward(value: float | None, up: bool) -> float | None:
    """`value` as the nearest float32 on the inside of a bound (hypothesis' width=32 needs exact bounds)."""
    if value is None:
        return None
    f = np.float32(value)
    if (up and float(f) < value) or (not up and float(f) > value):
        f = np.nextafter(f, np.float32(np.inf if up else -np.inf))
    return float(f)


def _bounds_strategy(doms: Sequence[Domain]) -> Any:
    from hypothesis import strategies as st

    fields: dict[str, Any] = {}
    for d in doms:
        if d.allowed:
            fields[d.name] = st.sampled_from(list(d.allowed))
        elif d.kind == "float":
            fields[d.name] = st.floats(
                min_value=_f32_inward(d.low, up=True),
                max_value=_f32_inward(d.high, up=False),
                exclude_min=d.low_strict and d.low is not None,
                exclude_max=d.high_strict and d.high is not None,
                allow_nan=False,
                allow_infinity=False,
                width=32,
            )
        elif d.kind == "int":
            lo = None if d.low is None else math.floor(d.low) + (1 if d.low_strict else 0)
            hi = None if d.high is None else math.ceil(d.high) - (1 if d.high_strict else 0)
            fields[d.name] = st.integers(min_value=lo, max_value=hi)
        elif d.kind == "bool":
            fields[d.name] = st.booleans()
        elif d.kind == "string":
            fields[d.name] = st.text(max_size=8)
        else:
            fields[d.name] = st.just(d.typical)
    return st.fixed_dictionaries(fields)


def _strategy(ctx: Context, doms: Sequence[Domain], report: FuzzReport) -> Any:
    """Request rows (dicts): from pandera's strategies, else the bounds-based fallback."""
    from hypothesis import strategies as st

    cols = ctx.feature_columns
    schema = ctx.bundle.schema
    if schema is not None and all(c in schema.columns for c in cols):
        unexpressible = _unexpressible(schema, cols)
        if not unexpressible:
            try:
                from pandera.strategies.pandas_strategies import field_element_strategy

                elements = {
                    c: field_element_strategy(schema.columns[c].dtype, checks=schema.columns[c].checks) for c in cols
                }
            except Exception as exc:  # noqa: BLE001 - pandera raises several types for unsupported dtypes
                unexpressible = [f"{type(exc).__name__}: {_short(exc, 120)}"]
            else:
                # pandera's per-column element strategies (its checks compiled to hypothesis strategies), one
                # request row per example: far cheaper than schema.strategy()'s DataFrames, same values
                report.generator = "pandera"
                return st.fixed_dictionaries(elements)
        report.generator = "bounds"
        report.notes.append(
            "pandera cannot generate data for "
            + ", ".join(unexpressible[:10])
            + "; rows come from the column bounds instead, filtered by those checks"
        )
        valid = _validity(ctx)
        return _bounds_strategy(doms).filter(valid) if valid is not None else _bounds_strategy(doms)
    report.generator = "bounds"  # run() has said where the bounds come from
    return _bounds_strategy(doms)


def _validity(ctx: Context) -> Any:
    """A predicate `row -> bool` for the schema checks pandera cannot generate data for (None: there are none).

    Edge cases, the bounds-based generator and the shrinking all keep to it, so every row
    ROB001 reports is valid under the whole schema.
    """
    schema = ctx.bundle.schema
    if schema is None:
        return None
    cols = [c for c in ctx.feature_columns if c in schema.columns]
    unexpressible = _unexpressible(schema, cols)
    if not unexpressible:
        return None
    checked = sorted({u.split(":")[0] for u in unexpressible} & set(cols))
    judge = schema.select_columns(cols if any(u.startswith("<dataframe>") for u in unexpressible) else checked)
    return lambda row: _schema_valid(judge, _frame(ctx, [row]))


def _schema_valid(schema: Any, frame: pd.DataFrame) -> bool:
    import pandera.errors as pe

    try:
        schema.validate(frame[[c for c in frame.columns if c in schema.columns]], lazy=False)
    except (pe.SchemaError, pe.SchemaErrors):
        return False
    return True


_SEARCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Keep hypothesis from mixing literals of "local" modules into the values it draws.

    Hypothesis draws, now and then, constants found in the source of every loaded module
    outside site-packages (an editable install, the caller's own code and tests). Which
    modules are loaded changes during a process's life, so the same seed would draw
    different rows in a fresh process and in a long-lived one (pytest, a notebook). The
    search is switched to hypothesis' global constants only; if its internals move, the
    search still runs, only less reproducibly across processes.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        original = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):  # pragma: no cover - a future hypothesis
        yield
        return
    empty = Constants()
    with _SEARCH_LOCK:
        providers._get_local_constants = lambda: empty
        cache.clear()
        try:
            yield
        finally:
            providers._get_local_constants = original
            cache.clear()


def _find(strategy: Any, condition: Any, max_examples: int, seed: int) -> Any:
    """hypothesis.find with a fixed seed, no example database and no health checks; None when nothing matches."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample, Unsatisfiable

    opts = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    try:
        with warnings.catch_warnings(), _without_local_constants():
            warnings.simplefilter("ignore")
            return find(strategy, condition, settings=opts, random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable):
        return None


def _search(
    ctx: Context, strategy: Any, report: FuzzReport, max_examples: int, deadline: float, shrink_seconds: float
) -> dict[str, Any] | None:
    """The seeded search; the shrunk failing row, or None.

    Each round first lets hypothesis generate its rows and scores them in one batch (cheap);
    only when one fails is the same seeded round replayed with the model as the oracle, so
    hypothesis meets the same row again and shrinks it. Round sizes are fixed (10, 20, 40,
    50, 50, ...), never derived from timing, so a seed always gives the same rows; the clock
    is read between rounds only.
    """
    from hypothesis.errors import Flaky

    round_no = 0
    while report.search_examples < max_examples and time.perf_counter() < deadline:
        budget = min(SEARCH_ROUND, 10 * 2**round_no, max_examples - report.search_examples)
        seed = ctx.seed * 1_000_003 + round_no
        rows: list[dict[str, Any]] = []
        _find(strategy, lambda row, rows=rows: rows.append(row) or False, budget, seed)
        round_no += 1
        report.search_rounds = round_no
        if not rows:
            report.search_stopped = "no valid example could be generated"
            return None
        problems = probe(ctx, _frame(ctx, rows)).problems
        bad = next((i for i, p in enumerate(problems) if p), None)
        if bad is None:
            report.search_examples += len(rows)
            continue
        report.search_examples += bad + 1
        report.search_stopped = "found a counterexample"
        state: dict[str, Any] = {"last": rows[bad]}
        shrink_until = time.perf_counter() + shrink_seconds

        def fails(row: dict[str, Any], state: dict[str, Any] = state, shrink_until: float = shrink_until) -> bool:
            if time.perf_counter() > shrink_until:
                return False
            if probe(ctx, _frame(ctx, [row])).problems[0]:
                state["last"] = row
                return True
            return False

        try:
            minimal = _find(strategy, fails, budget, seed)
        except Flaky:  # the shrink budget ran out while hypothesis re-checked a row: keep the last failure
            minimal = None
        return minimal if minimal is not None else state["last"]
    report.search_stopped = "example budget spent" if report.search_examples >= max_examples else "time budget spent"
    return None


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


def polish(ctx: Context, doms: Sequence[Domain], row: dict[str, Any], valid: Any = None) -> dict[str, Any]:
    """Greedy shrinking of one failing row: replace each value by the simplest stand-in that still fails.

    The stand-ins for one column are scored in one batch; two passes over the columns at most.
    """
    for _ in range(2):
        changed = False
        for dom in doms:
            trials = []
            for candidate in _simpler(dom, row.get(dom.name)):
                trial = dict(row)
                trial[dom.name] = candidate
                if valid is None or valid(trial):
                    trials.append(trial)
            if not trials:
                continue
            problems = probe(ctx, _frame(ctx, trials)).problems
            hit = next((t for t, p in zip(trials, problems, strict=True) if p), None)
            if hit is not None:
                row, changed = hit, True
        if not changed:
            break
    return row


def run(
    ctx: Context,
    *,
    max_examples: int = 200,
    max_seconds: float = 30.0,
    shrink_seconds: float = 2.0,
    edges: bool = True,
) -> FuzzReport:
    """Fuzz the model: edge cases first (unless `edges=False`), then a seeded, bounded hypothesis search."""
    start = time.perf_counter()
    doms, source = domains(ctx)
    report = FuzzReport(generator="", domain_source=source)
    if source != "schema":
        origin = (
            "the reference data" if ctx.bundle.reference is not None else "rows synthesised from the graph's inputs"
        )
        if ctx.bundle.schema is None:
            report.notes.append(f"no schema: bounds and typical values come from the ranges of {origin}")
        else:
            report.notes.append(f"bounds of the features the schema lacks come from the ranges of {origin}")
    # 1. edge cases, all in one batch (retried row by row when the batch errors)
    valid = _validity(ctx)
    cases = edge_rows(doms) if edges else []
    if valid is not None and cases:
        kept = [case for case in cases if valid(case[2])]
        if len(kept) < len(cases):
            report.notes.append(f"{len(cases) - len(kept)} edge case(s) left out: they fail a custom schema check")
        cases = kept
    report.edge_cases = len(cases)
    step = _rows_per_batch(doms)  # large tensors: the edge cases in several batches, bounding the memory
    for at in range(0, len(cases), step):
        chunk = cases[at : at + step]
        result = probe(ctx, _frame(ctx, [row for _, _, row in chunk]))
        for i, (col, value, row) in enumerate(chunk):
            if result.problems[i]:
                report.edge_failures.append(
                    Finding("edge", result.problems[i], row, result.outputs[i], column=col, value=value)
                )
    if report.edge_failures:
        first = report.edge_failures[0]
        report.counterexample = first
        report.reproduce = reproduce_command(ctx, first.row)
        report.search_stopped = "not run: the edge cases already failed"
        report.generator = "edge cases"
    else:
        # 2. the seeded search
        if any(d.tensor is not None for d in doms):
            found = _tensor_search(ctx, doms, report, max_examples, start + max_seconds)
        else:
            strategy = _strategy(ctx, doms, report)
            found = _search(ctx, strategy, report, max_examples, start + max_seconds, shrink_seconds)
        if found is not None:
            shrunk = {k: _py(v) for k, v in found.items()}
            row = polish(ctx, doms, shrunk, valid)
            final = probe(ctx, _frame(ctx, [row]))
            if not final.problems[0]:  # cannot happen for a model that scores a row alone as in a batch
                row, final = shrunk, probe(ctx, _frame(ctx, [shrunk]))
            report.counterexample = Finding(
                "search", final.problems[0] or "fails only within a batch", row, final.outputs[0]
            )
            report.reproduce = reproduce_command(ctx, row)
    report.seconds = time.perf_counter() - start
    return report
