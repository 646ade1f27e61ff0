"""The MLflow evaluator: `mlflow.models.evaluate(..., evaluators=["readiness"])` against a local tracking store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

mlflow = pytest.importorskip("mlflow", reason="mlflow is in the test extra (readiness[mlflow])")
onnx = pytest.importorskip("onnx")

SELECT = ["ART", "SEC", "SCH", "QLT"]  # enough to judge the model on the data; keeps the test quick


@pytest.fixture(scope="module")
def logged(_example_master: Path, tmp_path_factory: pytest.TempPathFactory):
    """The example's ONNX model logged with mlflow.onnx.log_model to a sqlite store in a temporary directory."""
    tmp = tmp_path_factory.mktemp("mlflow")
    saved = {k: os.environ.get(k) for k in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    experiment = mlflow.create_experiment("readiness-test", artifact_location=(tmp / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    reference = pd.read_csv(_example_master / "reference.csv").drop(columns=["size_band"])
    features = reference.drop(columns=["label"]).astype("float32")
    with mlflow.start_run():
        info = mlflow.onnx.log_model(
            onnx.load(_example_master / "model.onnx"), name="breast-cancer", input_example=features.head(3).to_numpy()
        )
    yield info.model_uri, reference
    mlflow.set_tracking_uri(previous)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _evaluate(model_uri: str, data: pd.DataFrame, **config):
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(
            model_uri,
            data,
            targets="label",
            model_type="classifier",
            evaluators=["readiness"],
            evaluator_config={"readiness": {"select": SELECT, **config}},
        )
    return result, mlflow.MlflowClient().get_run(run.info.run_id)


def test_evaluator_logs_the_scorecard_the_scores_and_the_verdict(logged):
    model_uri, reference = logged
    result, run = _evaluate(model_uri, reference)
    assert result.metrics["readiness_released"] == 1.0
    assert result.metrics["readiness_quality"] == 1.0 and result.metrics["readiness_failed"] == 0.0
    assert run.data.metrics["readiness_released"] == 1.0  # logged to the run, not only returned
    assert run.data.tags["readiness.verdict"] == "RELEASED"
    paths = {f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id, "readiness")}
    assert paths == {"readiness/scorecard.json", "readiness/scorecard.html", "readiness/summary.md"}
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="readiness/scorecard.json"))
    card = json.loads(local.read_text(encoding="utf-8"))
    assert card["gate"]["released"] is True and card["model"]["name"] == "breast-cancer"
    qlt003 = next(c for c in card["checks"] if c["id"] == "QLT003")
    assert qlt003["status"] == "pass"  # the evaluation data's labels reached the quality checks
    assert result.artifacts["readiness_scorecard"].content == card
    assert "<html" in result.artifacts["readiness_scorecard_html"].content.lower()


def test_evaluator_blocks_a_model_that_is_wrong_on_the_evaluation_data(logged):
    model_uri, reference = logged
    flipped = reference.assign(label=1 - reference["label"])  # the model now scores worse than a coin
    result, run = _evaluate(model_uri, flipped)
    assert result.metrics["readiness_released"] == 0.0 and result.metrics["readiness_failed"] >= 1
    assert run.data.tags["readiness.verdict"] == "BLOCKED"
    assert "QLT003" in run.data.tags["readiness.blocking"].split(",")


def test_evaluator_refuses_unknown_config_keys(logged):
    model_uri, reference = logged
    with pytest.raises(mlflow.exceptions.MlflowException, match="unknown evaluator_config key.*selekt"):
        _evaluate(model_uri, reference.head(20), selekt=["ART"])
