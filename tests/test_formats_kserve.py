"""A KServe InferenceService YAML as `[serving].config`."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import prob_model, tabular_data, write_bundle
from click.testing import CliRunner
from formats_probes import probe_registry

from readiness.bundle import load_bundle
from readiness.cli import main
from readiness.engine import evaluate

ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: clf
spec:
  predictor:
    minReplicas: 1
    timeout: 2
    batcher:
      maxBatchSize: 16
      maxLatency: 500
    model:
      modelFormat:
        name: onnx
      protocolVersion: v2
      storageUri: s3://models/clf
      resources:
        limits:
          cpu: "1"
          memory: 512Mi
"""


def kserve_bundle(directory: Path, text: str, model=None) -> Path:
    write_bundle(directory, model, serving=False, manifest={"serving": {"config": "isvc.yaml"}})
    (directory / "isvc.yaml").write_text(text)
    return directory


def test_inference_service_becomes_the_serving_config(tmp_path):
    bundle = load_bundle(kserve_bundle(tmp_path / "b", ISVC))
    assert bundle.serving_format == "kserve"
    serving = bundle.serving
    assert serving.batching.max_batch_size == 16
    assert serving.timeout_ms == 2000
    assert serving.resources.max_memory_mb == 512
    # the contract comes from the graph, with the reference columns mapped onto the input
    assert serving.inputs[0].name == "input" and serving.inputs[0].shape == [-1, 4]
    assert serving.inputs[0].features == ["f0", "f1", "f2", "f3"]
    kserve = bundle.details["kserve"]
    assert kserve["protocol"] == "v2" and kserve["batcher"]["maxLatency"] == 500


def test_kserve_bundle_runs_the_checks_the_same_way(tmp_path):
    scorecard, _ = evaluate(kserve_bundle(tmp_path / "b", ISVC), registry=probe_registry())
    assert scorecard.check("ZCPA005").status == "pass"
    assert scorecard.check("ZCPA001").measured["rows"] == len(tabular_data())
    assert scorecard.bundle["serving_format"] == "kserve"


def test_batching_on_a_static_batch_model_fails_the_contract(tmp_path):
    model = prob_model(4)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    scorecard, _ = evaluate(kserve_bundle(tmp_path / "b", ISVC, model), registry=probe_registry(), select=["ZCPA005"])
    assert scorecard.check("ZCPA005").status == "fail"
    assert "dynamic batch axis" in scorecard.check("ZCPA005").message


def test_batcher_without_size_uses_kserves_default(tmp_path):
    bundle = load_bundle(kserve_bundle(tmp_path / "b", ISVC.replace("      maxBatchSize: 16\n", "")))
    assert bundle.serving.batching.max_batch_size == 32


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("name: onnx", "name: sklearn", ["line 14", "modelFormat.name", "not ONNX"]),
        ("memory: 512Mi", "memory: lots", ["line 20", "limits.memory", "Kubernetes memory quantity"]),
        ("maxBatchSize: 16", "maxBatchSize: -4", ["line 10", "batcher.maxBatchSize", "not a positive number"]),
        ("serving.kserve.io/v1beta1", "serving.kubeflow.org/v1alpha2", ["line 1", "apiVersion"]),
    ],
)
def test_typical_mistakes_name_the_line(tmp_path, old, new, needles):
    bundle = kserve_bundle(tmp_path / "b", ISVC.replace(old, new))
    result = CliRunner().invoke(main, ["check", str(bundle)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output


def test_a_native_serving_yaml_is_not_mistaken_for_kserve(tmp_path):
    bundle = load_bundle(write_bundle(tmp_path / "b"))
    assert bundle.serving_format == "native"
