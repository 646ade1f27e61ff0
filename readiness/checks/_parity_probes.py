"""Probe families for export parity (RPR003): the inputs where conversions really break.

Reference rows are typical rows; converters rarely fail there. They fail on values a
converter treats specially: the schema's edge values, missing values (trees route
them by a learned direction that an export may drop), values exactly on and one
float32 ulp either side of the model's own split thresholds, categories the encoder
never saw, and extreme magnitudes that overflow float32 arithmetic. Each family is a
small frame built around one typical row, so a difference points at one column and
one value. Families are bounded in rows and seeded; nothing here runs a model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from readiness.context import Context

FAMILIES = ("schema edges", "missing values", "split thresholds", "unseen categories", "extreme magnitudes")
_TREE_OPS = {"TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"}
_F32 = np.float32
_F32_MAX = float(np.finfo(np.float32).max)
UNSEEN = "__readiness_unseen__"


@dataclass
class Family:
    """One probe family: its rows, and for each row the column and value it probes."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    probes: list[tuple[str, Any]] = field(default_factory=list)  # (column, value) per row
    note: str = ""

    def add(self, base: dict[str, Any], column: str, value: Any) -> None:
        row = dict(base)
        row[column] = value
        self.rows.append(row)
        self.probes.append((column, value))


@dataclass
class TreeSplits:
    """Split thresholds per request column, as the ONNX model's tree ensembles hold them (float32)."""

    by_column: dict[str, np.ndarray]
    note: str = ""


def _attr(node: Any, name: str) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            if isinstance(value, onnx.TensorProto):
                return onnx.numpy_helper.to_array(value)
            return value
    return None


def _graph_input_of(graph: Any, name: str) -> str | None:
    """The graph input a tensor comes from, through Cast/Identity nodes only; None if computed."""
    inputs = {i.name for i in graph.input}
    producers = {out: node for node in graph.node for out in node.output}
    seen = 0
    while name not in inputs and seen < 16:
        node = producers.get(name)
        if node is None or node.op_type not in ("Cast", "Identity"):
            return None
        name, seen = node.input[0], seen + 1
    return name if name in inputs else None


def tree_splits(ctx: Context) -> TreeSplits:
    """Split thresholds of every tree ensemble whose input is a request tensor fed column by column."""
    graph = ctx.model_proto.graph
    columns_of = {spec.name: list(spec.features) for spec in ctx.inputs if spec.features}
    found: dict[str, set[float]] = {}
    skipped: list[str] = []
    for node in graph.node:
        if node.op_type not in _TREE_OPS:
            continue
        source = _graph_input_of(graph, node.input[0])
        if source is None or source not in columns_of:
            skipped.append(node.name or node.op_type)
            continue
        feats = _attr(node, "nodes_featureids")
        values = _attr(node, "nodes_values")
        if values is None:
            values = _attr(node, "nodes_values_as_tensor")
        if values is None:
            values = _attr(node, "nodes_splits")
        modes = _attr(node, "nodes_modes")
        if feats is None or values is None:
            continue
        leaf = [m in (b"LEAF", "LEAF") for m in modes] if modes is not None and len(modes) == len(feats) else None
        cols = columns_of[source]
        for i, (feat, value) in enumerate(zip(feats, np.asarray(values, dtype=np.float32).ravel(), strict=False)):
            if (leaf is not None and leaf[i]) or not 0 <= int(feat) < len(cols) or not np.isfinite(value):
                continue
            found.setdefault(cols[int(feat)], set()).add(float(value))
    note = f"tree input of {', '.join(skipped)} is computed from the request, not fed directly" if skipped else ""
    return TreeSplits({c: np.array(sorted(v), dtype=np.float32) for c, v in found.items()}, note)


def _sample(values: Sequence[Any], limit: int, rng: np.random.Generator) -> list[Any]:
    if len(values) <= limit:
        return list(values)
    idx = np.sort(rng.choice(len(values), size=limit, replace=False))
    return [values[i] for i in idx]


def build(
    ctx: Context, doms: Sequence[Any], splits: TreeSplits, *, max_rows: int, rng: np.random.Generator
) -> list[Family]:
    """Every family's rows (each bounded so that all families together stay near `max_rows`)."""
    if max_rows <= 0:
        return [Family(name, note="probes disabled (parity_probe_rows = 0)") for name in FAMILIES]
    base = {d.name: d.typical for d in doms}
    per_family = max(8, max_rows // len(FAMILIES))
    families = {name: Family(name) for name in FAMILIES}

    edges = families["schema edges"]
    for dom in doms:
        if dom.tensor is None:
            for value in dom.edges():
                edges.add(base, dom.name, value)

    missing = families["missing values"]
    for dom in doms:
        if dom.nullable and dom.tensor is None:
            missing.add(base, dom.name, None if dom.kind in ("string", "category") else float("nan"))
    if not missing.rows:
        missing.note = "no column is nullable"

    unseen = families["unseen categories"]
    rejects = {c for spec in ctx.inputs if spec.on_invalid == "reject" for c in (spec.features or [spec.name])}
    for dom in doms:
        if dom.allowed and dom.name in rejects:
            continue  # an unseen value breaks the schema, and the server rejects it: nothing to compare
        if dom.kind in ("string", "category") and dom.tensor is None:
            for value in (UNSEEN, ""):
                if not dom.allowed or value not in dom.allowed:
                    unseen.add(base, dom.name, value)
    if not unseen.rows:
        unseen.note = "no categorical column"

    extreme = families["extreme magnitudes"]
    for dom in doms:
        if dom.kind != "float" or dom.tensor is not None:
            continue
        candidates = [1e6, -1e6, 1e30, -1e30, _F32_MAX, -_F32_MAX]
        for value in candidates:
            if dom.contains(value):
                extreme.add(base, dom.name, value)
    if not extreme.rows:
        extreme.note = "every numeric column is bounded: its edges are the largest values it may take"

    thresholds = families["split thresholds"]
    by_name = {d.name: d for d in doms}
    for column, values in splits.by_column.items():
        dom = by_name.get(column)
        for t in values:
            for x in (np.nextafter(t, _F32(-np.inf)), t, np.nextafter(t, _F32(np.inf))):
                if dom is None or dom.contains(float(x)):
                    thresholds.add(base, column, float(x))
    thresholds.note = splits.note or ("" if splits.by_column else "the model has no tree ensemble fed by the request")

    out: list[Family] = []
    for family in families.values():
        if len(family.rows) > per_family:
            keep = sorted(_sample(list(range(len(family.rows))), per_family, rng))
            family.rows = [family.rows[i] for i in keep]
            family.probes = [family.probes[i] for i in keep]
            family.note = (family.note + "; " if family.note else "") + f"sampled {per_family} probes (seeded)"
        out.append(family)
    return out


def _lightgbm_splits(booster: Any) -> dict[int, np.ndarray]:
    """Numerical split thresholds per feature of a LightGBM booster (doubles, compared as x <= t)."""
    per: dict[int, list[float]] = {}
    for tree in booster.dump_model().get("tree_info", []):
        stack = [tree.get("tree_structure", {})]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            if node.get("decision_type", "<=") == "<=":
                per.setdefault(int(node["split_feature"]), []).append(float(node["threshold"]))
            stack += [node.get("left_child", {}), node.get("right_child", {})]
    return {f: np.unique(np.asarray(v, dtype=np.float64)) for f, v in per.items()}


def lightgbm_near_rows(source: Any, frame: Any, ulps: float) -> np.ndarray | None:
    """Rows with a value within `ulps` float32 ulps of a LightGBM split threshold (None: not LightGBM).

    LightGBM compares float64 inputs with float64 thresholds; the ONNX export compares
    float32 inputs with float32 thresholds, and a request value that is not a float32
    number is rounded first. Near a threshold the two may take different branches
    without any conversion defect, as with scikit-learn trees (`near_split_rows`).
    """
    if source.kind != "lightgbm":
        return None
    from readiness import source_models as sm

    X = np.asarray(frame.to_numpy(dtype=np.float64))
    return sm.rows_near_thresholds(X, _lightgbm_splits(source.model), ulps)


def rounded_up_thresholds(source: Any, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Per column, the float32 roundings of the source's float64 split thresholds that round *up*.

    scikit-learn and LightGBM compare inputs with float64 thresholds (x <= t64); ONNX
    compares them with float32(t64). They disagree on exactly one input value per
    threshold: x equal to float32(t64) when that rounded up. Rows probing that value are
    excused; any other difference at a threshold is a real conversion defect (e.g. `<`
    exported for `<=`). XGBoost keeps float32 thresholds itself, so nothing is excused.
    """
    from readiness import source_models as sm

    if source.kind == "lightgbm":
        splits: dict[int, np.ndarray] | None = _lightgbm_splits(source.model)
    elif source.kind in ("skops", "pickle"):
        model = source.model
        if hasattr(model, "steps") and len(model.steps) > 1:
            return {}
        splits = sm.split_points(model)
    else:
        return {}
    out: dict[str, np.ndarray] = {}
    for feat, t64 in (splits or {}).items():
        if 0 <= feat < len(columns):
            t32 = t64.astype(np.float32)
            up = t32.astype(np.float64) > t64
            out[columns[feat]] = np.unique(t32[up])
    return out


def explained_by_rounding(family: Family, rounded_up: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of the split-thresholds family whose probe value is a rounded-up threshold."""
    mask = np.zeros(len(family.rows), dtype=bool)
    for i, (column, value) in enumerate(family.probes):
        ups = rounded_up.get(column)
        if ups is not None and ups.size and np.any(ups == _F32(value)):
            mask[i] = True
    return mask


def frames(ctx: Context, families: Sequence[Family]) -> Iterator[tuple[Family, pd.DataFrame]]:
    """Each family with its rows as the frame the model is fed (families without rows are left out)."""
    from readiness import fuzz

    for family in families:
        if family.rows:
            yield family, fuzz.request_frame(ctx, family.rows)
