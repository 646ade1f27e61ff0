"""Static safety scans of an ONNX model, done on the protobuf before anything loads.

`external_data_locations` is the one walker over every tensor a model can hold:
graph initializers, sparse initializers (values and indices), node attributes (`t`,
`tensors`, `sparse_tensor`, `sparse_tensors`), subgraphs (`g`, `graphs`, recursively),
the bodies of model-local functions (their Constant `sparse_value`, their If/Loop
subgraphs) and training info (initialization and algorithm graphs). Attribute fields
are read whatever type the attribute declares, so a mislabelled attribute hides nothing.
SEC001 judges its result and `Context.new_session` refuses to create a session when
any location would read outside the model's own directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .parsing import quote


@dataclass(frozen=True)
class ExternalRef:
    tensor: str
    where: str  # e.g. "initializer", "sparse_initializer.values", "node Foo attribute value"
    location: str


class UnsafeExternalData(Exception):
    def __init__(self, refs: list[tuple[ExternalRef, str]]):
        self.refs = refs
        first, why = refs[0]
        super().__init__(
            f"tensor {quote(first.tensor, 80)} ({quote(first.where, 120)[1:-1]}) points outside the model's "
            f"directory: {quote(first.location)} ({why})"
        )


def _tensor_refs(tensor: Any, where: str) -> Iterator[ExternalRef]:
    from onnx import TensorProto

    if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
        entries = {e.key: e.value for e in tensor.external_data}
        yield ExternalRef(tensor.name, where, entries.get("location", ""))


def _sparse_refs(sparse: Any, where: str) -> Iterator[ExternalRef]:
    yield from _tensor_refs(sparse.values, f"{where}.values")
    yield from _tensor_refs(sparse.indices, f"{where}.indices")


def _node_refs(node: Any, prefix: str, graphs: list[tuple[Any, str]]) -> Iterator[ExternalRef]:
    """Tensors held by NODE's attributes; subgraphs are appended to GRAPHS for the caller to walk."""
    for attr in node.attribute:
        here = f"{prefix}node {node.name or node.op_type!r} attribute {attr.name!r}"
        if attr.HasField("t"):
            yield from _tensor_refs(attr.t, here)
        for t in attr.tensors:
            yield from _tensor_refs(t, here)
        if attr.HasField("sparse_tensor"):
            yield from _sparse_refs(attr.sparse_tensor, here)
        for st in attr.sparse_tensors:
            yield from _sparse_refs(st, here)
        if attr.HasField("g"):
            graphs.append((attr.g, f"{here} > "))
        for g in attr.graphs:
            graphs.append((g, f"{here} > "))


def _walk(model: Any) -> Iterator[ExternalRef]:
    """Every external-data reference, walked iteratively (no recursion on nested subgraphs)."""
    graphs: list[tuple[Any, str]] = [(model.graph, "")]
    for i, info in enumerate(getattr(model, "training_info", [])):
        graphs.append((info.initialization, f"training_info[{i}].initialization > "))
        graphs.append((info.algorithm, f"training_info[{i}].algorithm > "))
    for fn in getattr(model, "functions", []):
        prefix = f"function {fn.name!r} > "
        for node in fn.node:
            yield from _node_refs(node, prefix, graphs)
    while graphs:
        graph, prefix = graphs.pop()
        for t in graph.initializer:
            yield from _tensor_refs(t, f"{prefix}initializer")
        for s in graph.sparse_initializer:
            yield from _sparse_refs(s, f"{prefix}sparse_initializer")
        for node in graph.node:
            yield from _node_refs(node, prefix, graphs)


def external_data_locations(model: Any) -> list[ExternalRef]:
    """Every external-data reference in the model: graph, subgraphs, functions and training info."""
    return list(_walk(model))


def why_unsafe(location: str, model_dir: Path) -> str | None:
    """Why `location` (relative to the model's directory) would read outside that directory, or None."""
    if not location:
        return "empty location"
    if "\x00" in location:
        return "NUL character"
    if (
        PurePosixPath(location).is_absolute()
        or PureWindowsPath(location).is_absolute()
        or PureWindowsPath(location).drive
    ):
        return "absolute path"
    parts = location.replace("\\", "/").split("/")
    if ".." in parts:
        return "'..' component"
    try:
        base = model_dir.resolve()
        resolved = (model_dir / location).resolve()
        resolved.relative_to(base)
    except ValueError:
        return "resolves outside the model's directory (through a link)"
    except (OSError, RuntimeError) as exc:
        return f"cannot be resolved: {exc}"
    return None


def unsafe_external_data(model: Any, model_dir: Path) -> list[tuple[ExternalRef, str]]:
    out = []
    for ref in external_data_locations(model):
        why = why_unsafe(ref.location, model_dir)
        if why:
            out.append((ref, why))
    return out


def assert_safe_external_data(model: Any, model_dir: Path) -> None:
    """Raise UnsafeExternalData when any tensor's external data would be read outside MODEL_DIR."""
    bad = unsafe_external_data(model, model_dir)
    if bad:
        raise UnsafeExternalData(bad)
