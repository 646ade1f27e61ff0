"""Static safety scans of an ONNX model, done on the protobuf before anything loads.

`external_data_locations` walks every tensor that can carry external data
(initializers, sparse initializers, node attributes, subgraphs) so that a path
escaping the bundle directory is found before onnxruntime would open it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .errors import Outcome


@dataclass(frozen=True)
class ExternalRef:
    tensor: str
    where: str  # e.g. "initializer", "sparse_initializer.values", "node Foo attribute value"
    location: str


class UnsafeExternalData(Outcome):
    """The model's external data points outside the bundle; the model is never loaded."""

    see = "SEC001"
    prefix = "refused to load the model: "

    def __init__(self, refs: list[tuple[ExternalRef, str]]):
        self.refs = refs
        first, why = refs[0]
        super().__init__(
            f"tensor {first.tensor!r} ({first.where}) points outside the bundle: {first.location!r} ({why})"
        )


def _tensor_refs(tensor: Any, where: str) -> Iterator[ExternalRef]:
    from onnx import TensorProto

    if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
        entries = {e.key: e.value for e in tensor.external_data}
        yield ExternalRef(tensor.name, where, entries.get("location", ""))


def _graph_refs(graph: Any, prefix: str = "") -> Iterator[ExternalRef]:
    from onnx import AttributeProto

    for t in graph.initializer:
        yield from _tensor_refs(t, f"{prefix}initializer")
    for s in graph.sparse_initializer:
        yield from _tensor_refs(s.values, f"{prefix}sparse_initializer.values")
        yield from _tensor_refs(s.indices, f"{prefix}sparse_initializer.indices")
    for node in graph.node:
        for attr in node.attribute:
            here = f"{prefix}node {node.name or node.op_type!r} attribute {attr.name!r}"
            if attr.type == AttributeProto.TENSOR:
                yield from _tensor_refs(attr.t, here)
            elif attr.type == AttributeProto.TENSORS:
                for t in attr.tensors:
                    yield from _tensor_refs(t, here)
            elif attr.type == AttributeProto.SPARSE_TENSOR:
                yield from _tensor_refs(attr.sparse_tensor.values, here)
                yield from _tensor_refs(attr.sparse_tensor.indices, here)
            elif attr.type == AttributeProto.SPARSE_TENSORS:
                for st in attr.sparse_tensors:
                    yield from _tensor_refs(st.values, here)
                    yield from _tensor_refs(st.indices, here)
            elif attr.type == AttributeProto.GRAPH:
                yield from _graph_refs(attr.g, f"{here} > ")
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graph_refs(g, f"{here} > ")


def external_data_locations(model: Any) -> list[ExternalRef]:
    """Every external-data reference in the model, including functions' bodies."""
    refs = list(_graph_refs(model.graph))
    for fn in getattr(model, "functions", []):
        for node in fn.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    refs.extend(_tensor_refs(attr.t, f"function {fn.name!r}"))
    return refs


def why_unsafe(location: str, model_dir: Path, root: Path) -> str | None:
    """Why `location` (relative to the model's directory) would read outside `root`, or None."""
    if not location:
        return "empty location"
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
        resolved = (model_dir / location).resolve()
        resolved.relative_to(root.resolve())
    except ValueError:
        return "resolves outside the bundle directory (through a link)"
    except OSError as exc:
        return f"cannot be resolved: {exc}"
    return None


def unsafe_external_data(model: Any, model_dir: Path, root: Path) -> list[tuple[ExternalRef, str]]:
    out = []
    for ref in external_data_locations(model):
        why = why_unsafe(ref.location, model_dir, root)
        if why:
            out.append((ref, why))
    return out


def assert_safe_external_data(model: Any, model_dir: Path, root: Path) -> None:
    bad = unsafe_external_data(model, model_dir, root)
    if bad:
        raise UnsafeExternalData(bad)
