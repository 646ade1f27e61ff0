"""The input/output contract read from an ONNX graph's declared types (no session, no external data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import InputSpec, OutputSpec
from ..runtime import ONNX_ELEM_TYPES


def load_proto(path: Path) -> Any | None:
    """The ModelProto without external data, or None when the file is not a readable ONNX model."""
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a broken model is ART001's finding, not a loading error
        return None


def _initializer_names(graph: Any) -> set[str]:
    return {i.name for i in graph.initializer} | {s.values.name for s in graph.sparse_initializer}


def value_kind(value_info: Any) -> str:
    """tensor, sequence, map, optional or unknown."""
    which = value_info.type.WhichOneof("value")
    return {"tensor_type": "tensor", "sequence_type": "sequence", "map_type": "map"}.get(
        which or "", which or "unknown"
    )


def tensor_dtype_shape(value_info: Any) -> tuple[str | None, list[int] | None]:
    if value_kind(value_info) != "tensor":
        return None, None
    tt = value_info.type.tensor_type
    dtype = ONNX_ELEM_TYPES.get(tt.elem_type)
    if not tt.HasField("shape"):
        return dtype, None
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tt.shape.dim]
    return dtype, dims


def graph_inputs(proto: Any) -> list[Any]:
    """Graph inputs that a request feeds (initializers listed as inputs in old IR versions are left out)."""
    inits = _initializer_names(proto.graph)
    return [vi for vi in proto.graph.input if vi.name not in inits]


def output_kind(name: str, dtype: str | None, kind: str, n_outputs: int) -> str:
    lowered = name.lower()
    if kind in ("sequence", "map") or "prob" in lowered:
        return "probabilities"
    if "label" in lowered or dtype in ("int64", "string"):
        return "label"
    return "regression" if n_outputs == 1 else "score"


def graph_contract(path: Path) -> tuple[list[InputSpec], list[OutputSpec]] | None:
    """Inputs and outputs as a serving config would declare them, or None when the graph cannot be read
    (or uses types a serving config cannot express)."""
    proto = load_proto(path)
    if proto is None:
        return None
    inputs: list[InputSpec] = []
    for vi in graph_inputs(proto):
        dtype, shape = tensor_dtype_shape(vi)
        if dtype is None or shape is None:
            return None
        inputs.append(InputSpec(name=vi.name, dtype=dtype, shape=shape))  # type: ignore[arg-type]
    outputs = [
        OutputSpec(
            name=vo.name,
            kind=output_kind(vo.name, tensor_dtype_shape(vo)[0], value_kind(vo), len(proto.graph.output)),  # type: ignore[arg-type]
        )
        for vo in proto.graph.output
    ]
    return inputs, outputs
