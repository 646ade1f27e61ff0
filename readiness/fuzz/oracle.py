"""The output oracle: score request rows as the server would and say, per row, what is wrong with the output.

A row must score without a runtime error, every numeric output must be finite, and outputs must
honour their declared contract (probabilities in [0, 1] summing to 1, labels within `classes`).
ROB001's search, ROB003 and ROB004 judge rows with `probe`; `reproduce_command` spells a failing
row as a one-line onnxruntime command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import runtime as rt
from .tensors import TensorValue, _literal, jsonable

if TYPE_CHECKING:
    import pandas as pd

    from ..context import Context

PROB_TOL = 1e-5  # probabilities may stray this far outside [0, 1] (float32 rounding)
SUM_TOL = 1e-3  # and their rows may sum this far from 1


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


def reproduce_command(ctx: Context, row: pd.DataFrame | dict[str, Any]) -> str:
    """A one-line shell command that feeds `row` (a one-row frame, or a fuzz row) to the model with
    onnxruntime alone; a tensor kept as a TensorValue is rebuilt from its recipe, not spelled out."""
    import shlex

    recipes: dict[str, TensorValue] = {}
    if isinstance(row, dict):
        recipes = {k: v for k, v in row.items() if isinstance(v, TensorValue)}
        row = request_frame(ctx, [row])
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


def request_frame(ctx: Context, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Request rows (dicts) as the DataFrame the model is fed; TensorValue cells become arrays."""
    import pandas as pd

    built = [{k: v.array() if isinstance(v, TensorValue) else v for k, v in row.items()} for row in rows]
    return pd.DataFrame(built, columns=ctx.feature_columns)
