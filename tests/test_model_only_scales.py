"""Model-only runs judge rows drawn on the scales the graph states, and only measure where it states none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import prob_model, sklearn_onnx
from onnx import helper

from readiness.config import InputSpec
from readiness.engine import evaluate
from readiness.scales import graph_scales


def _save(model, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def _spec(n: int, name: str = "input") -> list[InputSpec]:
    return [InputSpec(name=name, dtype="float32", shape=[-1, n])]


# --------------------------------------------------------------------------- what the graph states
def test_a_scaler_states_each_features_centre_and_spread():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal([5.0, 500.0, 0.05], [1.0, 100.0, 0.01], size=(200, 3))
    y = (X[:, 0] > 5).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    scales = graph_scales(sklearn_onnx(model, 3), _spec(3))
    assert [s.source for s in scales.values()] == ["Scaler"] * 3
    centers = [scales[f"input_{i}"].center for i in range(3)]
    spreads = [scales[f"input_{i}"].spread for i in range(3)]
    np.testing.assert_allclose(centers, X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(spreads, X.std(axis=0), rtol=1e-4)


def test_tree_thresholds_state_where_the_trees_decide():
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(100, 200, 300), rng.uniform(-1, 1, 300)])
    model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, X[:, 0] * 2)  # splits on feature 0 only
    scales = graph_scales(sklearn_onnx(model, 2), _spec(2))
    assert scales["input_0"].source == "tree split thresholds"
    assert 100 < scales["input_0"].center < 200 and 0 < scales["input_0"].spread < 100
    assert scales["input_1"].source == "not read by any tree"


def test_encoder_categories_are_stated():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import Int64TensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = np.array([[1], [2], [7], [2], [7], [1]] * 10, dtype=np.int64)
    y = (X[:, 0] == 7).astype(int)
    model = make_pipeline(OneHotEncoder(), LogisticRegression()).fit(X, y)
    onx = convert_sklearn(model, initial_types=[("input", Int64TensorType([None, 1]))])
    scales = graph_scales(onx, [InputSpec(name="input", dtype="int64", shape=[-1, 1])])
    assert sorted(scales["input"].categories) == [1, 2, 7]


def test_a_bare_linear_model_states_no_scale():
    assert graph_scales(prob_model(4), _spec(4)) == {}


# --------------------------------------------------------------------------- verdicts in model-only runs
def _batch_mean_after_scaler(n: int = 4):
    """A Scaler in front of a classifier that subtracts the batch mean of its logit (a batch-dependence defect)."""
    scaler = helper.make_node("Scaler", ["input"], ["scaled"], domain="ai.onnx.ml", offset=[50.0] * n, scale=[0.1] * n)
    batch_mean = [
        helper.make_node("ReduceMean", ["logit"], ["mean"], axes=[0], keepdims=1),
        helper.make_node("Sub", ["logit", "mean"], ["logit_out"]),
    ]
    model = prob_model(n, extra_nodes=batch_mean)
    for node in model.graph.node:  # the classifier reads the scaled input
        node.input[:] = ["scaled" if i == "input" else i for i in node.input]
    model.graph.node.insert(0, scaler)
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    return model


def test_model_only_rpr002_fails_a_batch_dependent_model_whose_graph_states_its_scale(tmp_path):
    scorecard, ctx = evaluate(_save(_batch_mean_after_scaler(), tmp_path / "m.onnx"), select=["RPR002"])
    result = scorecard.check("RPR002")
    assert result.status == "fail", result.message
    sample = ctx.sample_frame
    assert 40 < float(np.mean(sample.to_numpy())) < 60  # rows drawn around the Scaler's offset (50, spread 10)


def test_model_only_checks_measure_without_a_verdict_when_the_graph_states_no_scale(tmp_path):
    scorecard, _ = evaluate(_save(prob_model(4), tmp_path / "m.onnx"), select=["ROB002", "RPR002"])
    for check_id in ("ROB002", "RPR002"):
        result = scorecard.check(check_id)
        assert result.status == "skip", (check_id, result.message)
        assert result.message.startswith("measured only")
        assert result.evidence["unscaled_columns"][:1] == ["input_0"]
    assert "flip_rate_upper" in scorecard.check("ROB002").measured
    assert "max_abs_diff" in scorecard.check("RPR002").measured


@pytest.mark.slow
def test_the_breast_cancer_example_is_released_model_only(_example_master: Path):
    scorecard, _ = evaluate(_example_master / "model.onnx")
    blocking = [(c.id, c.status, c.message) for c in scorecard.checks if c.id in scorecard.gate["blocking"]]
    assert scorecard.released, blocking
    for check_id in ("ROB002", "RPR002"):  # judged on rows drawn on the Scaler's scale, not skipped
        assert scorecard.check(check_id).status == "pass", scorecard.check(check_id).message


def test_model_only_rows_follow_the_graph_scale_for_every_feature(_example_master: Path):
    import onnx

    model = onnx.load(str(_example_master / "model.onnx"))
    scales = graph_scales(model, _spec(30))
    assert len(scales) == 30 and {s.source for s in scales.values()} == {"Scaler"}
    reference = pd.read_csv(_example_master / "reference.csv")
    radius = scales["input_0"]  # mean radius: centre ~14, spread ~3.5 (not 0 and 1)
    assert abs(radius.center - reference.iloc[:, 0].mean()) < 2 * radius.spread
    assert 1 < radius.spread < 10
