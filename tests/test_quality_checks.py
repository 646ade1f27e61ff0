"""QLT001-QLT003 and OPS001-OPS003 on models that have the defect and on models that do not."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from builders import (
    edit_manifest,
    evaluate_checks,
    prob_model,
    set_thresholds,
    sklearn_onnx,
    tabular_data,
    write_bundle,
)
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from readiness import evaluate

ROOT = Path(__file__).resolve().parent.parent


def _train_module():
    spec = importlib.util.spec_from_file_location("bc_train_qlt", ROOT / "examples" / "breast-cancer" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(bundle: Path, *select: str):
    return evaluate_checks(bundle, *select, seed=3)


def _set_threshold(bundle: Path, name: str, value: object) -> None:
    set_thresholds(bundle, **{name: value})


def _set_baseline(bundle: Path, manifest: str | None) -> None:
    """Point the bundle's [baseline].manifest at `manifest`, or remove [baseline] (None)."""

    def edit(table: dict) -> None:
        table.pop("baseline", None)
        if manifest is not None:
            table["baseline"] = {"manifest": manifest}

    edit_manifest(bundle, edit)


@pytest.fixture(scope="module")
def noisy_model_bytes() -> bytes:
    """A logistic regression trained on 8 rows of breast-cancer data with 40% of their labels flipped."""
    train = _train_module()
    X, y = train.load_data()
    rng = np.random.default_rng(4)
    idx = rng.choice(len(X), 8, replace=False)
    labels = y.to_numpy()[idx].copy()
    flip = rng.random(8) < 0.4
    labels[flip] = 1 - labels[flip]
    model = LogisticRegression(max_iter=1000).fit(X.to_numpy(dtype=np.float32)[idx], labels)
    assert roc_auc_score(y, model.predict_proba(X.to_numpy())[:, 1]) < 0.8  # precondition: clearly worse
    return train.export_onnx(model, X.shape[1])


@pytest.fixture
def noisy_candidate(example_bundle: Path, noisy_model_bytes: bytes) -> Path:
    """The noisy model in a copy of the example bundle, with the example as its baseline."""
    cand = example_bundle.parent / "candidate"
    shutil.copytree(example_bundle, cand)
    (example_bundle.parent / ".git").mkdir(exist_ok=True)  # the workspace root holds both bundles
    (cand / "model.onnx").write_bytes(noisy_model_bytes)
    _set_baseline(cand, "../breast-cancer/readiness.toml")
    return cand


# ----------------------------------------------------------------------------- QLT001
def test_qlt001_passes_on_the_example_with_a_confidence_interval(example_bundle):
    record = _run(example_bundle, "QLT001").check("QLT001")
    assert record.status == "pass", record.message
    auc = record.measured["roc_auc"]
    assert auc["bar"] == 0.9
    assert auc["ci_lower"] <= auc["value"] <= auc["ci_upper"]
    assert "95% bounds" in record.message
    assert record.measured["roc_auc"]["ci_lower"] >= 0.9  # the lower bound clears the bar, not just the point


def test_qlt001_fails_a_noisy_model_against_a_0_9_roc_auc_bar(noisy_candidate):
    record = _run(noisy_candidate, "QLT001").check("QLT001")
    assert record.status == "fail"
    assert record.measured["roc_auc"]["value"] < 0.9
    assert "roc_auc" in record.message and "bar 0.9" in record.message


def test_qlt001_judges_lower_is_better_metrics_as_a_maximum(example_bundle):
    toml = example_bundle / "readiness.toml"
    toml.write_text(toml.read_text().replace("roc_auc = 0.90", "roc_auc = 0.9, log_loss = 0.0001"))
    record = _run(example_bundle, "QLT001").check("QLT001")
    assert record.status == "fail"
    assert "log_loss" in record.message and "> bar" in record.message
    assert record.measured["roc_auc"]["meets"] is True


def test_qlt001_without_a_bar_is_skipped_but_reports_the_value(tmp_path):
    record = _run(write_bundle(tmp_path / "b"), "QLT001").check("QLT001")
    assert record.status == "skip"
    assert "min_metric" in record.message
    assert record.measured["roc_auc"]["value"] > 0.5


def test_qlt001_uses_the_configured_primary_metric_and_rejects_unknown_ones(tmp_path):
    bundle = write_bundle(
        tmp_path / "b", manifest={"policy": {"thresholds": {"primary_metric": "f1", "min_metric": {"f1": 0.5}}}}
    )
    record = _run(bundle, "QLT001").check("QLT001")
    assert record.status == "pass"
    assert record.evidence["primary"] == "f1"
    bad = write_bundle(tmp_path / "c", manifest={"policy": {"thresholds": {"min_metric": {"rmse": 1.0}}}})
    record = _run(bad, "QLT001").check("QLT001")
    assert record.status == "error"
    assert "rmse" in record.message and "roc_auc" in record.message


# ----------------------------------------------------------------------------- QLT002
def test_qlt002_fails_a_worse_candidate_against_the_example_baseline(noisy_candidate):
    record = _run(noisy_candidate, "QLT002").check("QLT002")
    assert record.status == "fail", record.message
    m = record.measured["roc_auc"]
    assert m["baseline"] > 0.95 > m["candidate"]
    assert m["regression_absolute"] == pytest.approx(m["baseline"] - m["candidate"], abs=1e-6)
    assert m["change_ci_lower"] <= m["change_ci_upper"] < 0  # clearly worse, not noise
    assert "baseline" in record.message


def test_qlt002_passes_a_copy_of_the_example_against_itself(example_bundle):
    copy = example_bundle.parent / "copy"
    shutil.copytree(example_bundle, copy)
    (example_bundle.parent / ".git").mkdir(exist_ok=True)  # the workspace root holds both bundles
    _set_baseline(copy, "../breast-cancer/readiness.toml")
    record = _run(copy, "QLT002").check("QLT002")
    assert record.status == "pass", record.message
    assert record.measured["roc_auc"]["regression_absolute"] == 0
    assert record.measured["roc_auc"]["change_ci_lower"] == record.measured["roc_auc"]["change_ci_upper"] == 0


def test_qlt002_relative_threshold_can_fail_where_the_absolute_one_passes(noisy_candidate):
    _set_threshold(noisy_candidate, "max_regression", {"roc_auc": {"absolute": 1.0, "relative": 0.05}})
    record = _run(noisy_candidate, "QLT002").check("QLT002")
    assert record.status == "fail"
    assert "relative" in record.message and "absolute" not in record.message.split("worse by")[1]
    _set_threshold(noisy_candidate, "max_regression", {"roc_auc": {"absolute": 1.0, "relative": 1.0}})
    assert _run(noisy_candidate, "QLT002").check("QLT002").status == "pass"


def test_qlt002_without_baseline_is_skipped_and_require_makes_it_block(example_bundle):
    _set_baseline(example_bundle, None)
    card = _run(example_bundle, "QLT002")
    assert card.check("QLT002").status == "skip"
    assert "[baseline].manifest" in card.check("QLT002").message
    assert card.released
    toml = example_bundle / "readiness.toml"
    toml.write_text(toml.read_text().replace('fail_on = "major"', 'fail_on = "major"\nrequire = ["QLT002"]'))
    card = _run(example_bundle, "QLT002")
    assert not card.released
    assert "QLT002" in card.gate["blocking"]


# ----------------------------------------------------------------------------- QLT003
def _constant_model(logit: float):
    """prob_model whose logit is replaced by a constant: every row gets the same probabilities and label."""
    const = helper.make_tensor("c", TensorProto.FLOAT, [1], [logit])
    zero = helper.make_tensor("z", TensorProto.FLOAT, [1], [0.0])
    nodes = [
        helper.make_node("Constant", [], ["zero"], value=zero),
        helper.make_node("Constant", [], ["cst"], value=const),
        helper.make_node("Mul", ["logit", "zero"], ["nil"]),
        helper.make_node("Add", ["nil", "cst"], ["logit_out"]),
    ]
    return prob_model(4, extra_nodes=nodes)


def test_qlt003_fails_a_model_that_predicts_only_the_majority_class(tmp_path):
    data = tabular_data()
    majority = int(data["label"].mode()[0])
    bundle = write_bundle(tmp_path / "b", _constant_model(1.5 if majority == 1 else -1.5), reference=data)
    record = _run(bundle, "QLT003").check("QLT003")
    assert record.status == "fail", record.message
    assert record.measured["roc_auc"]["model"] == pytest.approx(0.5)
    assert record.measured["accuracy"]["model"] == pytest.approx(record.measured["accuracy"]["trivial"])


def test_qlt003_passes_a_model_that_learnt_something(tmp_path):
    record = _run(write_bundle(tmp_path / "b"), "QLT003").check("QLT003")
    assert record.status == "pass", record.message
    assert record.measured["roc_auc"]["gain"] > 0.3


def test_qlt003_regression_is_judged_against_the_mean(tmp_path):
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    frame = tabular_data(n_rows=150)
    X = frame.drop(columns="label").to_numpy(dtype=np.float32)
    frame["label"] = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=len(X))
    serving = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4], "features": ["f0", "f1", "f2", "f3"]}],
        "outputs": [{"name": "variable", "kind": "regression"}],
    }
    schema = None
    good = LinearRegression().fit(X, frame["label"])
    bundle = write_bundle(
        tmp_path / "good", sklearn_onnx(good, 4), reference=frame, serving=serving, schema=schema,
        manifest={"model": {"task": "regression"}},
    )  # fmt: skip
    record = _run(bundle, "QLT003").check("QLT003")
    assert record.status == "pass", record.message
    assert record.measured["r2"]["trivial"] == pytest.approx(0.0, abs=1e-12)
    useless = LinearRegression().fit(X[:, 3:], frame["label"])  # the one feature with no signal
    onx = sklearn_onnx(useless, 1)
    serving_one = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 1], "features": ["f3"]}],
        "outputs": [{"name": "variable", "kind": "regression"}],
    }
    bundle = write_bundle(
        tmp_path / "bad", onx, reference=frame, serving=serving_one, manifest={"model": {"task": "regression"}}
    )
    assert _run(bundle, "QLT003").check("QLT003").status == "fail"


# ----------------------------------------------------------------------------- OPS
def test_ops_checks_pass_on_the_example(example_bundle):
    card = _run(example_bundle, "OPS")
    assert card.check("OPS001").status == "pass"
    assert card.check("OPS002").status == "pass"
    assert card.check("OPS003").status == "pass"  # production/ is the rollback target
    _set_baseline(example_bundle, None)
    assert _run(example_bundle, "OPS003").check("OPS003").status == "skip"  # nothing to roll back to


def test_ops001_fails_without_a_model_card(tmp_path):
    record = _run(write_bundle(tmp_path / "b"), "OPS001").check("OPS001")
    assert record.status == "fail"
    assert all(f"[card].{k}" in record.message for k in ("owner", "intended_use", "limitations"))
    partial = write_bundle(
        tmp_path / "c", manifest={"card": {"owner": "a@b.c", "intended_use": "x", "limitations": " "}}
    )
    record = _run(partial, "OPS001").check("OPS001")
    assert record.status == "fail" and "[card].limitations" in record.message and "owner" not in record.message


def test_ops002_fails_without_monitoring_and_on_uncovered_or_misspelt_features(tmp_path):
    record = _run(write_bundle(tmp_path / "b"), "OPS002").check("OPS002")
    assert record.status == "fail"
    assert "owner" in record.message and "alert_metric" in record.message and "drift" in record.message
    mon = {"owner": "a@b.c", "alert_metric": "roc_auc", "drift": {"f0": 0.1, "f1": 0.1, "f2": 0.1, "f33": 0.1}}
    record = _run(write_bundle(tmp_path / "c", manifest={"monitoring": mon}), "OPS002").check("OPS002")
    assert record.status == "fail"
    assert "f3" in record.message and "f33" in record.message
    mon["drift"] = {"default": 0.2, "f0": 0.05}
    assert _run(write_bundle(tmp_path / "d", manifest={"monitoring": mon}), "OPS002").check("OPS002").status == "pass"


def test_ops003_passes_with_a_loadable_baseline_and_fails_with_a_broken_one(example_bundle):
    prod = example_bundle / "production"  # the example's baseline
    record = _run(example_bundle, "OPS003").check("OPS003")
    assert record.status == "pass", record.message
    (prod / "model.onnx").write_bytes(b"not an onnx model")
    record = _run(example_bundle, "OPS003").check("OPS003")
    assert record.status == "fail"
    assert "rollback target" in record.message


def test_qlt001_auc_bounds_do_not_depend_on_the_seed(example_bundle):
    """DeLong's variance needs no resampling: the same bundle gets the same bounds, so the same verdict, for any seed."""

    def ci(seed):
        card, _ = evaluate(example_bundle, seed=seed, select=["QLT001"])
        m = card.check("QLT001").measured["roc_auc"]
        return m["ci_lower"], m["ci_upper"], card.check("QLT001").status

    assert ci(5) == ci(6) == ci(7)


def test_quality_checks_on_a_multiclass_model(tmp_path):
    import pandas as pd
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    cols = [f"f{i}" for i in range(X.shape[1])]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X[::2], y[::2])
    ref = pd.DataFrame(X[1::2], columns=cols).assign(label=y[1::2])
    serving = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 13], "features": cols}],
        "outputs": [
            {"name": "label", "kind": "label", "classes": [0, 1, 2]},
            {"name": "probabilities", "kind": "probabilities", "classes": [0, 1, 2]},
        ],
    }

    def bundle(name, bars):
        return write_bundle(
            tmp_path / name, sklearn_onnx(model, 13), reference=ref, serving=serving, schema=False,
            manifest={"policy": {"thresholds": {"min_metric": bars}}},
        )  # fmt: skip

    card = _run(bundle("ok", {"accuracy": 0.9, "f1_macro": 0.9}), "QLT001", "QLT003")
    assert card.check("QLT001").status == "pass", card.check("QLT001").message
    assert card.check("QLT001").evidence["primary"] == "accuracy"
    assert card.check("QLT003").status == "pass"
    strict = _run(bundle("strict", {"accuracy": 0.995}), "QLT001").check("QLT001")
    assert strict.status == "fail" and "accuracy" in strict.message


def test_quality_checks_report_a_model_that_cannot_score_as_an_error_not_a_crash(example_bundle):
    serving = example_bundle / "serving.yaml"
    serving.write_text(serving.read_text().replace("dtype: float32", "dtype: float64"))
    card = _run(example_bundle, "QLT001", "QLT003")
    for cid in ("QLT001", "QLT003"):
        record = card.check(cid)
        assert record.status == "error"
        assert "cannot score the reference data" in record.message and "crashed" not in record.message
    assert not card.released


def test_qlt002_reports_a_baseline_that_cannot_score(example_bundle):
    (example_bundle / "production" / "model.onnx").write_bytes(b"garbage")
    record = _run(example_bundle, "QLT002").check("QLT002")
    assert record.status == "error"
    assert "cannot score the baseline" in record.message


def _auc_bundle(path, separation: float, n: int = 100):
    """100 balanced rows whose only informative feature is f2 (positive weight in prob_model): the
    model's ROC AUC is set by how far apart the two classes sit on it."""
    import pandas as pd

    rng = np.random.default_rng(11)
    y = np.arange(n) % 2
    frame = pd.DataFrame({f"f{i}": np.zeros(n) for i in range(4)})
    frame["f2"] = y * separation + rng.normal(size=n)
    frame["label"] = y
    return write_bundle(
        path, reference=frame, schema=False, manifest={"policy": {"thresholds": {"min_metric": {"roc_auc": 0.9}}}}
    )


@pytest.mark.parametrize(
    "separation, status",
    [(2.8, "pass"), (1.95, "inconclusive"), (1.0, "fail")],
    ids=["auc-0.95-clears-the-bar", "auc-near-the-bar", "auc-far-below"],
)
def test_qlt001_judges_the_bar_on_confidence_bounds(tmp_path, separation, status):
    record = _run(_auc_bundle(tmp_path / "b", separation), "QLT001").check("QLT001")
    auc = record.measured["roc_auc"]
    assert record.status == status, record.message
    if status == "pass":  # what a user expects: 0.95 on 100 rows against a 0.90 bar passes
        assert auc["value"] >= 0.95 and auc["ci_lower"] >= 0.9
    elif status == "inconclusive":
        assert auc["ci_lower"] < 0.9 <= auc["ci_upper"] and "straddles bar 0.9" in record.message
    else:
        assert auc["ci_upper"] < 0.9
    assert record.evidence["method"]["roc_auc"].startswith("DeLong")
