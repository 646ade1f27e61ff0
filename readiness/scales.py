"""Input scales the graph itself states, for runs without reference data or a schema.

A model-only run has to invent its input rows. Standard-normal rows judge nothing when the
model reads features whose real spread is 0.05 or 5000: a perturbation of "1% of the spread"
then means something else, and a batch comparison runs on values no request will carry.
Many exported graphs state the scale they expect, so the rows can be drawn on it:

- `Scaler` (ai.onnx.ml): y = (x - offset) * scale, so x ~ offset + N(0, 1) / |scale|;
- `Normalizer`: rows are divided by their norm, so the output does not depend on the scale
  (standard-normal rows are as good as any);
- tree ensembles (`TreeEnsembleRegressor`/`TreeEnsembleClassifier`/`TreeEnsemble`): each
  feature's split thresholds (`nodes_values` by `nodes_featureids`) span the region where
  the trees decide; a feature no tree splits on does not change the output;
- encoders (`OneHotEncoder`, `LabelEncoder`, `CategoryMapper`): their category lists.

The graph is followed from each input through `Cast`, `Identity` and column `Concat`s to the
first node of one of these kinds. A column the graph states nothing about is left out: the
checks whose verdict depends on the scale report measurements without a verdict for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import InputSpec

TREE_OPS = {"TreeEnsembleRegressor", "TreeEnsembleClassifier", "TreeEnsemble"}
ENCODER_OPS = {"OneHotEncoder", "LabelEncoder", "CategoryMapper"}
PASS_THROUGH = {"Cast", "Identity", "CastLike"}


@dataclass(frozen=True)
class Scale:
    """Where one input column's values live: a centre and a spread (numbers), or categories."""

    source: str  # e.g. "Scaler", "tree thresholds", "OneHotEncoder categories"
    center: float = 0.0
    spread: float = 1.0
    categories: tuple[Any, ...] | None = None


def column_names(spec: InputSpec) -> list[str]:
    """The request columns one graph input holds, named as `synth.from_inputs` names them."""
    if spec.features is not None:
        return list(spec.features)
    if len(spec.shape) == 2 and spec.shape[1] > 1:
        return [f"{spec.name}_{i}" for i in range(spec.shape[1])]
    return [spec.name]


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _floats(value: Any) -> list[float]:
    if value is None:
        return []
    if hasattr(value, "dims"):  # a TensorProto attribute (nodes_values_as_tensor, ...)
        from onnx import numpy_helper

        return [float(v) for v in numpy_helper.to_array(value).ravel()]
    return [float(v) for v in value]


def _decode(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values)


def _tree_scales(attrs: dict[str, Any], width: int) -> dict[int, Scale]:
    features = [int(f) for f in attrs.get("nodes_featureids", [])]
    values = _floats(attrs.get("nodes_values")) or _floats(attrs.get("nodes_values_as_tensor"))
    modes = _decode(attrs.get("nodes_modes", []))
    if not values and "nodes_splits" in attrs:  # ai.onnx.ml opset 5 TreeEnsemble
        values = _floats(attrs.get("nodes_splits"))
        modes = ()
    by_feature: dict[int, list[float]] = {}
    for i, (f, v) in enumerate(zip(features, values, strict=False)):
        if modes and i < len(modes) and modes[i] == "LEAF":
            continue
        if np.isfinite(v):
            by_feature.setdefault(f, []).append(v)
    out: dict[int, Scale] = {}
    for k in range(width):
        thresholds = np.array(sorted(by_feature.get(k, [])))
        if not len(thresholds):
            out[k] = Scale("not read by any tree")
            continue
        low, high = float(thresholds[0]), float(thresholds[-1])
        center = (low + high) / 2
        spread = (high - low) / 2 if high > low else max(abs(low), 1.0) / 2
        out[k] = Scale("tree split thresholds", center, spread)
    return out


def _node_scales(node: Any, width: int) -> dict[int, Scale] | None:
    """Scales per position of the vector `node` reads, or None when the node states none."""
    attrs = _attrs(node)
    op = node.op_type
    if op == "Scaler":
        offset, scale = _floats(attrs.get("offset")), _floats(attrs.get("scale"))
        if not offset or not scale:
            return None
        out: dict[int, Scale] = {}
        for k in range(width):
            o = offset[k] if len(offset) > k else offset[0]
            s = scale[k] if len(scale) > k else scale[0]
            out[k] = Scale("Scaler", o, 1.0 / abs(s)) if s != 0 else Scale("Scaler (feature ignored)", o, 1.0)
        return out
    if op == "Normalizer":
        return {k: Scale("Normalizer (scale-free)") for k in range(width)}
    if op in TREE_OPS:
        return _tree_scales(attrs, width)
    if op in ENCODER_OPS:
        for key in ("cats_strings", "cats_int64s", "keys_strings", "keys_int64s", "keys_floats"):
            if attrs.get(key):
                return {k: Scale(f"{op} categories", categories=_decode(attrs[key])) for k in range(width)}
        if op == "OneHotEncoder" or op == "LabelEncoder":
            return None
    return None


def _constants(graph: Any) -> dict[str, list[int]]:
    """Small integer constants (initializers and Constant nodes): column indices for Gather and friends."""
    from onnx import numpy_helper

    out: dict[str, list[int]] = {}
    tensors = [(init.name, init) for init in graph.initializer]
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            value = _attrs(node).get("value")
            if value is not None and hasattr(value, "dims"):
                tensors.append((node.output[0], value))
    for name, tensor in tensors:
        if len(tensor.dims) <= 1 and (not tensor.dims or tensor.dims[0] <= 100_000):
            arr = numpy_helper.to_array(tensor)
            if arr.dtype.kind in "iu":
                out[name] = [int(v) for v in arr.ravel()]
    return out


def graph_scales(model: Any, inputs: Sequence[InputSpec]) -> dict[str, Scale]:
    """Per request column, the scale the graph states for it (columns it says nothing about are absent)."""
    graph = model.graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    constants = _constants(graph)
    # a traced tensor: the request column behind each position of its last axis
    traced: dict[str, list[str]] = {}
    for spec in inputs:
        if spec.dtype == "bool":
            continue
        traced[spec.name] = column_names(spec)
    out: dict[str, Scale] = {}
    frontier = list(traced)
    seen: set[str] = set()
    while frontier:
        name = frontier.pop(0)
        if name in seen:
            continue
        seen.add(name)
        columns = traced[name]
        for node in consumers.get(name, []):
            if node.op_type in PASS_THROUGH and node.input and node.input[0] == name:
                traced.setdefault(node.output[0], columns)
                frontier.append(node.output[0])
                continue
            if node.op_type in ("Gather", "ArrayFeatureExtractor") and len(node.input) > 1 and node.input[0] == name:
                # a constant column selection: Gather on the last axis, or ArrayFeatureExtractor
                axis = int(_attrs(node).get("axis", 0)) if node.op_type == "Gather" else -1
                picked = constants.get(node.input[1])
                if axis in (1, -1) and picked is not None and all(0 <= int(i) < len(columns) for i in picked):
                    traced.setdefault(node.output[0], [columns[int(i)] for i in picked])
                    frontier.append(node.output[0])
                continue
            if node.op_type == "Concat":
                axis = int(_attrs(node).get("axis", 0))
                parts = [traced.get(i) for i in node.input]
                if axis in (1, -1) and all(p is not None for p in parts):
                    traced.setdefault(node.output[0], [c for p in parts for c in p])  # type: ignore[union-attr]
                    frontier.append(node.output[0])
                continue
            stated = _node_scales(node, len(columns))
            if stated is None:
                continue
            for k, column in enumerate(columns):
                if k in stated:
                    out.setdefault(column, stated[k])
    return out
