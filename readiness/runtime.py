"""onnxruntime sessions, input feeding and output interpretation.

This module knows how one request row becomes the model's input tensors (the
serving config's `inputs`) and what the model's outputs mean (its `outputs`).
When there is no serving config, both are derived from the graph (`readiness.contract`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import InputSpec, OutputSpec, RuntimeSpec
from .errors import OutputMismatch

# ONNX tensor element type names (as onnxruntime reports them) -> serving dtype names.
ORT_TYPES: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}

_OPT_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}

# onnx.TensorProto.DataType -> serving dtype names
ONNX_ELEM_TYPES: dict[int, str] = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
}


class ProviderUnavailable(Exception):
    """A requested execution provider is not in the installed onnxruntime."""

    def __init__(self, missing: list[str], available: list[str]):
        self.missing = missing
        self.available = available
        super().__init__(
            f"execution provider(s) {', '.join(missing)} requested by the serving config are not available "
            f"in this onnxruntime (available: {', '.join(available)})"
        )


def numpy_dtype(name: str) -> Any:
    return object if name == "string" else np.dtype(name)


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def resolve_providers(runtime: RuntimeSpec | None) -> list[str]:
    """The providers to use, exactly as requested; raise when one is missing (never fall back)."""
    requested = list(runtime.providers) if runtime else ["CPUExecutionProvider"]
    available = available_providers()
    missing = [p for p in requested if p not in available]
    if missing:
        raise ProviderUnavailable(missing, available)
    return requested


def session_options(
    runtime: RuntimeSpec | None, *, intra_op_threads: int | None = None, seed: int | None = None
) -> Any:
    import onnxruntime as ort

    runtime = runtime or RuntimeSpec()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = runtime.intra_op_threads if intra_op_threads is None else intra_op_threads
    opts.inter_op_num_threads = runtime.inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[runtime.graph_optimization_level])
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def create_session(
    model: Path | bytes, runtime: RuntimeSpec | None = None, *, intra_op_threads: int | None = None
) -> Any:
    """An InferenceSession configured from the serving config's runtime section."""
    import onnxruntime as ort

    providers = resolve_providers(runtime)
    opts = session_options(runtime, intra_op_threads=intra_op_threads)
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, sess_options=opts, providers=providers)


# --------------------------------------------------------------------------- feeding
def feature_columns(inputs: Sequence[InputSpec]) -> list[str]:
    """Schema columns the model reads, in input order."""
    cols: list[str] = []
    for spec in inputs:
        for col in spec.features if spec.features is not None else [spec.name]:
            if col not in cols:
                cols.append(col)
    return cols


def to_feeds(frame: Any, inputs: Sequence[InputSpec]) -> dict[str, np.ndarray]:
    """Turn a DataFrame of request rows into the model's input tensors."""
    feeds: dict[str, np.ndarray] = {}
    n = len(frame)
    for spec in inputs:
        dtype = numpy_dtype(spec.dtype)
        if spec.features is not None:
            block = frame[list(spec.features)]
            arr = block.to_numpy(dtype=dtype) if dtype is not object else block.astype(str).to_numpy(dtype=object)
            if len(spec.shape) == 1:
                arr = arr.reshape(n)
        elif has_tensor_cells(frame[spec.name]):
            arr = stack_tensor_cells(frame[spec.name], spec, dtype)
        else:
            col = frame[spec.name]
            arr = col.to_numpy(dtype=dtype) if dtype is not object else col.astype(str).to_numpy(dtype=object)
            arr = arr.reshape((n, 1) if len(spec.shape) == 2 else (n,))
        feeds[spec.name] = arr
    return feeds


def has_tensor_cells(column: Any) -> bool:
    """True when a request column holds one array per row (an N-D input; see `synth.from_inputs`)."""
    return column.dtype == object and len(column) > 0 and isinstance(column.iloc[0], np.ndarray)


def stack_tensor_cells(column: Any, spec: InputSpec, dtype: Any) -> np.ndarray:
    """Stack per-row arrays along a new batch axis; a cell holding the whole tensor (an input without a
    batch axis) is fed as it is, one request at a time."""
    cells = [np.asarray(cell, dtype=dtype) for cell in column.tolist()]
    if cells and cells[0].ndim == len(spec.shape):
        if len(cells) != 1:
            raise ValueError(f"input {spec.name!r} has no batch axis (shape {spec.shape}): feed one request at a time")
        return cells[0]
    return np.stack(cells)


def run(session: Any, feeds: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None) -> dict[str, Any]:
    names = list(output_names) if output_names else [o.name for o in session.get_outputs()]
    values = session.run(names, dict(feeds))
    return dict(zip(names, values, strict=True))


# --------------------------------------------------------------------------- interpretation
@dataclass
class Predictions:
    """What the model said about a set of rows, by meaning rather than by tensor name."""

    raw: dict[str, Any]
    probabilities: np.ndarray | None = None  # (n, k)
    labels: np.ndarray | None = None  # (n,)
    values: np.ndarray | None = None  # (n,) regression output or score
    classes: list[Any] | None = None

    def __len__(self) -> int:
        for arr in (self.probabilities, self.labels, self.values):
            if arr is not None:
                return len(arr)
        return 0

    def numeric(self) -> np.ndarray | None:
        """The continuous output used for numeric comparisons (probabilities or values)."""
        if self.probabilities is not None:
            return self.probabilities
        return self.values

    def take(self, index: Any) -> Predictions:
        def sl(a: Any) -> Any:
            return None if a is None else a[index]

        return Predictions(
            {k: sl(v) if isinstance(v, np.ndarray) else v for k, v in self.raw.items()},
            sl(self.probabilities),
            sl(self.labels),
            sl(self.values),
            self.classes,
        )


def _zipmap_to_array(seq: list[dict[Any, float]], classes: list[Any] | None) -> tuple[np.ndarray, list[Any]]:
    keys = list(classes) if classes else (list(seq[0].keys()) if seq else [])
    return np.array([[row[k] for k in keys] for row in seq], dtype=np.float64), keys


def interpret(raw: dict[str, Any], outputs: Sequence[OutputSpec]) -> Predictions:
    pred = Predictions(raw=raw)
    for spec in outputs:
        if spec.name not in raw:
            continue
        value = raw[spec.name]
        if spec.kind == "probabilities":
            if isinstance(value, list):
                arr, keys = _zipmap_to_array(value, spec.classes)
                pred.classes = pred.classes or keys
            else:
                arr = np.asarray(value)
                if arr.ndim == 1:
                    arr = np.stack([1 - arr, arr], axis=1)
            pred.probabilities = arr
            pred.classes = pred.classes or (list(spec.classes) if spec.classes else list(range(arr.shape[1])))
        elif spec.kind == "label":
            pred.labels = np.asarray(value).reshape(-1)
            if spec.classes:
                pred.classes = pred.classes or list(spec.classes)
        else:
            arr = np.asarray(value)
            if arr.size == 0 and arr.ndim > 1:
                continue  # an empty output (a legitimate 0-sized dim) has no value per row to judge
            pred.values = arr.reshape(len(arr), -1)[:, 0] if arr.ndim > 1 else arr
    if pred.labels is None and pred.probabilities is not None and pred.classes is not None:
        if pred.probabilities.ndim != 2 or pred.probabilities.shape[1] != len(pred.classes):
            raise OutputMismatch(
                f"the probability output has shape {pred.probabilities.shape[1:]} per row but "
                f"{len(pred.classes)} classes are declared, so labels cannot be derived (see SCH004)"
            )
        pred.labels = np.asarray(pred.classes, dtype=object)[np.argmax(pred.probabilities, axis=1)]
        try:
            pred.labels = pred.labels.astype(np.asarray(pred.classes).dtype)
        except (TypeError, ValueError):
            pass
    return pred


def concat(parts: Sequence[Predictions]) -> Predictions:
    if len(parts) == 1:
        return parts[0]

    def cat(attr: str) -> Any:
        arrays = [getattr(p, attr) for p in parts]
        return None if any(a is None for a in arrays) else np.concatenate(arrays)

    raw: dict[str, Any] = {}
    for key in parts[0].raw:
        chunks = [p.raw[key] for p in parts]
        raw[key] = sum(chunks, []) if isinstance(chunks[0], list) else np.concatenate(chunks)
    return Predictions(raw, cat("probabilities"), cat("labels"), cat("values"), parts[0].classes)
