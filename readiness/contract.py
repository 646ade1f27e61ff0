"""The input/output contract guessed when nobody declared it: one set of rules for every source.

A serving config declares how request rows become input tensors and what the outputs
mean. When it is absent (a bare ONNX file), or a format does not say (a Triton config
lists no features, an MLflow tensor signature names no columns), the contract is
derived here, from the graph's declared types (`graph_contract`, no session and no
external data) or from a loaded session (`derive_inputs`, `derive_outputs`), with the
same rules:

- inputs: a single 2-D input takes every candidate column (reference data, else schema,
  minus the target) when its width allows; without columns, a 2-D input of width > 1
  with a batch axis gets one synthetic feature per position (`<input>_<i>`);
- outputs: sequences, maps and names containing "prob" are probabilities; names
  containing "label" and int64/string tensors are labels; a lone other output is a
  regression value, several are scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import InputSpec, OutputSpec
from .runtime import ONNX_ELEM_TYPES, ORT_TYPES

if TYPE_CHECKING:
    from .bundle_data import Bundle


# --------------------------------------------------------------------------- the rules
def candidate_columns(bundle: Bundle) -> list[str] | None:
    """Columns a request row holds: the reference data's, else the schema's, without the target."""
    if bundle.reference is not None:
        return [str(c) for c in bundle.reference.columns if c != bundle.target]
    if bundle.schema is not None:
        return [str(c) for c in bundle.schema.columns if c != bundle.target]
    return None


def assign_features(spec: InputSpec, inputs: Sequence[InputSpec], columns: Sequence[str] | None) -> InputSpec:
    """SPEC with the schema columns it reads, when it names none (see the module's rules)."""
    if spec.features is not None:
        return spec
    shape = list(spec.shape)
    features = None
    if len(inputs) == 1 and len(shape) == 2 and columns is not None and shape[1] in (-1, len(columns)):
        features = list(columns)
    elif columns is None and len(shape) == 2 and shape[1] > 1 and shape[0] in (-1, 1):
        features = [f"{spec.name}_{i}" for i in range(shape[1])]
    return spec.model_copy(update={"features": features})


def output_kind(name: str, dtype: str | None, kind: str, n_outputs: int) -> str:
    """probabilities, label, regression or score, guessed from an output's name, dtype and kind."""
    lowered = name.lower()
    if kind in ("sequence", "map") or "prob" in lowered:
        return "probabilities"
    if "label" in lowered or dtype in ("int64", "string"):
        return "label"
    return "regression" if n_outputs == 1 else "score"


def _dims(shape: Sequence[Any]) -> list[int]:
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape]


def inputs_from(declared: Sequence[tuple[str, str, list[int]]], columns: Sequence[str] | None) -> list[InputSpec]:
    """Input specs for (name, dtype, shape) triples, with features assigned by the rules."""
    specs = [InputSpec(name=name, dtype=dtype, shape=shape) for name, dtype, shape in declared]  # type: ignore[arg-type]
    return [assign_features(s, specs, columns) for s in specs]


# --------------------------------------------------------------------------- from a session
def _ort_kind(type_name: str) -> str:
    if type_name.startswith("seq("):
        return "sequence"
    if type_name.startswith("map("):
        return "map"
    return "tensor"


def derive_inputs(session: Any, columns: Sequence[str] | None = None) -> list[InputSpec]:
    """Input specs from a loaded session's inputs."""
    declared = [(gi.name, ORT_TYPES.get(gi.type, "float32"), _dims(gi.shape)) for gi in session.get_inputs()]
    return inputs_from(declared, columns)


def derive_outputs(session: Any) -> list[OutputSpec]:
    """Output specs from a loaded session's outputs."""
    outputs = session.get_outputs()
    return [
        OutputSpec(
            name=go.name,
            kind=output_kind(go.name, ORT_TYPES.get(go.type), _ort_kind(go.type), len(outputs)),  # type: ignore[arg-type]
        )
        for go in outputs
    ]


# --------------------------------------------------------------------------- from the graph (no session)
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


def graph_contract(path: Path, columns: Sequence[str] | None = None) -> tuple[list[InputSpec], list[OutputSpec]] | None:
    """Inputs and outputs as a serving config would declare them, or None when the graph cannot be read
    (or uses types a serving config cannot express). Features are assigned only when COLUMNS are given."""
    proto = load_proto(path)
    if proto is None:
        return None
    declared: list[tuple[str, str, list[int]]] = []
    for vi in graph_inputs(proto):
        dtype, shape = tensor_dtype_shape(vi)
        if dtype is None or shape is None:
            return None
        declared.append((vi.name, dtype, shape))
    inputs = [InputSpec(name=n, dtype=d, shape=s) for n, d, s in declared]  # type: ignore[arg-type]
    if columns is not None:
        inputs = [assign_features(s, inputs, columns) for s in inputs]
    outputs = [
        OutputSpec(
            name=vo.name,
            kind=output_kind(vo.name, tensor_dtype_shape(vo)[0], value_kind(vo), len(proto.graph.output)),  # type: ignore[arg-type]
        )
        for vo in proto.graph.output
    ]
    return inputs, outputs
