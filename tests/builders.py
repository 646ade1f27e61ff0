"""Build small, seeded models and bundles at test time.

    from builders import prob_model, write_bundle, tabular_data

Models are made with `onnx.helper` (for defects no exporter would produce) or
with scikit-learn + skl2onnx. Nothing here is cached on disk between runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import tomli_w
import yaml
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 9


def make_model(
    nodes,
    inputs,
    outputs,
    initializers=(),
    *,
    opset: int = OPSET,
    ml_opset: int | None = None,
    doc: str = "test model",
    metadata: dict[str, str] | None = None,
    producer: str = "readiness-tests",
) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    opsets = [helper.make_opsetid("", opset)]
    if ml_opset is not None:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ml_opset))
    model = helper.make_model(graph, opset_imports=opsets, producer_name=producer, producer_version="1.0")
    model.ir_version = IR_VERSION
    model.doc_string = doc
    model.model_version = 1
    for k, v in (metadata or {}).items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    return model


def weights(n_features: int, seed: int = 0) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=n_features).astype(np.float32), float(rng.normal())


def prob_model(
    n_features: int = 4,
    seed: int = 0,
    *,
    extra_nodes: Sequence[Any] = (),
    logit: str = "logit",
    **kw: Any,
) -> onnx.ModelProto:
    """A logistic binary classifier: input [N, n] float32 -> label [N] int64, probabilities [N, 2].

    `extra_nodes` may rewrite the logit: they read `logit` and must write `logit_out`.
    """
    w, b = weights(n_features, seed)
    inits = [
        numpy_helper.from_array(w.reshape(n_features, 1), "W"),
        numpy_helper.from_array(np.array([b], dtype=np.float32), "B"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logit"]),
    ]
    final = "logit"
    if extra_nodes:
        nodes.extend(extra_nodes)
        final = "logit_out"
    nodes += [
        helper.make_node("Sigmoid", [final], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_features])]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
    ]
    return make_model(nodes, inputs, outputs, inits, **kw)


def feature_names(n_features: int) -> list[str]:
    return [f"f{i}" for i in range(n_features)]


def tabular_data(n_rows: int = 200, n_features: int = 4, seed: int = 0, *, model_seed: int = 0) -> pd.DataFrame:
    """Features uniform in [-3, 3] and a 0/1 `label` that prob_model(seed=model_seed) mostly gets right."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n_rows, n_features)).round(4)
    w, b = weights(n_features, model_seed)
    logit = X @ w + b + rng.normal(scale=0.5, size=n_rows)
    frame = pd.DataFrame(X, columns=feature_names(n_features))
    frame["label"] = (logit > 0).astype(int)
    return frame


def schema_yaml(
    frame: pd.DataFrame,
    *,
    target: str | None = "label",
    bounds: tuple[float, float] | None = (-3.0, 3.0),
    nullable: bool = False,
) -> str:
    import pandera.pandas as pa

    cols = {}
    for col in frame.columns:
        if col == target:
            cols[col] = pa.Column(int, pa.Check.isin(sorted(set(frame[col].tolist()))), required=False)
        elif not pd.api.types.is_numeric_dtype(frame[col]):
            cols[col] = pa.Column(str, pa.Check.isin(sorted(set(frame[col].tolist()))), nullable=nullable)
        else:
            checks = [pa.Check.in_range(*bounds)] if bounds else []
            cols[col] = pa.Column(float, checks, nullable=nullable)
    return pa.DataFrameSchema(cols, strict=True).to_yaml()


def serving_config(
    n_features: int = 4,
    *,
    max_batch_size: int = 16,
    features: list[str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "inputs": [
            {
                "name": "input",
                "dtype": "float32",
                "shape": [-1, n_features],
                "features": features or feature_names(n_features),
            }
        ],
        "outputs": [
            {"name": "label", "kind": "label", "classes": [0, 1]},
            {"name": "probabilities", "kind": "probabilities", "classes": [0, 1]},
        ],
        "runtime": {"providers": ["CPUExecutionProvider"], "intra_op_threads": 1},
        "batching": {"max_batch_size": max_batch_size},
    }
    cfg.update(overrides)
    return cfg


def write_bundle(
    directory: Path,
    model: onnx.ModelProto | bytes | None = None,
    *,
    serving: dict[str, Any] | None = None,
    reference: pd.DataFrame | None = None,
    schema: str | None = None,
    target: str | None = "label",
    manifest: dict[str, Any] | None = None,
    n_features: int = 4,
) -> Path:
    """Write a bundle; defaults give a clean 4-feature binary classifier bundle. Returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    model = prob_model(n_features) if model is None else model
    (directory / "model.onnx").write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    reference = tabular_data(n_features=n_features) if reference is None else reference
    serving = serving_config(n_features) if serving is None else serving
    table: dict[str, Any] = {"model": {"path": "model.onnx", "name": "test-model", "version": "1.0.0"}}
    if serving is not False:
        (directory / "serving.yaml").write_text(yaml.safe_dump(serving, sort_keys=False))
        table["serving"] = {"config": "serving.yaml"}
    data: dict[str, Any] = {}
    if reference is not False:
        reference.to_csv(directory / "reference.csv", index=False)
        data["reference"] = "reference.csv"
        if target:
            data["target"] = target
    schema = schema_yaml(reference, target=target) if schema is None and reference is not False else schema
    if schema:
        (directory / "schema.yaml").write_text(schema)
        data["schema"] = "schema.yaml"
    if data:
        table["data"] = data
    for key, value in (manifest or {}).items():
        if isinstance(value, dict) and isinstance(table.get(key), dict):
            table[key].update(value)
        else:
            table[key] = value
    (directory / "readiness.toml").write_text(tomli_w.dumps(table))
    return directory


def sklearn_onnx(estimator: Any, n_features: int, *, zipmap: bool = False) -> onnx.ModelProto:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(estimator): {"zipmap": False}} if not zipmap and hasattr(estimator, "predict_proba") else None
    return convert_sklearn(
        estimator,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options=options,
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )


def with_nan_at_zero(model: onnx.ModelProto, column: int, input_name: str = "input") -> onnx.ModelProto:
    """A copy of `model` whose outputs are NaN exactly when feature `column` of its 2-D float input is 0.

    Prepends `input + 0 * log(|input[:, column]|)` in front of every consumer of the input.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    guarded = f"{input_name}__nan_at_zero"
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == input_name:
                node.input[i] = guarded

    def const(name: str, value: Any, dtype: Any) -> Any:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, dtype), name))

    prefix = [
        const("naz_s", [column], np.int64),
        const("naz_e", [column + 1], np.int64),
        const("naz_a", [1], np.int64),
        const("naz_zero", [0.0], np.float32),
        helper.make_node("Slice", [input_name, "naz_s", "naz_e", "naz_a"], ["naz_x"]),
        helper.make_node("Abs", ["naz_x"], ["naz_abs"]),
        helper.make_node("Log", ["naz_abs"], ["naz_log"]),
        helper.make_node("Mul", ["naz_log", "naz_zero"], ["naz_term"]),
        helper.make_node("Add", [input_name, "naz_term"], [guarded]),
    ]
    nodes = prefix + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def edit_manifest(bundle: Path, edit: Any) -> None:
    """Apply `edit(table)` to the bundle's readiness.toml as data (a table may already exist)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    toml = bundle / "readiness.toml"
    table = tomllib.loads(toml.read_text())
    edit(table)
    toml.write_text(tomli_w.dumps(table))


def set_thresholds(bundle: Path, **values: Any) -> None:
    """Merge `values` into the manifest's [policy.thresholds]."""
    edit_manifest(bundle, lambda t: t.setdefault("policy", {}).setdefault("thresholds", {}).update(values))
