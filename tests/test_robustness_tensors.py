"""ROB001-ROB004 in model-only runs of models fed tensors (rank >= 3, no batch axis) or strings, not tables."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from readiness import evaluate

IMAGE = ["N", 3, 4, 4]


def _model(inputs: list, outputs: list, nodes: list, *, ml: bool = False) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    opsets = [helper.make_opsetid("", 18)] + ([helper.make_opsetid("ai.onnx.ml", 2)] if ml else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8  # onnxruntime-loadable
    onnx.checker.check_model(model)
    return model


def _axes() -> onnx.NodeProto:
    return helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(np.array([1, 2, 3]), "axes"))


def log_image_model() -> onnx.ModelProto:
    """An image-like model: mean of log|x| over each image, -inf as soon as one element is 0."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, IMAGE)
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    nodes = [
        helper.make_node("Abs", ["image"], ["a"]),
        helper.make_node("Log", ["a"], ["l"]),
        _axes(),
        helper.make_node("ReduceMean", ["l", "axes"], ["score"], keepdims=0),
    ]
    return _model([x], [y], nodes)


def relu_image_model() -> onnx.ModelProto:
    """The same shape of model without the defect: mean of relu(x)."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, IMAGE)
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    nodes = [
        helper.make_node("Relu", ["image"], ["r"]),
        _axes(),
        helper.make_node("ReduceMean", ["r", "axes"], ["score"], keepdims=0),
    ]
    return _model([x], [y], nodes)


def reciprocal_unbatched_model() -> onnx.ModelProto:
    """A [3, 4] input without a batch axis, element-wise 1/x: infinite where an element is 0."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])
    return _model([x], [y], [helper.make_node("Reciprocal", ["x"], ["y"])])


def string_model(shape: list) -> onnx.ModelProto:
    """Strings looked up in a table (unknown strings score 0): copes with any string."""
    x = helper.make_tensor_value_info("text", TensorProto.STRING, shape)
    y = helper.make_tensor_value_info("value", TensorProto.FLOAT, shape)
    node = helper.make_node(
        "LabelEncoder",
        ["text"],
        ["value"],
        domain="ai.onnx.ml",
        keys_strings=["value_0", "value_1"],
        values_floats=[1.0, 2.0],
        default_float=0.0,
    )
    return _model([x], [y], [node], ml=True)


def run_model(tmp_path: Path, model: onnx.ModelProto, select: list[str], max_seconds: float = 1.0):
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    from readiness.bundle import load_bundle

    bundle = load_bundle(path)
    bundle.manifest.policy.thresholds["fuzz_max_seconds"] = max_seconds
    scorecard, _ = evaluate(bundle, select=select, seed=0)
    return {cid: scorecard.check(cid) for cid in select}


def run_reproduce(cmd: str) -> str:
    assert cmd.count("\n") == 0
    cd, _, python = cmd.partition(" && ")
    args = shlex.split(python)
    assert args[0] == "python"
    out = subprocess.run([sys.executable, *args[1:]], cwd=shlex.split(cd)[1], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_rob001_fails_an_image_model_that_blows_up_at_zero_with_a_compact_counterexample(tmp_path: Path):
    rec = run_model(tmp_path, log_image_model(), ["ROB001"])["ROB001"]
    assert rec.status == "fail", rec.message
    assert "every element of image = 0.0" in rec.message and "not finite" in rec.message
    ce = rec.evidence["counterexample"]
    assert ce["phase"] == "edge" and ce["column"] == "image" and ce["where"] == "every element"
    # summarised, not spelled out: shape, dtype and the edge value
    assert ce["row"]["image"] == {"shape": [3, 4, 4], "dtype": "float32", "every_element": 0.0}
    assert ce["output"] == {"score": "-Infinity"}  # the scorecard's one spelling of non-finite numbers
    # 0 in one element of an otherwise typical image breaks it too; the tiny values do not
    failing = {(f["where"], f["value"]) for f in rec.evidence["edge_failures"]}
    assert ("element 0", 0.0) in failing
    assert not any(abs(v) == np.finfo(np.float32).tiny for _, v in failing)
    assert len(rec.evidence["reproduce"]) < 400
    assert "-inf" in run_reproduce(rec.evidence["reproduce"])
    assert rec.evidence["rerun"] == f"readiness check {tmp_path / 'model.onnx'} --select ROB001 --seed 0"


def test_rob001_passes_a_clean_image_model_after_a_seeded_random_search(tmp_path: Path):
    recs = run_model(tmp_path, relu_image_model(), ["ROB001", "ROB002", "ROB003", "ROB004"])
    rec = recs["ROB001"]
    assert rec.status == "pass", rec.message
    assert rec.evidence["generator"] == "random tensors"
    assert rec.measured["edge_cases"] == 1 + 10  # the typical row; 5 edge values of float32, whole and one element
    assert rec.measured["search_examples"] > 0
    # nothing tabular to perturb: ROB002-ROB004 skip with a reason rather than crash
    for cid in ("ROB002", "ROB003", "ROB004"):
        assert recs[cid].status == "skip", (cid, recs[cid].message)
        assert recs[cid].message
    assert "no numeric scalar feature" in recs["ROB002"].message


def test_rob001_same_seed_same_search_on_tensors(tmp_path: Path):
    first = run_model(tmp_path, relu_image_model(), ["ROB001"], max_seconds=60.0)["ROB001"]
    again = run_model(tmp_path, relu_image_model(), ["ROB001"], max_seconds=60.0)["ROB001"]
    assert first.measured == again.measured and first.measured["search_examples"] == 200


def test_rob001_input_without_a_batch_axis_is_fed_one_request_at_a_time(tmp_path: Path):
    rec = run_model(tmp_path, reciprocal_unbatched_model(), ["ROB001"])["ROB001"]
    assert rec.status == "fail", rec.message
    ce = rec.evidence["counterexample"]
    assert ce["row"]["x"]["shape"] == [3, 4] and ce["value"] == 0.0
    assert ce["output"] == {"y": [["Infinity"] * 4] * 3}  # the whole output of the one request, not its first row
    assert "inf" in run_reproduce(rec.evidence["reproduce"])


def test_rob001_string_inputs_get_string_edge_cases_without_crashing(tmp_path: Path):
    for shape in (["N"], ["N", 2, 2]):
        rec = run_model(tmp_path, string_model(shape), ["ROB001"])["ROB001"]
        assert rec.status == "pass", (shape, rec.message)
        assert rec.measured["edge_cases"] >= 3  # empty, long, non-ASCII


def _const(name: str, values, dtype=np.int64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, dtype=dtype), name))


def corner_image_model() -> onnx.ModelProto:
    """NaN when element 0 of an image is above 2 and element 1 below -2 at once: no constant fill and no
    single changed element reaches it, random images do."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, IMAGE)
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])
    nodes = [
        _const("flat", [0, 48]),
        helper.make_node("Reshape", ["image", "flat"], ["f"]),
        _const("s0", [0]),
        _const("s1", [1]),
        _const("s2", [2]),
        _const("ax", [1]),
        helper.make_node("Slice", ["f", "s0", "s1", "ax"], ["e0"]),
        helper.make_node("Slice", ["f", "s1", "s2", "ax"], ["e1"]),
        _const("two", [2.0], np.float32),
        _const("minus2", [-2.0], np.float32),
        _const("nan", [np.nan], np.float32),
        _const("zero", [0.0], np.float32),
        helper.make_node("Greater", ["e0", "two"], ["c0"]),
        helper.make_node("Less", ["e1", "minus2"], ["c1"]),
        helper.make_node("And", ["c0", "c1"], ["c"]),
        helper.make_node("Where", ["c", "nan", "zero"], ["term"]),
        helper.make_node("ReduceMean", ["f", "ax"], ["mean"], keepdims=1),
        helper.make_node("Add", ["mean", "term"], ["score"]),
    ]
    return _model([x], [y], nodes)


def test_rob001_random_tensor_search_finds_what_edge_cases_miss_with_a_reproducing_recipe(tmp_path: Path):
    rec = run_model(tmp_path, corner_image_model(), ["ROB001"], max_seconds=60.0)["ROB001"]
    assert rec.status == "fail", rec.message
    assert rec.measured["edge_failures"] == 0 and rec.evidence["generator"] == "random tensors"
    ce = rec.evidence["counterexample"]
    assert ce["phase"] == "search" and "not finite" in ce["problem"]
    image = ce["row"]["image"]
    assert set(image) == {"shape", "dtype", "random", "min", "max"} and image["shape"] == [3, 4, 4]
    assert image["max"] > 2 and image["min"] < -2
    assert "nan" in run_reproduce(rec.evidence["reproduce"])
    again = run_model(tmp_path, corner_image_model(), ["ROB001"], max_seconds=60.0)["ROB001"]
    assert again.evidence["counterexample"] == ce


def string_is_nan_model(shape: list, key: str = "") -> onnx.ModelProto:
    """Strings looked up in a table that maps `key` to NaN."""
    x = helper.make_tensor_value_info("text", TensorProto.STRING, shape)
    y = helper.make_tensor_value_info("value", TensorProto.FLOAT, shape)
    node = helper.make_node(
        "LabelEncoder",
        ["text"],
        ["value"],
        domain="ai.onnx.ml",
        keys_strings=[key, "value_0"],
        values_floats=[float("nan"), 1.0],
        default_float=0.0,
    )
    return _model([x], [y], [node], ml=True)


def test_rob001_empty_string_is_an_edge_case_of_string_inputs(tmp_path: Path):
    for shape in (["N"], ["N", 2, 2]):
        rec = run_model(tmp_path, string_is_nan_model(shape), ["ROB001"])["ROB001"]
        assert rec.status == "fail", (shape, rec.message)
        ce = rec.evidence["counterexample"]
        assert ce["column"] == "text" and ce["value"] == "" and "not finite" in ce["problem"]
        assert "nan" in run_reproduce(rec.evidence["reproduce"])


def test_rob001_long_string_edge_case_is_shortened_in_the_message_and_evidence(tmp_path: Path):
    rec = run_model(tmp_path, string_is_nan_model(["N"], key="x" * 1000), ["ROB001"])["ROB001"]
    assert rec.status == "fail", rec.message
    assert "text = 'xxxxxxxxxx... (1000 chars)'" in rec.message and len(rec.message) < 300
    assert rec.evidence["counterexample"]["row"] == {"text": "xxxxxxxxxx... (1000 chars)"}
    assert "'x' * 1000" in rec.evidence["reproduce"] and len(rec.evidence["reproduce"]) < 400
    assert "nan" in run_reproduce(rec.evidence["reproduce"])


def test_rob001_scores_large_tensors_in_small_batches_with_the_same_verdict(tmp_path: Path, monkeypatch):
    from readiness.fuzz import domain

    whole = run_model(tmp_path, log_image_model(), ["ROB001"])["ROB001"]
    monkeypatch.setattr(domain, "MAX_BATCH_ELEMENTS", 48)  # one image per batch
    small = run_model(tmp_path, log_image_model(), ["ROB001"])["ROB001"]
    assert small.evidence["edge_failures"] == whole.evidence["edge_failures"]
    assert small.evidence["counterexample"] == whole.evidence["counterexample"]


def test_rob001_a_model_that_cannot_score_a_typical_tensor_is_told_so(tmp_path: Path):
    """log(x) of synthesised images (standard normal, so half the elements below 0): NaN before any edge value."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, IMAGE)
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, IMAGE)
    rec = run_model(tmp_path, _model([x], [y], [helper.make_node("Log", ["image"], ["out"])]), ["ROB001"])["ROB001"]
    assert rec.status == "fail", rec.message
    assert "with every input at its typical value" in rec.message
    ce = rec.evidence["counterexample"]
    assert ce["case"] == "every input typical" and "column" not in ce
    assert ce["output"]["out"]["non_finite"] > 0 and ce["output"]["out"]["shape"] == [3, 4, 4]
    assert "nan" in run_reproduce(rec.evidence["reproduce"])
