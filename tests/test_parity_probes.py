"""RPR003's probe families: for each, a model whose export breaks on it (fail, naming the family), and clean ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pandera.pandas as pa
import pytest
import skops.io as sio
from builders import serving_config, sklearn_onnx, tabular_data, write_bundle
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from readiness import evaluate

FEATURES = ["f0", "f1", "f2", "f3"]


def run_rpr003(bundle: Path):
    card, _ = evaluate(bundle, select=["RPR003"])
    return card.check("RPR003")


def parity_bundle(
    directory: Path, source, onnx_model: onnx.ModelProto, data: pd.DataFrame, *, schema: str | None = None
) -> Path:
    write_bundle(
        directory,
        onnx_model,
        reference=data,
        schema=schema,
        serving=serving_config(4),
        manifest={"model": {"source": "model.skops", "task": "binary_classification"}},
    )
    sio.dump(source, directory / "model.skops")
    return directory


def schema_for(data: pd.DataFrame, *, nullable: tuple[str, ...] = (), bounds: dict[str, tuple] | None = None) -> str:
    cols = {}
    for col in FEATURES:
        lo, hi = (bounds or {}).get(col, (-3.0, 3.0))
        checks = [] if lo is None else [pa.Check.in_range(lo, hi)]
        cols[col] = pa.Column(float, checks, nullable=col in nullable)
    cols["label"] = pa.Column(int, pa.Check.isin([0, 1]), required=False)
    return pa.DataFrameSchema(cols, strict=True).to_yaml()


def family(result, name: str) -> dict:
    return next(e for e in result.evidence["probe_families"] if e["family"] == name)


# --------------------------------------------------------------------------- missing values
def test_missing_values_routed_differently_by_the_export_fail_naming_the_family(tmp_path):
    # scikit-learn trees learn where a missing value goes (here: left, with the negatives);
    # skl2onnx 1.20 drops that direction, so NaN takes the other branch in ONNX.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    X_train = X.copy()
    X_train[rng.random(400) < 0.2, 0] = np.nan
    y[np.isnan(X_train[:, 0])] = 0
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_train, y)
    assert tree.tree_.missing_go_to_left[0]
    data = pd.DataFrame(np.clip(X, -3, 3).round(4), columns=FEATURES)  # no NaN in the reference rows
    data["label"] = tree.predict(data[FEATURES].to_numpy(dtype=np.float32))
    bundle = parity_bundle(tmp_path / "b", tree, sklearn_onnx(tree, 4), data, schema=schema_for(data, nullable=("f0",)))
    result = run_rpr003(bundle)
    assert result.status == "fail", result.message
    assert "missing values" in result.message and "reference rows" not in result.message
    first = family(result, "missing values")["first_differing"]
    assert first["column"] == "f0" and "onnxruntime" in first["reproduce"]


# --------------------------------------------------------------------------- split thresholds
def _forest_and_data():
    from sklearn.ensemble import RandomForestClassifier

    data = tabular_data(300)
    forest = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0)
    forest.fit(data[FEATURES].to_numpy(dtype=np.float32), data["label"])
    return forest, data


def test_split_thresholds_exported_with_the_wrong_comparison_fail_naming_the_family(tmp_path):
    forest, data = _forest_and_data()
    model = sklearn_onnx(forest, 4)
    for node in model.graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            for attr in node.attribute:
                if attr.name == "nodes_modes":
                    attr.strings[:] = [b"BRANCH_LT" if m == b"BRANCH_LEQ" else m for m in attr.strings]
    result = run_rpr003(parity_bundle(tmp_path / "b", forest, model, data, schema=schema_for(data)))
    assert result.status == "fail", result.message
    assert "split thresholds" in result.message
    assert family(result, "split thresholds")["rows_differing"] > 0


def test_a_clean_forest_passes_every_family_including_thresholds(tmp_path):
    forest, data = _forest_and_data()
    result = run_rpr003(parity_bundle(tmp_path / "b", forest, sklearn_onnx(forest, 4), data, schema=schema_for(data)))
    assert result.status == "pass", result.message
    thresholds = family(result, "split thresholds")
    assert thresholds["compared"] and thresholds["rows"] > 0 and thresholds["rows_differing"] == 0


# --------------------------------------------------------------------------- schema edges and extreme magnitudes
def _logistic_and_data():
    data = tabular_data(200)
    clf = LogisticRegression(max_iter=500).fit(data[FEATURES].to_numpy(), data["label"])
    return clf, data


def _clip_input(model: onnx.ModelProto, low: float, high: float) -> onnx.ModelProto:
    """The export clips every input to [low, high] first: invisible on typical rows, wrong at the edges."""
    graph = model.graph
    name = graph.input[0].name
    lo = onnx.helper.make_tensor("clip_lo", onnx.TensorProto.FLOAT, [], [low])
    hi = onnx.helper.make_tensor("clip_hi", onnx.TensorProto.FLOAT, [], [high])
    graph.initializer.extend([lo, hi])
    for node in graph.node:
        for i, inp in enumerate(node.input):
            if inp == name:
                node.input[i] = "clipped"
    graph.node.insert(0, onnx.helper.make_node("Clip", [name, "clip_lo", "clip_hi"], ["clipped"]))
    return model


def test_schema_edges_the_export_mishandles_fail_naming_the_family(tmp_path):
    clf, data = _logistic_and_data()
    schema = schema_for(data, bounds={c: (-50.0, 50.0) for c in FEATURES})  # the data spans [-3, 3]
    bundle = parity_bundle(tmp_path / "b", clf, _clip_input(sklearn_onnx(clf, 4), -4.0, 4.0), data, schema=schema)
    result = run_rpr003(bundle)
    assert result.status == "fail" and "schema edges" in result.message, result.message
    assert "reference rows" not in result.message


def test_extreme_magnitudes_that_overflow_float32_fail_naming_the_family(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    data = tabular_data(200)
    pipe = make_pipeline(PolynomialFeatures(2), LogisticRegression(max_iter=2000))
    pipe.fit(data[FEATURES].to_numpy(), data["label"])
    schema = schema_for(data, bounds={c: (None, None) for c in FEATURES})  # unbounded columns
    result = run_rpr003(parity_bundle(tmp_path / "b", pipe, sklearn_onnx(pipe, 4), data, schema=schema))
    assert result.status == "fail" and "extreme magnitudes" in result.message, result.message
    assert family(result, "extreme magnitudes")["rows_differing"] > 0


def test_a_clean_linear_model_passes_and_reports_each_family(tmp_path):
    clf, data = _logistic_and_data()
    result = run_rpr003(parity_bundle(tmp_path / "b", clf, sklearn_onnx(clf, 4), data, schema=schema_for(data)))
    assert result.status == "pass", result.message
    names = [e["family"] for e in result.evidence["probe_families"]]
    assert names == ["schema edges", "missing values", "split thresholds", "unseen categories", "extreme magnitudes"]
    assert family(result, "schema edges")["compared"] and family(result, "schema edges")["rows_differing"] == 0
    assert not family(result, "split thresholds")["compared"]  # no trees: said so, not silently passed
    assert "no tree ensemble" in family(result, "split thresholds")["note"]


# --------------------------------------------------------------------------- unseen categories
@pytest.mark.parametrize("defect", [True, False])
def test_unseen_categories_the_export_refuses_fail_naming_the_family(tmp_path, defect):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier as Tree

    rng = np.random.default_rng(0)
    data = pd.DataFrame({"x": rng.normal(size=300).round(3), "colour": rng.choice(["red", "green", "blue"], 300)})
    data["label"] = ((data["x"] > 0) ^ (data["colour"] == "red")).astype(int)
    # scikit-learn sends an unseen colour to the 'infrequent' bucket; skl2onnx 1.20 exports an encoder
    # that refuses unknown categories (zeros=0), so the served model errors where the trained one scores
    encoder = (
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.2)
        if defect
        else OneHotEncoder(handle_unknown="ignore")  # all zeros for an unseen colour, in both
    )
    pipe = Pipeline(
        [
            ("prep", ColumnTransformer([("num", "passthrough", ["x"]), ("cat", encoder, ["colour"])])),
            ("clf", Tree(max_depth=4, random_state=0)),
        ]
    ).fit(data[["x", "colour"]], data["label"])
    model = convert_sklearn(
        pipe,
        initial_types=[("x", FloatTensorType([None, 1])), ("colour", StringTensorType([None, 1]))],
        options={id(pipe.steps[-1][1]): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    serving = {
        "inputs": [
            {"name": "x", "dtype": "float32", "shape": [-1, 1]},
            {"name": "colour", "dtype": "string", "shape": [-1, 1]},
        ],
        "outputs": [
            {"name": "label", "kind": "label", "classes": [0, 1]},
            {"name": "probabilities", "kind": "probabilities", "classes": [0, 1]},
        ],
    }
    schema = pa.DataFrameSchema(
        {
            "x": pa.Column(float, pa.Check.in_range(-5.0, 5.0)),
            "colour": pa.Column(str),  # not enumerated: any colour may arrive
            "label": pa.Column(int, required=False),
        }
    ).to_yaml()
    bundle = tmp_path / "b"
    write_bundle(
        bundle, model, reference=data, schema=schema, serving=serving,
        manifest={"model": {"source": "model.skops", "task": "binary_classification"}},
    )  # fmt: skip
    sio.dump(pipe, bundle / "model.skops")
    result = run_rpr003(bundle)
    assert "probe_families" in result.evidence, (result.status, result.message)
    unseen = family(result, "unseen categories")
    if not unseen.get("compared"):
        pytest.fail(f"unseen categories not compared: {unseen}")
    if defect:
        assert result.status == "fail" and "unseen categories" in result.message, result.message
        assert unseen["first_differing"]["column"] == "colour"
    else:
        assert result.status == "pass" and unseen["rows_differing"] == 0, result.message


# --------------------------------------------------------------------------- RPR007
def _bn_fusion_model() -> onnx.ModelProto:
    """Conv + BatchNormalization with a tiny variance: fusing them (onnxruntime's basic level) turns a small
    difference of large numbers into a large one, so optimised and unoptimised outputs differ by ~3%."""
    from onnx import TensorProto, helper
    from onnx import numpy_helper as nh

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("value", TensorProto.FLOAT, [None, 1])
    inits = [
        nh.from_array(np.array([-1, 4, 1, 1], dtype=np.int64), "s4"),
        nh.from_array(np.array([-1, 1], dtype=np.int64), "s2"),
        nh.from_array(np.ones((1, 4, 1, 1), dtype=np.float32), "W"),
        nh.from_array(np.zeros(1, dtype=np.float32), "B"),
        nh.from_array(np.array([1e4], dtype=np.float32), "gamma"),
        nh.from_array(np.zeros(1, dtype=np.float32), "beta"),
        nh.from_array(np.array([1000.0], dtype=np.float32), "mean"),
        nh.from_array(np.array([1e-6], dtype=np.float32), "var"),
    ]
    nodes = [
        helper.make_node("Reshape", ["input", "s4"], ["x4"]),
        helper.make_node("Conv", ["x4", "W", "B"], ["c"]),
        helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"], epsilon=0.0),
        helper.make_node("Reshape", ["bn", "s2"], ["value"]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    return model


@pytest.mark.parametrize("level", ["all", "disable"])
def test_rpr007_fails_outputs_that_change_under_graph_optimisation(tmp_path, level):
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.uniform(249.0, 251.0, size=(100, 4)).astype(np.float32), columns=FEATURES)
    data["label"] = (data[FEATURES].sum(axis=1) - 1000.0) * 1e7
    serving = serving_config(4, outputs=[{"name": "value", "kind": "regression"}])
    serving["runtime"]["graph_optimization_level"] = level
    bundle = write_bundle(
        tmp_path / level, _bn_fusion_model(), reference=data, serving=serving, schema=False,
        manifest={"model": {"task": "regression"}},
    )  # fmt: skip
    card, _ = evaluate(bundle, select=["RPR007"])
    result = card.check("RPR007")
    if level == "all":
        assert result.status == "fail" and "graph_optimization_level 'all'" in result.message, result.message
        assert result.measured["rows_differing"] > 0
    else:
        assert result.status == "pass" and "nothing to compare" in result.message


def test_rpr007_passes_the_example(example_bundle):
    card, _ = evaluate(example_bundle, select=["RPR007", "RPR002"])
    assert card.check("RPR007").status == "pass", card.check("RPR007").message
    assert card.check("RPR002").status == "pass", card.check("RPR002").message
    sizes = set(card.check("RPR002").measured["configurations"])
    assert {"batch_size=1", "batch_size=2", "batch_size=7"} <= sizes


def test_a_clean_lightgbm_export_passes_the_split_threshold_family(tmp_path):
    lgb = pytest.importorskip("lightgbm")
    onnxmltools = pytest.importorskip("onnxmltools")
    from onnxmltools.convert.common.data_types import FloatTensorType

    data = tabular_data(300)
    clf = lgb.LGBMClassifier(n_estimators=20, num_leaves=8, random_state=0, verbose=-1)
    clf.fit(data[FEATURES].to_numpy(dtype=np.float32), data["label"])
    model = onnxmltools.convert_lightgbm(
        clf, initial_types=[("input", FloatTensorType([None, 4]))], zipmap=False, target_opset=15
    )
    bundle = write_bundle(
        tmp_path / "lgb", model, reference=data, schema=schema_for(data), serving=serving_config(4),
        manifest={"model": {"source": "model.txt", "task": "binary_classification"}},
    )  # fmt: skip
    clf.booster_.save_model(str(bundle / "model.txt"))
    result = run_rpr003(bundle)
    thresholds = family(result, "split thresholds")
    assert thresholds["compared"] and thresholds["rows"] > 0, thresholds
    assert result.status == "pass", result.message
