"""Reproducibility checks RPR001-RPR006: a model with the defect fails, a clean one passes."""

from __future__ import annotations

import math
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import tomli_w
from builders import (
    prob_model,
    serving_config,
    set_thresholds,
    sklearn_onnx,
    tabular_data,
    update_manifest,
    write_bundle,
)
from onnx import helper
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from readiness import evaluate, load_bundle
from readiness.checks import reproducibility as rpr
from readiness.context import Context
from readiness.registry import default_registry
from readiness.runtime import Predictions

try:  # toml reading for edits of the example manifest
    import tomllib
except ImportError:  # pragma: no cover
    import tomli as tomllib

BINARY = {"model": {"task": "binary_classification"}}


def run(bundle: Path, *ids: str, trust: bool = False):
    scorecard, ctx = evaluate(bundle, select=list(ids), trust=trust)
    return {r.id: r for r in scorecard.checks}, ctx


def sklearn_bundle(directory: Path, estimator, *, source=None, slo_sizes=(), n_rows: int = 200) -> Path:
    """A bundle whose model.onnx is `estimator` exported with skl2onnx and model.skops is `source` (default: same)."""
    data = tabular_data(n_rows)
    X, y = data.drop(columns="label").to_numpy(), data["label"].to_numpy()
    estimator.fit(X, y)
    serving = serving_config(4)
    if slo_sizes:
        serving["slo"] = {"latency": [{"batch_size": s, "p99_ms": 100} for s in slo_sizes]}
    write_bundle(
        directory,
        sklearn_onnx(estimator, 4),
        reference=data,
        serving=serving,
        manifest={"model": {"source": "model.skops", "task": "binary_classification"}},
    )
    if source is not None:
        source.fit(X, y)
    sio.dump(source if source is not None else estimator, directory / "model.skops")
    return directory


CLEAN_MODELS = {
    "logistic": lambda: LogisticRegression(max_iter=500),
    "forest": lambda: RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0),
    "boosting": lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
    # a pipeline: RPR003 looks for split thresholds on the scaled values the trees see
    "scaled_forest": lambda: make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)
    ),
}


# --------------------------------------------------------------------------- clean models pass RPR001-RPR004
@pytest.mark.parametrize("kind", sorted(CLEAN_MODELS))
def test_clean_sklearn_models_pass_rpr001_to_rpr004(tmp_path, kind):
    bundle = sklearn_bundle(tmp_path / kind, CLEAN_MODELS[kind](), slo_sizes=(1, 8))
    results, _ = run(bundle, "RPR001", "RPR002", "RPR003", "RPR004")
    for cid in ("RPR001", "RPR002", "RPR003", "RPR004"):
        assert results[cid].status == "pass", (cid, results[cid].message, results[cid].evidence)
    # RPR002 scored 1, 2, an odd size (7), the SLO batch size 8 and a shuffled batch (max_batch_size 16 = base)
    assert set(results["RPR002"].measured["configurations"]) == {
        "batch_size=1",
        "batch_size=2",
        "batch_size=7",
        "batch_size=8",
        "shuffled",
    }
    assert results["RPR003"].measured["label_agreement"] == 1.0
    assert "loaded with skops trusting" in results["RPR003"].message


# --------------------------------------------------------------------------- RPR001
def test_rpr001_fails_on_random_operator_and_names_row(tmp_path):
    noise = [
        helper.make_node("RandomUniformLike", ["logit"], ["noise"], low=0.0, high=0.5),
        helper.make_node("Add", ["logit", "noise"], ["logit_out"]),
    ]
    bundle = write_bundle(tmp_path / "b", prob_model(extra_nodes=noise))
    result = run(bundle, "RPR001")[0]["RPR001"]
    assert result.status == "fail", result.message
    assert result.measured["max_abs_diff"] > 0
    diffs = result.evidence["differences"]
    first = next(iter(diffs.values()))
    assert first["first_differing_row"] >= 0
    assert set(first["first_differing_values"]) == {"got", "expected"}
    assert "same session" in result.message


def test_rpr001_passes_on_deterministic_model_and_scores_synthetic_batch(tmp_path):
    bundle = write_bundle(tmp_path / "b", prob_model())
    result = run(bundle, "RPR001")[0]["RPR001"]
    assert result.status == "pass", result.message
    assert result.measured["rows"] == {"reference": 200, "synthetic": rpr.SYNTHETIC_ROWS}


def test_rows_the_model_refuses_are_an_error_pointing_at_the_contract(tmp_path):
    serving = serving_config(4)
    serving["inputs"][0]["dtype"] = "float64"  # the graph takes float32
    bundle = write_bundle(tmp_path / "b", serving=serving)
    results, _ = run(bundle, "RPR001", "RPR002")
    for result in results.values():
        assert result.status == "error"
        assert "SCH001" in result.message and "crashed" not in result.message


# --------------------------------------------------------------------------- RPR002
def test_rpr002_fails_when_model_normalises_over_the_batch(tmp_path):
    batch_mean = [
        helper.make_node("ReduceMean", ["logit"], ["mean"], axes=[0], keepdims=1),
        helper.make_node("Sub", ["logit", "mean"], ["logit_out"]),
    ]
    bundle = write_bundle(tmp_path / "b", prob_model(extra_nodes=batch_mean))
    result = run(bundle, "RPR002")[0]["RPR002"]
    assert result.status == "fail", result.message
    per_config = result.measured["configurations"]
    assert per_config["batch_size=1"]["rows_differing"] > 0
    assert per_config["batch_size=1"]["max_abs_diff"] > 1e-3
    evidence = result.evidence["differences"]["batch_size=1"]
    assert isinstance(evidence["first_differing_row"], int)
    assert (
        evidence["first_differing_values"]["got"]["probabilities"]
        != evidence["first_differing_values"]["expected"]["probabilities"]
    )


@pytest.fixture(scope="module")
def ridge_200(tmp_path_factory):
    """A Ridge regression on 200 features with outputs in the hundreds: float32 sums in another order
    (batch 1 vs 64) differ by ~1e-4 absolute, ~1e-6 relative."""
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=600, n_features=200, noise=10.0, random_state=0)
    y = y + 300
    model = Ridge(alpha=1.0).fit(X[:300], y[:300])
    names = [f"f{i}" for i in range(200)]
    reference = pd.DataFrame(X[300:], columns=names).assign(target=y[300:])
    serving = serving_config(200, max_batch_size=64, features=names)
    serving["outputs"] = [{"name": "variable", "kind": "regression"}]
    return write_bundle(
        tmp_path_factory.mktemp("ridge") / "b",
        sklearn_onnx(model, 200),
        reference=reference,
        serving=serving,
        target="target",
        schema=False,
        manifest={"model": {"task": "regression"}},
    )


def test_rpr002_judges_regression_outputs_in_the_hundreds_on_a_relative_tolerance(ridge_200):
    result = run(ridge_200, "RPR002")[0]["RPR002"]
    assert result.status == "pass", result.message
    assert result.evidence["tolerance"] == {"atol": 1e-5, "rtol": 1e-4}
    # the same differences judged on an absolute tolerance alone are a (false) finding
    if result.measured["max_abs_diff"] > 1e-5:
        set_thresholds(ridge_200, batch_rtol=0.0)
        try:
            assert run(ridge_200, "RPR002")[0]["RPR002"].status == "fail"
        finally:
            set_thresholds(ridge_200, batch_rtol=1e-4)


def test_rpr002_skips_when_rows_are_never_batched(tmp_path):
    bundle = write_bundle(tmp_path / "b", serving=serving_config(4, max_batch_size=1))
    assert run(bundle, "RPR002")[0]["RPR002"].status == "skip"


# --------------------------------------------------------------------------- RPR003
def test_rpr003_fails_when_source_was_fitted_differently(tmp_path):
    bundle = sklearn_bundle(
        tmp_path / "b",
        RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
        source=RandomForestClassifier(n_estimators=10, max_depth=4, random_state=1),
    )
    result = run(bundle, "RPR003")[0]["RPR003"]
    assert result.status == "fail", result.message
    assert result.measured["max_abs_diff"] > 0.01
    row = result.evidence["first_unexcused_row"]
    values = result.evidence["first_unexcused_values"]
    assert values["got"]["probabilities"] != values["expected"]["probabilities"]
    assert f"first at row {row}" in result.message


def test_rpr003_skips_without_source(tmp_path):
    bundle = write_bundle(tmp_path / "b")
    result = run(bundle, "RPR003")[0]["RPR003"]
    assert result.status == "skip"
    assert "[model].source" in result.message


def test_rpr003_pickle_source_needs_trust(tmp_path):
    bundle = sklearn_bundle(tmp_path / "b", LogisticRegression(max_iter=500))
    model = sio.load(bundle / "model.skops", trusted=sio.get_untrusted_types(file=bundle / "model.skops"))
    (bundle / "model.skops").unlink()
    (bundle / "model.pkl").write_bytes(pickle.dumps(model))
    update_manifest(bundle, model={"source": "model.pkl"})
    untrusted = run(bundle, "RPR003")[0]["RPR003"]
    assert untrusted.status == "skip"
    assert "SEC002" in untrusted.message and "--trust" in untrusted.message
    trusted = run(bundle, "RPR003", trust=True)[0]["RPR003"]
    assert trusted.status == "pass", trusted.message


def test_rpr003_skips_xgboost_source_when_xgboost_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)  # `import xgboost` raises ImportError, as without the wheel
    bundle = write_bundle(tmp_path / "b", manifest={"model": {"source": "model.json"}})
    (bundle / "model.json").write_text("{}")
    result = run(bundle, "RPR003")[0]["RPR003"]
    assert result.status == "skip"
    assert "xgboost is not installed" in result.message and "readiness[xgboost]" in result.message


def _naively_rounded_tree(tmp_path: Path, ulps: int | None) -> Path:
    """A one-split tree whose ONNX export rounds the float64 threshold to the nearest float32.

    The two training values either side of the split are adjacent float32 numbers, so the
    float64 midpoint rounds *up* to the upper one: a reference row holding exactly that value
    goes right in scikit-learn and left in the naively exported ONNX model.
    """
    a = np.nextafter(np.float32(1000.0), np.float32(2000.0))
    b = np.nextafter(a, np.float32(2000.0))
    X = np.array([[500.0], [a], [b], [1500.0]])
    tree = DecisionTreeClassifier(random_state=0).fit(X, [0, 0, 1, 1])
    threshold = tree.tree_.threshold[0]
    assert np.float32(threshold) == b > threshold
    onx = sklearn_onnx(tree, 1)
    node = onx.graph.node[0]
    values = next(attr for attr in node.attribute if attr.name == "nodes_values")
    values.floats[0] = float(np.float32(threshold))  # skl2onnx adjusts this; a naive converter does not
    values_ref = np.r_[np.linspace(0.0, 900.0, 38), float(b), 2000.0]
    reference = pd.DataFrame({"f0": values_ref, "label": (values_ref > threshold).astype(int)})
    manifest = {"model": {"source": "model.skops", "task": "binary_classification"}}
    if ulps is not None:
        manifest["policy"] = {"thresholds": {"parity_threshold_ulps": ulps}}
    bundle = write_bundle(
        tmp_path / f"tree-{ulps}", onx, reference=reference, serving=serving_config(1), n_features=1, manifest=manifest
    )
    sio.dump(tree, bundle / "model.skops")
    return bundle


def test_rpr003_reports_rows_at_float32_split_thresholds_instead_of_failing(tmp_path):
    result = run(_naively_rounded_tree(tmp_path, None), "RPR003")[0]["RPR003"]
    assert result.status == "pass", result.message
    assert result.measured["max_abs_diff"] == 1.0  # the row took the other branch
    assert result.measured["rows_excused"] == 1
    assert result.evidence["excused_rows"] == [38]
    assert "float32 split threshold" in result.message


def test_rpr003_fails_on_threshold_rows_when_no_rounding_band_is_allowed(tmp_path):
    result = run(_naively_rounded_tree(tmp_path, 0), "RPR003")[0]["RPR003"]
    assert result.status == "fail", result.message
    assert result.evidence["first_unexcused_row"] == 38


class ShiftedLogistic(LogisticRegression):
    """A type outside skops' allow-list: loading it needs --trust."""


def test_rpr003_skops_type_outside_the_allow_list_needs_trust(tmp_path):
    bundle = sklearn_bundle(tmp_path / "b", LogisticRegression(max_iter=500), source=ShiftedLogistic(max_iter=500))
    untrusted = run(bundle, "RPR003")[0]["RPR003"]
    assert untrusted.status == "skip"
    assert "ShiftedLogistic" in untrusted.message and "--trust" in untrusted.message
    trusted = run(bundle, "RPR003", trust=True)[0]["RPR003"]
    assert trusted.status == "pass", trusted.message
    assert "ShiftedLogistic" in trusted.message  # the trusted-type list is shown


def test_rpr003_corrupt_source_is_an_error_naming_the_file(tmp_path):
    bundle = sklearn_bundle(tmp_path / "b", LogisticRegression(max_iter=500))
    (bundle / "model.skops").write_bytes(b"not a zip file")
    result = run(bundle, "RPR003")[0]["RPR003"]
    assert result.status == "error"
    assert "model.skops" in result.message


def test_rpr003_and_rpr006_on_a_regression_model(tmp_path):
    from sklearn.ensemble import GradientBoostingRegressor

    data = tabular_data(200)
    X = data.drop(columns="label").to_numpy()
    y = 100 + 50 * X[:, 0] - 20 * X[:, 1] + np.random.default_rng(0).normal(size=len(X))
    data["label"] = y
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
    serving = serving_config(4, outputs=[{"name": "variable", "kind": "regression"}])
    r2 = 1 - np.sum((y - model.predict(X)) ** 2) / np.sum((y - y.mean()) ** 2)
    bundle = write_bundle(
        tmp_path / "b",
        sklearn_onnx(model, 4),
        reference=data,
        serving=serving,
        schema="",
        manifest={
            "model": {"source": "model.skops", "task": "regression"},
            "lineage": {"training_metrics": {"r2": float(r2)}},
        },
    )
    sio.dump(model, bundle / "model.skops")
    results, _ = run(bundle, "RPR003", "RPR006")
    assert results["RPR003"].status == "pass", results["RPR003"].message
    assert results["RPR003"].measured["max_abs_diff"] < 1e-3  # float32 sums of values around 100
    assert results["RPR006"].status == "pass", results["RPR006"].message
    sio.dump(GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y), bundle / "model.skops")
    assert run(bundle, "RPR003")[0]["RPR003"].status == "fail"


def test_rpr003_aligns_multiclass_probabilities_by_class(tmp_path):
    data = tabular_data(300)
    X = data.drop(columns="label").to_numpy()
    data["label"] = np.digitize(X[:, 0] + X[:, 1], [-1.0, 1.0])  # classes 0, 1, 2
    model = LogisticRegression(max_iter=500).fit(X, data["label"])
    serving = serving_config(
        4,
        outputs=[
            {"name": "label", "kind": "label", "classes": [0, 1, 2]},
            {"name": "probabilities", "kind": "probabilities", "classes": [0, 1, 2]},
        ],
    )
    bundle = write_bundle(
        tmp_path / "b",
        sklearn_onnx(model, 4),
        reference=data,
        serving=serving,
        manifest={"model": {"source": "model.skops", "task": "multiclass_classification"}},
    )
    sio.dump(model, bundle / "model.skops")
    result = run(bundle, "RPR003")[0]["RPR003"]
    assert result.status == "pass", result.message
    assert result.evidence["comparison"]["outputs_compared"] == ["probabilities", "labels"]


@pytest.mark.parametrize(
    "near_rows, status", [(2, "pass"), (14, "inconclusive"), (30, "fail")], ids=["1pct", "7pct", "15pct"]
)
def test_rpr003_judges_the_share_of_near_split_rows_on_exact_bounds(tmp_path, near_rows, status):
    """200 reference rows, `near_rows` of them differing from the source only near a float32 split threshold."""
    from readiness.source_models import SourceModel

    bundle = write_bundle(tmp_path / "b")
    ctx = Context(load_bundle(bundle), thresholds=default_registry().thresholds())
    onnx_pred = ctx.reference_predictions
    probs = np.array(onnx_pred.probabilities, dtype=np.float64)
    near = np.zeros(len(probs), dtype=bool)
    near[:near_rows] = True
    probs[near] = probs[near][:, ::-1]  # the other branch: a different answer on exactly those rows
    source_pred = Predictions(raw={}, probabilities=probs, labels=probs.argmax(axis=1), classes=onnx_pred.classes)
    source = SourceModel("skops", object(), bundle / "model.skops")
    ctx.memo("rpr:source", lambda: {"source": source, "predictions": source_pred, "near_split": near})
    atol = rpr.DEFAULT_PARITY_ATOL["binary_classification"]
    ctx.memo(("rpr:probes", atol, 1e-5), lambda: [])  # the reference rows only: no probe families
    result = rpr.export_parity(ctx)
    assert result.status == status, result.message
    assert result.measured["rows_excused"] == near_rows
    assert result.measured["excused_share_lower"] <= near_rows / 200 <= result.measured["excused_share_upper"]


def test_near_split_rows_looks_at_the_values_the_trees_see_in_a_pipeline():
    from readiness.source_models import SourceModel, near_split_rows

    data = tabular_data(100)
    X = data.drop(columns="label")
    pipe = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=2, random_state=0))
    pipe.fit(X.to_numpy(), data["label"])
    scaler, tree = pipe[0], pipe[-1]
    feature, threshold = int(tree.tree_.feature[0]), float(tree.tree_.threshold[0])
    at_split = X.iloc[:2].copy()
    # row 0: its scaled value is the root's threshold; row 1: far from every threshold of that feature
    at_split.iloc[0, feature] = threshold * scaler.scale_[feature] + scaler.mean_[feature]
    at_split.iloc[1, feature] = 1e6
    source = SourceModel("skops", pipe, Path("model.skops"))
    assert near_split_rows(source, at_split, ulps=4).tolist()[0] is True
    far = X.iloc[:1].copy()
    far.iloc[:, :] = 1e6
    assert near_split_rows(source, far, ulps=4).tolist() == [False]
    assert near_split_rows(SourceModel("skops", LogisticRegression(), Path("m.skops")), far, ulps=4) is None


# --------------------------------------------------------------------------- RPR004
def _preds(probabilities) -> Predictions:
    p = np.asarray(probabilities, dtype=np.float64)
    return Predictions(raw={}, probabilities=p, labels=p.argmax(axis=1), classes=[0, 1])


def test_rpr004_judging_on_injected_predictions(tmp_path):
    """Real thread variance is hard to provoke in a small model: inject the two runs into the context."""
    bundle = write_bundle(tmp_path / "b")
    ctx = Context(load_bundle(bundle), thresholds=default_registry().thresholds())
    one = _preds([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    many = _preds([[0.2, 0.8], [0.6 + 3e-4, 0.4 - 3e-4], [0.5, 0.5]])
    ctx.memo("rpr:threads", lambda: {"threads": (1, 8), "one": one, "many": many})
    result = rpr.thread_invariance(ctx)
    assert result.status == "fail"
    assert result.measured["max_abs_diff"] == pytest.approx(3e-4)
    assert result.evidence["comparison"]["first_differing_row"] == 1
    assert "first at row 1" in result.message
    assert ctx.counters["session_runs"] == 0  # judged the injected evidence, measured nothing

    close = _preds([[0.2 + 1e-7, 0.8 - 1e-7], [0.6, 0.4], [0.5, 0.5]])
    assert rpr.judge_threads({"threads": (1, 8), "one": one, "many": close}, 1e-5, 1e-5).status == "pass"
    broken = _preds([[np.nan, np.nan], [0.6, 0.4], [0.5, 0.5]])
    ctx2 = Context(load_bundle(bundle), thresholds=default_registry().thresholds())
    ctx2.memo("rpr:threads", lambda: {"threads": (1, 8), "one": one, "many": broken})
    nan_result = rpr.thread_invariance(ctx2)
    assert nan_result.status == "fail"  # (the runner makes every result strict JSON: tests/test_sdk.py)
    # a label that changes on a row with a clear margin (0.6 vs 0.4) is a finding even with loose numbers
    loose = Predictions(raw={}, probabilities=one.probabilities, labels=np.array([1, 1, 0]), classes=[0, 1])
    verdict = rpr.judge_threads({"threads": (1, 8), "one": one, "many": loose}, 1e-2, 1e-2)
    assert verdict.status == "fail" and verdict.measured["label_mismatches"] == 1


def test_rpr004_labels_may_differ_only_where_the_margin_is_within_tolerance():
    """float32 reductions in another order may round a near-tie either way: that is not a finding."""
    one = _preds([[0.2, 0.8], [0.5 + 1e-6, 0.5 - 1e-6]])
    many = _preds([[0.2, 0.8], [0.5 - 1e-6, 0.5 + 1e-6]])
    assert list(one.labels) != list(many.labels)
    verdict = rpr.judge_threads({"threads": (1, 8), "one": one, "many": many}, 1e-5, 1e-4)
    assert verdict.status == "pass", verdict.message
    assert verdict.evidence["comparison"]["label_ties_excused"] == 1
    # the same label change on a clear margin fails
    one = _preds([[0.2, 0.8], [0.6, 0.4]])
    many = Predictions(raw={}, probabilities=one.probabilities, labels=np.array([1, 1]), classes=[0, 1])
    assert rpr.judge_threads({"threads": (1, 8), "one": one, "many": many}, 1e-5, 1e-4).status == "fail"


# --------------------------------------------------------------------------- RPR005
def test_rpr005_example_lineage_passes_and_is_verified(example_bundle):
    result = run(example_bundle, "RPR005")[0]["RPR005"]
    assert result.status == "pass", result.message
    assert result.measured["fingerprint_verified"] is True
    assert result.evidence["environment_lock"]["path"] == "requirements.lock"


def test_rpr005_fails_when_training_data_changed(example_bundle):
    lines = (example_bundle / "train.csv").read_text().splitlines()
    (example_bundle / "train.csv").write_text("\n".join(lines[:-1]) + "\n")  # one training row dropped
    result = run(example_bundle, "RPR005")[0]["RPR005"]
    assert result.status == "fail"
    assert "does not match train.csv" in result.message


def test_rpr005_fails_on_missing_keys_and_missing_lock_file(example_bundle):
    (example_bundle / "requirements.lock").unlink()
    result = run(example_bundle, "RPR005")[0]["RPR005"]
    assert result.status == "fail"
    assert "requirements.lock" in result.message
    update_manifest(example_bundle, lineage=None)
    result = run(example_bundle, "RPR005")[0]["RPR005"]
    assert result.status == "fail"
    assert "code_version, data_fingerprint, seed, environment" in result.message


def test_rpr005_fingerprint_of_the_reference_file_and_malformed_fingerprints(example_bundle):
    digest = rpr.sha256_file(example_bundle / "reference.csv")
    table = tomllib.loads((example_bundle / "readiness.toml").read_text())
    del table["lineage"]["training_data"]
    table["lineage"]["data_fingerprint"] = f"sha256:{digest}"
    (example_bundle / "readiness.toml").write_text(tomli_w.dumps(table))
    result = run(example_bundle, "RPR005")[0]["RPR005"]
    assert result.status == "pass", result.message
    assert "sha256 of the reference data" in result.message
    update_manifest(example_bundle, lineage={"data_fingerprint": "sha256:abc"})
    result = run(example_bundle, "RPR005")[0]["RPR005"]
    assert result.status == "fail"
    assert "64 hex digits" in result.message


def test_rpr005_accepts_free_text_environment(example_bundle):
    update_manifest(example_bundle, lineage={"environment": "python 3.11 with scikit-learn 1.5"})
    result = run(example_bundle, "RPR005")[0]["RPR005"]
    assert result.status == "pass", result.message
    assert "free-text" in result.message


# --------------------------------------------------------------------------- RPR006
def test_rpr006_example_claims_reproduce(example_bundle):
    result = run(example_bundle, "RPR006")[0]["RPR006"]
    assert result.status == "pass", result.message
    assert set(result.measured) == {"roc_auc", "accuracy", "f1", "log_loss"}


def test_rpr006_fails_on_inflated_claim(example_bundle):
    measured = run(example_bundle, "RPR006")[0]["RPR006"].measured["accuracy"]["measured"]
    update_manifest(example_bundle, lineage={"training_metrics": {"accuracy": measured + 0.05}})
    result = run(example_bundle, "RPR006")[0]["RPR006"]
    assert result.status == "fail"
    assert result.measured["accuracy"]["diff"] == pytest.approx(-0.05)
    assert "accuracy claimed" in result.message


def test_rpr006_unknown_metric_is_an_error_listing_known_names(example_bundle):
    update_manifest(example_bundle, lineage={"training_metrics": {"auc": 0.99}})
    result = run(example_bundle, "RPR006")[0]["RPR006"]
    assert result.status == "error"
    assert "auc" in result.message and "roc_auc, accuracy, f1, precision, recall, log_loss" in result.message


def test_rpr006_skips_without_claims(tmp_path):
    result = run(write_bundle(tmp_path / "b"), "RPR006")[0]["RPR006"]
    assert result.status == "skip"


# --------------------------------------------------------------------------- shared evidence
def test_reference_predictions_are_scored_once_per_configuration(example_bundle):
    results, ctx = run(example_bundle, "RPR002", "RPR003", "RPR006")
    assert {r.status for r in results.values()} == {"pass"}
    n = len(ctx.features)
    batch = ctx.max_batch_size
    # reference at max_batch_size (shared by all three) + every other serving batch size + one shuffled pass
    # + RPR003's probe families, each scored once at max_batch_size
    sizes = [s for s in rpr.serving_batch_sizes(ctx) if s != batch]
    probes = sum(math.ceil(e["rows"] / batch) for e in results["RPR003"].evidence["probe_families"] if e["compared"])
    expected = math.ceil(n / batch) + sum(math.ceil(n / s) for s in sizes) + math.ceil(n / batch) + probes
    assert ctx.counters["session_runs"] == expected
    before = ctx.counters["session_runs"]
    for func in (rpr.export_parity, rpr.metrics_reproduce, rpr.batch_invariance):
        assert func(ctx).status == "pass"
    assert ctx.counters["session_runs"] == before  # judged again from the shared evidence


def test_example_bundle_passes_every_reproducibility_check(example_bundle):
    results, _ = run(example_bundle, "RPR")
    assert {cid: r.status for cid, r in results.items()} == {f"RPR00{i}": "pass" for i in range(1, 8)}
    assert results["RPR002"].measured["max_abs_diff"] <= 1e-6
    assert results["RPR003"].measured["max_abs_diff"] <= 1e-5


def test_same_bundle_and_seed_give_the_same_reproducibility_results(example_bundle):
    first, _ = run(example_bundle, "RPR")
    second, _ = run(example_bundle, "RPR")
    for cid in first:
        a, b = first[cid], second[cid]
        assert (a.status, a.message, a.measured, a.evidence) == (b.status, b.message, b.measured, b.evidence), cid
