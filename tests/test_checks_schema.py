"""SCH001-SCH005: each with a bundle that has the defect (fail) and one that does not (pass)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandera.pandas as pa
import pytest
from builders import (
    feature_names,
    make_model,
    prob_model,
    run_check,
    schema_yaml,
    serving_config,
    tabular_data,
    weights,
    write_bundle,
)
from onnx import TensorProto, helper, numpy_helper

from readiness import evaluate, load_bundle
from readiness.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent


def fixed_shape_model(shape: list) -> object:
    """prob_model, but with the input declared as `shape` (e.g. a static batch axis)."""
    model = prob_model()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, shape, strict=True):
        if isinstance(value, int):
            dim.dim_value = value
        else:
            dim.dim_param = value
    return model


# --------------------------------------------------------------------------- SCH001
def test_sch001_passes_a_matching_serving_config(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "SCH001")
    assert rec.status == "pass", rec.message
    assert rec.measured["graph_inputs"] == {"input": "float32 [?, 4]"}


def test_sch001_blocks_the_not_ready_example(tmp_path):
    spec = importlib.util.spec_from_file_location("not_ready_build", ROOT / "examples" / "not-ready" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path / "not-ready")
    ids = [s.id for s in default_registry() if not s.id.startswith("LAT")]
    card, _ = evaluate(tmp_path / "not-ready", select=ids)
    rec = {c.id: c for c in card.checks}
    assert (
        rec["SCH001"].status == "fail" and "serving dtype float64 but the model takes float32" in rec["SCH001"].message
    )
    assert not card.gate["released"] and "SCH001" in card.gate["blocking"]
    # one root cause: every check that could not score a row is folded under SCH001, not blocking on its own
    assert card.gate["blocking"] == ["SCH001"], card.gate["reasons"]
    folded = card.gate["causes"]["SCH001"]
    assert {"QLT001", "SCH004", "ROB002", "RPR001", "RPR003"} <= set(folded)
    assert all(rec[c].status == "error" for c in folded)  # they still count as not passed
    assert f"because of it {len(folded)} other check(s) could not run" in card.gate["reasons"][0]


@pytest.mark.parametrize(
    "serving, needle",
    [
        (serving_config(inputs=[{"name": "x", "dtype": "float32", "shape": [-1, 4], "features": feature_names(4)}]),
         "serving input 'x' is not a graph input"),
        (serving_config(inputs=[{"name": "input", "dtype": "float32", "shape": [-1], "features": ["f0"]}]),
         "has rank 1 but the model's is [?, 4] (rank 2)"),
        (serving_config(inputs=[{"name": "input", "dtype": "float32", "shape": [-1, -1], "features": feature_names(4)}]),
         "axis 1 is dynamic (-1) in the serving config but 4 in the model"),
        (serving_config(inputs=[{"name": "input", "dtype": "float32", "shape": [16, 4], "features": feature_names(4)}]),
         "serving shape fixes the batch axis at 16 but max_batch_size is 16"),
        (serving_config(inputs=[{"name": "input", "dtype": "float32", "shape": [-1, 4], "features": feature_names(3)}]),
         "3 features listed for a last axis of 4"),
        (serving_config(outputs=[{"name": "proba", "kind": "probabilities", "classes": [0, 1]}]),
         "serving output 'proba' is not a graph output"),
    ],
    ids=["name", "rank", "static-dim", "serving-batch", "feature-count", "output-name"],
)  # fmt: skip
def test_sch001_fails_each_kind_of_mismatch(tmp_path, serving, needle):
    rec = run_check(write_bundle(tmp_path / "b", serving=serving), "SCH001")
    assert rec.status == "fail"
    assert needle in rec.message


def test_sch001_fails_a_static_batch_axis_when_batching(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b", fixed_shape_model([1, 4])), "SCH001")
    assert rec.status == "fail" and "the model fixes the batch axis at 1 but max_batch_size is 16" in rec.message


def test_sch001_accepts_a_static_batch_axis_without_batching(tmp_path):
    bundle = write_bundle(tmp_path / "b", fixed_shape_model([1, 4]), serving=serving_config(max_batch_size=1))
    assert run_check(bundle, "SCH001").status == "pass"


def test_sch001_fails_an_unfed_graph_input(tmp_path):
    w, b = weights(4)
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "extra"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4]),
        helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["N", 1]),
    ]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
    ]
    inits = [
        numpy_helper.from_array(w.reshape(4, 1), "W"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
    ]
    rec = run_check(write_bundle(tmp_path / "b", make_model(nodes, inputs, outputs, inits)), "SCH001")
    assert rec.status == "fail" and "graph input 'extra' is not fed" in rec.message


# --------------------------------------------------------------------------- SCH002
def test_sch002_passes_float64_columns_feeding_a_float32_input(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "SCH002")
    assert rec.status == "pass", rec.message
    assert rec.measured["incompatible"] == [] and rec.measured["model_columns"] == 4


def test_sch002_fails_an_input_column_missing_from_the_schema(tmp_path):
    frame = tabular_data()
    schema = schema_yaml(frame.drop(columns=["f3"]))
    rec = run_check(write_bundle(tmp_path / "b", reference=frame, schema=schema), "SCH002")
    assert rec.status == "fail" and "model input column(s) not in the schema: f3" in rec.message


def test_sch002_fails_a_schema_feature_the_model_never_reads(tmp_path):
    frame = tabular_data().assign(zip_code=1.0)
    rec = run_check(write_bundle(tmp_path / "b", reference=frame), "SCH002")
    assert rec.status == "fail" and "schema column(s) the model never reads: zip_code" in rec.message
    # declared as a slice, the same column is metadata to group rows by, not a forgotten feature
    sliced = write_bundle(tmp_path / "c", reference=frame, manifest={"data": {"slices": ["zip_code"]}})
    rec = run_check(sliced, "SCH002")
    assert rec.status == "pass", rec.message


def test_sch002_fails_a_string_column_feeding_a_float_input(tmp_path):
    frame = tabular_data()
    frame["f2"] = np.where(frame["f2"] > 0, "high", "low")
    columns = {c: pa.Column(float, pa.Check.in_range(-3, 3)) for c in ("f0", "f1", "f3")}
    columns["f2"] = pa.Column(str, pa.Check.isin(["high", "low"]))
    schema = pa.DataFrameSchema(columns).to_yaml()
    rec = run_check(write_bundle(tmp_path / "b", reference=frame, schema=schema), "SCH002")
    assert rec.status == "fail" and "incompatible dtype(s): f2" in rec.message and "-> float32" in rec.message


# --------------------------------------------------------------------------- SCH003
def test_sch003_passes_valid_reference_data(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "SCH003")
    assert rec.status == "pass", rec.message
    assert rec.measured["rows"] == 200


def test_sch003_drops_a_target_the_schema_does_not_describe(tmp_path):
    frame = tabular_data()
    schema = schema_yaml(frame.drop(columns=["label"]), target=None)  # strict, features only
    rec = run_check(write_bundle(tmp_path / "b", reference=frame, schema=schema), "SCH003")
    assert rec.status == "pass", rec.message


def test_sch003_reports_every_failure_compactly(tmp_path):
    frame = tabular_data()
    frame.loc[[3, 7, 11], "f0"] = 9.5  # outside [-3, 3]
    frame.loc[5, "f1"] = -40.0
    frame.loc[8, "f2"] = np.nan  # not nullable
    rec = run_check(write_bundle(tmp_path / "b", reference=frame, schema=schema_yaml(tabular_data())), "SCH003")
    assert rec.status == "fail"
    assert rec.measured["failures"] == 5 and rec.measured["failing_rows"] == 5 and rec.measured["groups"] == 3
    assert rec.message.startswith("5 failure(s) in 5 of 200 row(s)")
    assert "column 'f0' in_range(-3.0, 3.0): 3x (e.g. 9.5)" in rec.message
    groups = {(g["column"], g["check"]): g for g in rec.evidence["failures"]}
    assert groups[("f0", "in_range(-3.0, 3.0)")]["rows"] == [3, 7, 11]
    assert ("f2", "not_nullable") in groups


# --------------------------------------------------------------------------- SCH004
def test_sch004_passes_well_formed_outputs(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "SCH004")
    assert rec.status == "pass", rec.message
    assert rec.measured["outputs"]["probabilities"]["max_sum_error"] < 1e-6


def test_sch004_uses_synthetic_rows_without_reference_data(tmp_path):
    bundle = write_bundle(tmp_path / "b", reference=False, schema=schema_yaml(tabular_data()), target=None)
    rec = run_check(bundle, "SCH004")
    assert rec.status == "pass" and rec.measured["rows_from"] == "synthetic"


def test_sch004_fails_probabilities_that_do_not_sum_to_one(tmp_path):
    model = prob_model()
    for node in model.graph.node:
        if node.op_type == "Concat":
            node.input[:] = ["p1", "p1"]
    rec = run_check(write_bundle(tmp_path / "b", model), "SCH004")
    assert rec.status == "fail" and "do not sum to 1" in rec.message


def test_sch004_fails_nan_probabilities(tmp_path):
    nan = numpy_helper.from_array(np.array([np.nan], dtype=np.float32))
    extra = [
        helper.make_node("Constant", [], ["nan"], value=nan),
        helper.make_node("Mul", ["logit", "nan"], ["logit_out"]),
    ]
    rec = run_check(write_bundle(tmp_path / "b", prob_model(extra_nodes=extra)), "SCH004")
    assert rec.status == "fail" and "200 row(s) with NaN/inf probabilities" in rec.message


def test_sch004_fails_labels_outside_the_declared_classes(tmp_path):
    serving = serving_config(
        outputs=[
            {"name": "label", "kind": "label", "classes": [1, 2]},
            {"name": "probabilities", "kind": "probabilities", "classes": [1, 2]},
        ]
    )
    rec = run_check(write_bundle(tmp_path / "b", serving=serving), "SCH004")
    assert rec.status == "fail" and "outside classes [1, 2]: 0" in rec.message


# --------------------------------------------------------------------------- SCH005
def _with_schema(tmp_path: Path, schema: pa.DataFrameSchema):
    """A loaded bundle whose schema object is `schema` (as a `module:attr` schema would be)."""
    bundle = load_bundle(write_bundle(tmp_path / "b"))
    bundle.schema = schema
    return bundle


def test_sch005_passes_a_bounded_enumerated_schema(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "SCH005")
    assert rec.status == "pass", rec.message
    assert rec.measured["columns"] == 4 and rec.measured["nullable"] == []


def test_sch005_fails_unbounded_numeric_columns(tmp_path):
    schema = schema_yaml(tabular_data(), bounds=None)
    rec = run_check(write_bundle(tmp_path / "b", schema=schema), "SCH005")
    assert rec.status == "fail" and "4 numeric column(s) not bounded" in rec.message
    assert "f0 (no lower and upper bound)" in rec.measured["unbounded"]


def test_sch005_fails_a_half_bounded_column_and_an_open_category(tmp_path):
    schema = pa.DataFrameSchema(
        {
            "f0": pa.Column(float, pa.Check.ge(0)),
            "f1": pa.Column(float, [pa.Check.ge(0), pa.Check.le(1)]),
            "colour": pa.Column(str, nullable=True),
            "size": pa.Column(str, pa.Check.isin(["S", "M", "L"])),
        }
    )
    rec = run_check(_with_schema(tmp_path, schema), "SCH005")
    assert rec.status == "fail"
    assert rec.measured["unbounded"] == ["f0 (no upper bound)"]
    assert rec.measured["not_enumerated"] == ["colour"] and rec.measured["nullable"] == ["colour"]


def test_sch005_flags_custom_checks_pandera_cannot_serialise(tmp_path):
    def positive(series):
        return series > 0

    columns = {c: pa.Column(float, pa.Check.in_range(-3, 3)) for c in feature_names(4)}
    columns["f0"] = pa.Column(float, [pa.Check.in_range(-3, 3), pa.Check(positive)])
    rec = run_check(_with_schema(tmp_path, pa.DataFrameSchema(columns)), "SCH005")
    assert rec.status == "fail" and "not registered with pandera" in rec.message
    assert rec.measured["unregistered_checks"] == ["f0: positive"]


def test_sch003_casts_integer_looking_csv_columns_the_schema_declares_float(tmp_path):
    frame = tabular_data()
    frame["f1"] = frame["f1"].round()  # written as "2.0" -> read back as int64
    bundle = write_bundle(tmp_path / "b", reference=frame, schema=schema_yaml(tabular_data()))
    (bundle / "reference.csv").write_text(frame.assign(f1=frame["f1"].astype(int)).to_csv(index=False))
    rec = run_check(bundle, "SCH003")
    assert rec.status == "pass", rec.message
    assert rec.measured["cast_to_float"] == ["f1"]


def test_sch003_still_fails_a_string_column_declared_float(tmp_path):
    frame = tabular_data()
    frame["f1"] = "n/a"
    rec = run_check(write_bundle(tmp_path / "b", reference=frame, schema=schema_yaml(tabular_data())), "SCH003")
    assert rec.status == "fail" and "column 'f1'" in rec.message


# --------------------------------------------------------------------------- real exported models
def test_sch001_and_sch004_pass_a_zipmap_classifier_exported_by_skl2onnx(tmp_path):
    from builders import sklearn_onnx
    from sklearn.linear_model import LogisticRegression

    frame = tabular_data()
    clf = LogisticRegression().fit(frame[feature_names(4)].to_numpy(np.float32), frame["label"])
    model = sklearn_onnx(clf, 4, zipmap=True)
    serving = serving_config(
        outputs=[
            {"name": "output_label", "kind": "label", "classes": [0, 1]},
            {"name": "output_probability", "kind": "probabilities", "classes": [0, 1]},
        ]
    )
    card, _ = evaluate(write_bundle(tmp_path / "b", model, serving=serving), select=["SCH001", "SCH004"])
    statuses = {c.id: (c.status, c.message) for c in card.checks}
    assert statuses["SCH001"][0] == "pass", statuses
    assert statuses["SCH004"][0] == "pass", statuses


def test_sch004_passes_a_multiclass_forest_and_fails_undeclared_classes(tmp_path):
    from builders import sklearn_onnx
    from sklearn.ensemble import RandomForestClassifier

    frame = tabular_data()
    frame["label"] = np.digitize(frame["f0"], [-1.0, 1.0])  # classes 0, 1, 2
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)
    forest.fit(frame[feature_names(4)].to_numpy(np.float32), frame["label"])
    model = sklearn_onnx(forest, 4)

    def outputs(classes):
        return [
            {"name": "label", "kind": "label", "classes": classes},
            {"name": "probabilities", "kind": "probabilities", "classes": classes},
        ]

    good = write_bundle(tmp_path / "good", model, reference=frame, serving=serving_config(outputs=outputs([0, 1, 2])))
    assert run_check(good, "SCH004").status == "pass"
    bad = write_bundle(tmp_path / "bad", model, reference=frame, serving=serving_config(outputs=outputs([0, 1])))
    rec = run_check(bad, "SCH004")
    assert rec.status == "fail"
    assert "3 probability columns for 2 classes" in rec.message and "outside classes [0, 1]: 2" in rec.message


def test_sch003_names_missing_and_unexpected_columns(tmp_path):
    frame = tabular_data()
    schema = schema_yaml(frame.rename(columns={"f3": "f9"}))
    rec = run_check(write_bundle(tmp_path / "b", reference=frame, schema=schema), "SCH003")
    assert rec.status == "fail"
    assert "column_in_dataframe: 'f9'" in rec.message and "column_in_schema: 'f3'" in rec.message
    assert "row(s)" not in rec.message  # table-level failures name no rows


# --------------------------------------------------------------------------- SCH001: static output dims
def _declare_output_dim(model, output: str, axis: int, value: int):
    (vi,) = [o for o in model.graph.output if o.name == output]
    vi.type.tensor_type.shape.dim[axis].dim_value = value
    return model


def test_sch001_flags_a_declared_static_output_dim_the_model_contradicts_as_minor(tmp_path):
    """A converter declaring `label` as [1] while returning [N] (LightGBM via onnxmltools) contradicts its graph;
    serving.yaml does not rely on output shapes, so the finding is minor and does not block."""
    model = _declare_output_dim(prob_model(4), "label", 0, 1)
    card, _ = evaluate(write_bundle(tmp_path / "b", model), select=["SCH001"])
    rec = card.check("SCH001")
    assert rec.status == "fail" and rec.severity == "minor", rec.message
    assert "output 'label' axis 0 is declared 1 but is 8 for 8 row(s)" in rec.message
    assert "minor: the serving config does not rely on the declared dims" in rec.message
    assert rec.evidence["returned_output_shapes"]["label"] == [8]
    assert card.gate["released"]  # minor < fail_on major
    clean, _ = evaluate(write_bundle(tmp_path / "c"), select=["SCH001"])
    assert clean.check("SCH001").status == "pass" and clean.check("SCH001").measured["output_dims_contradicted"] == 0


def test_sch001_keeps_its_severity_when_a_triton_config_states_the_contradicted_dim(tmp_path):
    from test_formats_triton import MATCHING, triton_bundle

    model = _declare_output_dim(prob_model(4), "probabilities", 1, 3)  # declared [N, 3], returns [N, 2]
    config = MATCHING.replace(
        'name: "probabilities"\n    data_type: TYPE_FP32\n    dims: [ 2 ]',
        'name: "probabilities"\n    data_type: TYPE_FP32\n    dims: [ 3 ]',
    )
    assert config != MATCHING
    card, _ = evaluate(triton_bundle(tmp_path / "b", config, model), select=["SCH001"])
    rec = card.check("SCH001")
    assert rec.status == "fail" and rec.severity == "blocker", rec.message
    assert "output 'probabilities' axis 1 is declared 3 but is 2" in rec.message
    assert "the serving config states these dims" in rec.message
    assert not card.gate["released"]
