"""The output contract (SCH004), output kinds `logits` and `score` end to end, and NaN outputs in QLT checks.

Every defect is a model built here with onnx.helper or scikit-learn + skl2onnx: the model that has
it must fail, the one that does not must pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from builders import (
    edit_manifest,
    feature_names,
    make_model,
    prob_model,
    serving_config,
    set_thresholds,
    sklearn_onnx,
    tabular_data,
    with_nan_at_zero,
    write_bundle,
)
from onnx import TensorProto, helper, numpy_helper

from readiness import evaluate
from readiness import outputs as out
from readiness import runtime as rt
from readiness.config import OutputSpec

N_FEATURES = 4
N_CLASSES = 3
EXE = Path(sys.executable).parent / "readiness"


def run_checks(bundle: Path, *ids: str):
    card, _ = evaluate(bundle, seed=0, select=list(ids))
    return {c.id: c for c in card.checks}


# --------------------------------------------------------------------------- models
def _multiclass_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N_FEATURES, N_CLASSES)).astype(np.float32), rng.normal(size=N_CLASSES).astype(np.float32)


def logits_model(name: str = "logits", width: int = N_CLASSES) -> object:
    """A PyTorch-style linear head: input [N, 4] float32 -> MatMul + Add -> `name` [N, width] (raw logits)."""
    w, b = _multiclass_weights()
    w, b = w[:, :width], b[:width]
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], [name]),
    ]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", N_FEATURES])]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", width])]
    return make_model(nodes, inputs, outputs, inits, producer="pytorch")


def multiclass_data(n_rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """Rows the logits head classifies well: the label is the argmax of its logits plus a little noise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n_rows, N_FEATURES)).round(4)
    w, b = _multiclass_weights()
    logits = X @ w + b + rng.normal(scale=0.3, size=(n_rows, N_CLASSES))
    frame = pd.DataFrame(X, columns=feature_names(N_FEATURES))
    frame["label"] = np.argmax(logits, axis=1)
    return frame


def score_model() -> object:
    """A binary linear scorer: input [N, 4] -> `score` [N, 1], positive class when the score is > 0."""
    model = prob_model()
    nodes = [n for n in model.graph.node if n.op_type in ("MatMul", "Add")]
    nodes[-1].output[:] = ["score"]
    inputs = list(model.graph.input)
    outputs = [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])]
    return make_model(nodes, inputs, outputs, list(model.graph.initializer))


def _init(bundle: Path, frame: pd.DataFrame, model: object) -> subprocess.CompletedProcess[str]:
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "model.onnx").write_bytes(model.SerializeToString())
    frame.to_csv(bundle / "sample.csv", index=False)
    return subprocess.run(
        [str(EXE), "init", str(bundle / "model.onnx"), "--data", str(bundle / "sample.csv"), "--target", "label"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check(bundle: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    card = bundle / "card.json"
    proc = subprocess.run(
        [str(EXE), "check", str(bundle), "--json", str(card), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=900,
    )
    data = json.loads(card.read_text()) if card.exists() else {}
    return proc, data


# --------------------------------------------------------------------------- the contract module
def test_softmax_and_sigmoid_are_stable_and_agree():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    probs = out.softmax(logits)
    assert np.allclose(probs.sum(axis=1), 1) and probs[0, 0] == 1.0 and np.allclose(probs[1], 1 / 3)
    x = np.array([-800.0, -2.0, 0.0, 2.0, 800.0])
    assert np.allclose(out.sigmoid(x), out.softmax(np.stack([np.zeros_like(x), x], axis=1))[:, 1])


@pytest.mark.parametrize(
    ("kind", "shape", "classes", "ok"),
    [
        ("probabilities", (5, 2), 2, True),
        ("probabilities", (5,), 2, True),
        ("probabilities", (5, 1), 2, True),
        ("probabilities", (5, 2, 1, 1), 2, False),
        ("probabilities", (5, 3), 2, False),
        ("probabilities", (5, 1), 3, False),
        ("logits", (5, 3), 3, True),
        ("logits", (5, 3, 1), 3, False),
        ("score", (5, 1), None, True),
        ("label", (5,), 2, True),
        ("label", (5, 1), 2, True),
        ("label", (5, 2), 2, False),
        ("regression", (5, 1), None, True),
        ("regression", (5, 3), None, False),
    ],
)
def test_shape_contract(kind, shape, classes, ok):
    problem = out.shape_problem(kind, np.zeros(shape, dtype=np.float32), classes)
    assert (problem is None) == ok, problem


def test_interpret_derives_probabilities_and_labels_from_logits_and_labels_from_scores():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]], dtype=np.float32)
    pred = rt.interpret({"logits": logits}, [OutputSpec(name="logits", kind="logits", classes=["a", "b", "c"])])
    assert np.allclose(pred.probabilities, out.softmax(logits)) and list(pred.labels) == ["a", "b"]
    single = rt.interpret({"z": np.array([[-1.0], [2.0]])}, [OutputSpec(name="z", kind="logits", classes=[0, 1])])
    assert np.allclose(pred_col := single.probabilities[:, 1], out.sigmoid(np.array([-1.0, 2.0]))), pred_col
    assert list(single.labels) == [0, 1]
    score = rt.interpret({"s": np.array([[-0.5], [0.5]])}, [OutputSpec(name="s", kind="score", classes=[3, 7])])
    assert score.probabilities is None and list(score.labels) == [3, 7]


def test_model_class_labels_read_from_the_graph():
    from sklearn.linear_model import LogisticRegression

    frame = tabular_data()
    frame["label"] = np.digitize(frame["f0"], [-1.0, 1.0]) * 10  # classes 0, 10, 20
    clf = LogisticRegression(max_iter=500).fit(frame[feature_names(4)].to_numpy(np.float32), frame["label"])
    assert out.model_class_labels(sklearn_onnx(clf, 4)) == [0, 10, 20]
    assert out.model_class_labels(sklearn_onnx(clf, 4, zipmap=True)) == [0, 10, 20]
    assert out.model_class_labels(prob_model()) is None


def test_a_one_vs_rest_ensemble_passes_sch004_with_its_real_classes(tmp_path):
    """Its binary sub-classifiers each state [0, 1]: not the model's classes, so not compared."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    frame = tabular_data()
    frame["label"] = np.digitize(frame["f0"], [-1.0, 1.0])
    clf = OneVsRestClassifier(LogisticRegression(max_iter=500))
    clf.fit(frame[feature_names(4)].to_numpy(np.float32), frame["label"])
    outputs = [
        {"name": "label", "kind": "label", "classes": [0, 1, 2]},
        {"name": "probabilities", "kind": "probabilities", "classes": [0, 1, 2]},
    ]
    bundle = write_bundle(
        tmp_path / "b", sklearn_onnx(clf, 4), reference=frame, serving=serving_config(outputs=outputs)
    )
    rec = run_checks(bundle, "SCH004")["SCH004"]
    assert rec.status == "pass", rec.message


def test_propose_kind_reads_names_and_values():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(20, 3)) * 4
    assert out.propose_kind("logits", "regression", task="multiclass_classification")[0] == "logits"
    assert out.propose_kind("decision", "regression", task="binary_classification")[0] == "score"
    assert out.propose_kind("output", "regression", task="multiclass_classification", sample=raw)[0] == "logits"
    probs = out.softmax(raw)
    assert out.propose_kind("output", "regression", task="multiclass_classification", sample=probs)[0] == (
        "probabilities"
    )
    assert out.propose_kind("output", "regression", task="regression", sample=raw)[0] == "regression"


# --------------------------------------------------------------------------- SCH004: shapes, task, agreement, classes
def _reshaped_probabilities(shape: list[int]) -> object:
    """prob_model whose probabilities output is reshaped to `shape` (the label output stays [N])."""
    model = prob_model()
    for node in model.graph.node:
        if node.op_type == "Concat":
            node.output[:] = ["probs2d"]
        if node.op_type == "ArgMax":
            node.input[:] = ["probs2d"]
    model.graph.initializer.append(numpy_helper.from_array(np.array(shape, dtype=np.int64), "shape4"))
    model.graph.node.append(helper.make_node("Reshape", ["probs2d", "shape4"], ["probabilities"]))
    model.graph.output[1].CopyFrom(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, None))
    return model


def test_sch004_fails_probabilities_of_the_wrong_rank(tmp_path):
    bad = write_bundle(tmp_path / "bad", _reshaped_probabilities([-1, 2, 1, 1]))
    rec = run_checks(bad, "SCH004")["SCH004"]
    assert rec.status == "fail" and "[N, 2, 1, 1]" in rec.message, rec.message
    good = write_bundle(tmp_path / "good", _reshaped_probabilities([-1, 2]))
    assert run_checks(good, "SCH004")["SCH004"].status == "pass"


def test_a_wrong_rank_output_makes_quality_checks_error_pointing_at_sch004(tmp_path):
    bundle = write_bundle(tmp_path / "b", _reshaped_probabilities([-1, 2, 1, 1]))
    set_thresholds(bundle, min_metric={"roc_auc": 0.5})
    rec = run_checks(bundle, "QLT001")["QLT001"]
    assert rec.status == "error" and rec.message.startswith("output 'probabilities' has shape [N, 2, 1, 1]")
    assert "SCH004" in rec.message


def _logits_bundle(directory: Path, kind: str, task: str = "multiclass_classification") -> Path:
    frame = multiclass_data()
    outputs = [{"name": "logits", "kind": kind}]
    if kind != "regression":
        outputs[0]["classes"] = [0, 1, 2]
    bundle = write_bundle(
        directory,
        logits_model(),
        reference=frame,
        serving=serving_config(N_FEATURES, outputs=outputs),
        manifest={"model": {"task": task}},
    )
    return bundle


def test_sch004_fails_a_kind_that_contradicts_the_task(tmp_path):
    records = run_checks(_logits_bundle(tmp_path / "reg", "regression"), "SCH004", "QLT001")
    rec = records["SCH004"]
    assert rec.status == "fail" and "regression" in rec.message and "multiclass classification" in rec.message
    qlt = records["QLT001"]  # a consequence: no labels to judge, said plainly
    assert qlt.status == "error" and "SCH004" in qlt.message and "crashed" not in qlt.message, qlt.message
    rec = run_checks(_logits_bundle(tmp_path / "probs", "logits", task="regression"), "SCH004")["SCH004"]
    assert rec.status == "fail" and "kind `logits` on a regression task" in rec.message
    assert run_checks(_logits_bundle(tmp_path / "ok", "logits"), "SCH004")["SCH004"].status == "pass"


def test_sch004_fails_labels_that_disagree_with_the_models_own_probabilities(tmp_path):
    model = prob_model()
    for node in model.graph.node:
        if node.op_type == "ArgMax":
            node.op_type = "ArgMin"  # the label output names the less likely class
    rec = run_checks(write_bundle(tmp_path / "bad", model), "SCH004")["SCH004"]
    assert rec.status == "fail" and "disagree with the argmax" in rec.message, rec.message
    assert rec.measured["outputs"]["label"]["argmax_disagreement"] > 0.9
    good = run_checks(write_bundle(tmp_path / "good"), "SCH004")["SCH004"]
    assert good.status == "pass" and good.measured["outputs"]["label"]["argmax_disagreement"] == 0


def test_sch004_compares_declared_classes_with_the_models_class_labels(tmp_path):
    from sklearn.linear_model import LogisticRegression

    frame = tabular_data()
    frame["label"] = np.digitize(frame["f0"], [-1.0, 1.0])  # classes 0, 1, 2
    clf = LogisticRegression(max_iter=500).fit(frame[feature_names(4)].to_numpy(np.float32), frame["label"])
    model = sklearn_onnx(clf, 4)

    def bundle(name: str, classes: list[int]) -> Path:
        outputs = [
            {"name": "label", "kind": "label", "classes": classes},
            {"name": "probabilities", "kind": "probabilities", "classes": classes},
        ]
        return write_bundle(tmp_path / name, model, reference=frame, serving=serving_config(outputs=outputs))

    rec = run_checks(bundle("reordered", [2, 1, 0]), "SCH004")["SCH004"]
    assert rec.status == "fail"
    assert "[2, 1, 0]" in rec.message and "[0, 1, 2]" in rec.message and "order" in rec.message, rec.message
    assert run_checks(bundle("ordered", [0, 1, 2]), "SCH004")["SCH004"].status == "pass"


# --------------------------------------------------------------------------- NaN outputs in quality checks
def test_quality_checks_fail_with_the_share_of_nan_rows(tmp_path):
    frame = tabular_data()
    frame.loc[:9, "f1"] = 0.0  # 10 of 200 rows make the model output NaN
    frame["group"] = np.where(np.arange(len(frame)) % 2, "a", "b")  # a slice column for ROB005
    bundle = write_bundle(tmp_path / "b", with_nan_at_zero(prob_model(), 1), reference=frame)
    write_bundle(bundle / "base", reference=frame)  # the baseline QLT002 compares with

    def edit(table: dict) -> None:
        table["baseline"] = {"manifest": "base/readiness.toml"}
        table["data"]["slices"] = ["group"]
        table["lineage"] = {"training_metrics": {"roc_auc": 0.97}}

    edit_manifest(bundle, edit)
    set_thresholds(bundle, min_metric={"roc_auc": 0.5})
    every = ("QLT001", "QLT002", "QLT003", "ROB005", "RPR006")
    records = run_checks(bundle, *every)
    for cid in every:
        rec = records[cid]
        assert rec.status == "fail", (cid, rec.status, rec.message)
        assert "10 of 200" in rec.message and "5.0%" in rec.message and "NaN" in rec.message, rec.message
    clean = write_bundle(tmp_path / "clean", reference=frame)
    set_thresholds(clean, min_metric={"roc_auc": 0.5})
    assert run_checks(clean, "QLT001", "QLT003")["QLT001"].status == "pass"


# --------------------------------------------------------------------------- logits and score heads end to end
@pytest.fixture(scope="module")
def logits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], dict]:
    bundle = tmp_path_factory.mktemp("logits") / "bundle"
    init = _init(bundle, multiclass_data(), logits_model())
    assert init.returncode == 0, init.stdout + init.stderr
    set_thresholds(bundle, min_metric={"accuracy": 0.8})
    proc, card = _check(bundle)
    return bundle, proc, card


def test_init_proposes_logits_for_a_logits_head(logits_run):
    bundle, _, _ = logits_run
    serving = yaml.safe_load((bundle / "serving.yaml").read_text())
    (output,) = serving["outputs"]
    assert output["kind"] == "logits" and output["classes"] == [0, 1, 2]


def test_a_logits_head_is_released_with_accuracy_and_log_loss_from_softmax(logits_run):
    bundle, proc, card = logits_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["id"]: c for c in card["checks"]}
    assert checks["SCH004"]["status"] == "pass", checks["SCH004"]["message"]
    qlt = checks["QLT001"]
    assert qlt["status"] == "pass", qlt["message"]
    frame = multiclass_data()
    w, b = _multiclass_weights()
    logits = frame[feature_names(N_FEATURES)].to_numpy(np.float32) @ w + b
    probs = out.softmax(logits)
    expected_acc = float(np.mean(np.argmax(probs, axis=1) == frame["label"]))
    expected_ll = float(-np.mean(np.log(np.clip(probs[np.arange(len(frame)), frame["label"]], 1e-15, 1))))
    metrics = qlt["evidence"]["all_metrics"]
    assert metrics["accuracy"] == pytest.approx(expected_acc, abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(expected_ll, rel=1e-4)


def test_without_a_serving_config_a_classification_tasks_float_output_is_read_as_logits(tmp_path):
    frame = multiclass_data()
    bundle = write_bundle(
        tmp_path / "b",
        logits_model("output"),
        reference=frame,
        serving=False,
        manifest={"model": {"task": "multiclass_classification"}},
    )
    set_thresholds(bundle, min_metric={"accuracy": 0.8})
    records = run_checks(bundle, "QLT001", "SCH004")
    assert records["QLT001"].status == "pass", records["QLT001"].message
    assert "log_loss" in records["QLT001"].evidence["all_metrics"]
    assert records["SCH004"].status == "pass" and "output (logits)" in records["SCH004"].message


def test_a_probabilities_output_wins_over_logits_whatever_the_order():
    logits = np.array([[5.0, 0.0], [0.0, 5.0]])
    probs = np.array([[0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
    specs = [OutputSpec(name="z", kind="logits"), OutputSpec(name="p", kind="probabilities")]
    pred = rt.interpret({"z": logits, "p": probs}, specs)
    assert np.allclose(pred.probabilities, probs)


def test_a_score_head_gets_labels_and_roc_auc_but_no_log_loss(tmp_path):
    frame = tabular_data()
    bundle = tmp_path / "score"
    init = _init(bundle, frame, score_model())
    assert init.returncode == 0, init.stdout + init.stderr
    serving = yaml.safe_load((bundle / "serving.yaml").read_text())
    assert serving["outputs"][0]["kind"] == "score"
    set_thresholds(bundle, min_metric={"roc_auc": 0.8})
    records = run_checks(bundle, "SCH004", "QLT001", "QLT003")
    assert records["SCH004"].status == "pass", records["SCH004"].message
    qlt = records["QLT001"]
    assert qlt.status == "pass", qlt.message
    assert "log_loss" not in qlt.evidence["all_metrics"] and qlt.evidence["all_metrics"]["accuracy"] > 0.8
    assert records["QLT003"].status == "pass", records["QLT003"].message
