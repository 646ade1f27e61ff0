"""An MLflow model evaluator: `mlflow.models.evaluate(model_uri, data, evaluators=["readiness"])`.

Registered under MLflow's `mlflow.model_evaluator` entry point as "readiness" (install
`readiness[mlflow]`). The evaluator downloads the model's directory, reads it as readiness reads
any MLflow model (its ONNX flavour is the model checked; see readiness/formats/mlflow.py), takes
the evaluation data (with its targets, when given) as the labelled reference sample, runs the
checks, and logs to the evaluation run:

- artifacts `readiness/scorecard.json`, `readiness/scorecard.html`, `readiness/summary.md`;
- metrics `readiness_released` (1 or 0), `readiness_overall`, `readiness_<category>`,
  `readiness_mlts_score`, `readiness_failed` (checks failing, erroring or inconclusive);
- tags `readiness.verdict` (RELEASED or BLOCKED) and `readiness.blocking`.

The same metrics are the EvaluationResult's metrics (`result.metrics["readiness_released"]`)
and the scorecards its artifacts. `evaluator_config` keys: `select`, `ignore`, `fail_on`,
`seed`, `thresholds` (as `[policy.thresholds]`), `name`, `version`, `task`, `model_uri` (where
the model is, when MLflow cannot tell: a model loaded from a local path).
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.models.evaluation import EvaluationResult, ModelEvaluator
from mlflow.models.evaluation.artifacts import JsonEvaluationArtifact, TextEvaluationArtifact

CONFIG_KEYS = ("select", "ignore", "fail_on", "seed", "thresholds", "name", "version", "task", "model_uri")
ARTIFACT_DIR = "readiness"
REFERENCE_FILE = "readiness-evaluation-data.parquet"
_logger = logging.getLogger(__name__)


def _error(message: str) -> MlflowException:
    return MlflowException(f"readiness evaluator: {message}", error_code="INVALID_PARAMETER_VALUE")


def _model_uri(model: Any, config: dict[str, Any], model_id: str | None) -> str:
    if config.get("model_uri"):
        return str(config["model_uri"])
    meta = getattr(model, "metadata", None)
    model_id = model_id or getattr(meta, "model_id", None)
    if model_id:
        return f"models:/{model_id}"
    if meta is not None and getattr(meta, "run_id", None) and getattr(meta, "artifact_path", None):
        path = str(meta.artifact_path)
        return path if "://" in path else f"runs:/{meta.run_id}/{path}"
    raise _error("cannot tell where the model's files are; pass evaluator_config={'readiness': {'model_uri': ...}}")


def _logged_name(uri: str) -> str | None:
    """The name the model was logged under (`mlflow.<flavor>.log_model(name=...)`), when MLflow knows it."""
    if not uri.startswith("models:/m-"):
        return None
    import mlflow

    try:
        return str(mlflow.get_logged_model(uri.removeprefix("models:/")).name) or None
    except Exception:  # noqa: BLE001 - a name is a nicety; the directory name stands in
        return None


def _task(model_type: str | None, labels: Any, config: dict[str, Any]) -> str | None:
    if config.get("task"):
        return str(config["task"])
    if model_type == "regressor":
        return "regression"
    if model_type == "classifier" and labels is not None:
        import pandas as pd

        return "binary_classification" if pd.Series(labels).nunique() <= 2 else "multiclass_classification"
    return None


def _reference(dataset: Any) -> tuple[Any, str | None]:
    """The evaluation data as a labelled DataFrame (features + target column), and the target's name."""
    import pandas as pd

    features = dataset.features_data
    frame = features.copy() if isinstance(features, pd.DataFrame) else pd.DataFrame(features)
    if not isinstance(features, pd.DataFrame) and dataset.feature_names:
        frame.columns = list(dataset.feature_names)
    frame.columns = [str(c) for c in frame.columns]
    target = None
    if dataset.has_targets:
        target = str(dataset.targets_name or "target")
        if target in frame.columns:
            raise _error(f"the target name {target!r} is also a feature column; name the targets differently")
        frame[target] = list(dataset.labels_data)
    return frame, target


def _metrics(card: Any) -> dict[str, float]:
    out = {"readiness_released": 1.0 if card.released else 0.0}
    scores = card.scores or {}
    if isinstance(scores.get("overall"), (int, float)):
        out["readiness_overall"] = float(scores["overall"])
    for name, value in (scores.get("categories") or {}).items():
        if isinstance(value, (int, float)):
            out[f"readiness_{name}"] = float(value)
    mlts = scores.get("mlts") or {}
    if isinstance(mlts.get("score"), (int, float)):
        out["readiness_mlts_score"] = float(mlts["score"])
    counts = card.counts()
    out["readiness_failed"] = float(sum(counts.get(s, 0) for s in ("fail", "error", "inconclusive")))
    return out


class ReadinessEvaluator(ModelEvaluator):
    """Runs the readiness checks on an MLflow model with an ONNX flavour (see the module docstring)."""

    name = "readiness"

    @classmethod
    def can_evaluate(cls, *, model_type: Any, evaluator_config: Any, **kwargs: Any) -> bool:
        return True  # any task; a model without an ONNX flavour is declined in evaluate() with a warning

    def evaluate(
        self,
        *,
        model_type: Any,
        dataset: Any,
        run_id: str,
        evaluator_config: dict[str, Any] | None,
        model: Any = None,
        extra_metrics: Any = None,
        custom_artifacts: Any = None,
        predictions: Any = None,
        **kwargs: Any,
    ) -> EvaluationResult | None:
        import mlflow
        from mlflow.tracking import MlflowClient

        from .. import reports
        from ..engine import evaluate
        from ..errors import BundleError
        from ..formats import load_special
        from ..reports.terminal import verdict_line

        config = dict(evaluator_config or {})
        unknown = sorted(set(config) - set(CONFIG_KEYS))
        if unknown:
            raise _error(f"unknown evaluator_config key(s) {', '.join(unknown)}; known: {', '.join(CONFIG_KEYS)}")
        if model is None:
            raise _error("needs a model (an MLflow model URI with an ONNX flavour), not only predictions")
        uri = _model_uri(model, config, kwargs.get("model_id"))
        with tempfile.TemporaryDirectory(prefix="readiness-mlflow-") as tmp:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
            try:
                bundle = load_special(local, trust=False)
            except BundleError as exc:
                if "flavors.onnx" in str(exc):  # not ours to judge: decline, as MLflow expects of a plug-in
                    warnings.warn(f"readiness evaluator skipped {uri}: {exc}", stacklevel=2)
                    return None
                raise _error(str(exc)) from None
            if bundle is None:
                raise _error(f"{uri} is not an MLflow model directory (no MLmodel file)")
            frame, target = _reference(dataset)
            frame.to_parquet(local / REFERENCE_FILE, index=False)
            bundle.reference, bundle.reference_path = frame, local / REFERENCE_FILE
            model_section = bundle.manifest.model
            model_section.name = str(config.get("name") or _logged_name(uri) or model_section.name)
            if config.get("version") is not None:
                model_section.version = str(config["version"])
            model_section.task = _task(model_type, dataset.labels_data if target else None, config)  # type: ignore[assignment]
            bundle.manifest.data.target = target
            if config.get("thresholds"):
                bundle.manifest.policy.thresholds = {**bundle.manifest.policy.thresholds, **dict(config["thresholds"])}
            bundle.notes.append(f"the evaluation data ({len(frame)} rows) is the reference sample")
            bundle.details.setdefault("mlflow", {})["model_uri"] = uri
            select = config.get("select")
            card, _ = evaluate(
                bundle,
                seed=int(config.get("seed", 0)),
                select=[select] if isinstance(select, str) else select,
                ignore=[config["ignore"]] if isinstance(config.get("ignore"), str) else config.get("ignore") or [],
                fail_on=config.get("fail_on"),
            )
            out = Path(tmp) / "report"
            out.mkdir()
            files = {"json": "scorecard.json", "html": "scorecard.html", "markdown": "summary.md"}
            for fmt, name in files.items():
                reports.write(fmt, card, out / name)
            client = MlflowClient()
            client.log_artifacts(run_id, str(out), artifact_path=ARTIFACT_DIR)
            metrics = _metrics(card)
            for key, value in metrics.items():
                client.log_metric(run_id, key, value)
            client.set_tag(run_id, "readiness.verdict", "RELEASED" if card.released else "BLOCKED")
            client.set_tag(run_id, "readiness.blocking", ",".join(card.gate.get("blocking", []))[:5000])
            base = client.get_run(run_id).info.artifact_uri.rstrip("/") + f"/{ARTIFACT_DIR}"
            artifacts = {
                "readiness_scorecard": JsonEvaluationArtifact(
                    uri=f"{base}/scorecard.json", content=json.loads((out / "scorecard.json").read_text())
                ),
                "readiness_scorecard_html": TextEvaluationArtifact(
                    uri=f"{base}/scorecard.html", content=(out / "scorecard.html").read_text(encoding="utf-8")
                ),
                "readiness_summary": TextEvaluationArtifact(
                    uri=f"{base}/summary.md", content=(out / "summary.md").read_text(encoding="utf-8")
                ),
            }
            _logger.info("readiness: %s", verdict_line(card))
        return EvaluationResult(metrics=metrics, artifacts=artifacts, run_id=run_id)
