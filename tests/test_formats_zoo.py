"""Models nobody here wrote (the onnx wheel's backend test data, onnxruntime.datasets) through a model-only run.

A handful run here (the whole sweep is `benchmarks/onnx_zoo.py`): nothing escapes the
engine, every result has a valid status, and unsupported or value-sensitive models come
out as findings.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from readiness.config import InputSpec
from readiness.registry import STATUSES
from readiness.runtime import to_feeds
from readiness.synth import from_inputs

ROOT = Path(__file__).resolve().parent.parent


def _zoo():
    spec = importlib.util.spec_from_file_location("onnx_zoo", ROOT / "benchmarks" / "onnx_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zoo = _zoo()
MODELS = dict(zoo.zoo_models())
HANDFUL = [
    "simple/test_single_relu_model",  # loads and scores
    "pytorch-converted/test_Conv2d",  # a 4-D input: rows are per-request tensors
    "pytorch-converted/test_AvgPool1d",  # an opset onnxruntime no longer implements: a finding
    "simple/test_expand_shape_model1",  # an input whose values are a shape: synthetic values break it
    "pytorch-operator/test_operator_sqrt",  # NaN on negative synthetic inputs: a finding
    "onnxruntime.datasets/logreg_iris.onnx",  # fixed batch of 3 and a ZipMap output
]


def test_the_zoo_is_there():
    assert len(MODELS) > 140
    assert set(HANDFUL) <= set(MODELS)


@pytest.mark.parametrize("name", HANDFUL)
def test_nothing_escapes_and_every_status_is_valid(name):
    result = zoo.run_one(MODELS[name], timeout_s=60, check_timeout_s=30)
    assert result["outcome"] in ("released", "blocked"), result.get("traceback")
    assert result["model_only"] is True
    assert all(status in STATUSES for status in result["statuses"].values())


def test_engine_probes_turn_broken_models_into_findings():
    reg = zoo.engine_probes()
    results = {name: zoo.run_one(MODELS[name], timeout_s=60, check_timeout_s=30, registry=reg) for name in HANDFUL}
    assert all(r["outcome"] in ("released", "blocked") for r in results.values())
    assert results["simple/test_single_relu_model"]["statuses"] == {"ZOOA001": "pass", "ZOOA002": "pass"}
    assert results["pytorch-converted/test_Conv2d"]["statuses"]["ZOOA002"] == "pass"
    assert results["onnxruntime.datasets/logreg_iris.onnx"]["statuses"]["ZOOA002"] == "pass"
    old = results["pytorch-converted/test_AvgPool1d"]
    assert old["statuses"]["ZOOA001"] == "error" and "ART001" in old["messages"]["ZOOA001"]
    assert results["pytorch-operator/test_operator_sqrt"]["statuses"]["ZOOA002"] == "fail"
    assert results["simple/test_expand_shape_model1"]["statuses"]["ZOOA002"] == "error"
    summary = zoo.summarise(results)
    assert summary["escaped"] == {}
    assert summary["outcomes"] == {"released": 3, "blocked": 3}
    assert summary["blocked_by"] == {"ZOOA002": 3, "ZOOA001": 1}


def test_n_d_inputs_are_synthesised_as_one_tensor_per_row():
    specs = [
        InputSpec(name="image", dtype="float32", shape=[-1, 3, 8, 8]),
        InputSpec(name="n", dtype="int64", shape=[-1]),
    ]
    frame = from_inputs(specs, 5, np.random.default_rng(0))
    feeds = to_feeds(frame, specs)
    assert feeds["image"].shape == (5, 3, 8, 8) and feeds["image"].dtype == np.float32
    assert feeds["n"].shape == (5,)


def test_an_input_without_a_batch_axis_is_fed_whole_one_request_at_a_time():
    spec = InputSpec(name="x", dtype="float32", shape=[3, 2])
    frame = from_inputs([spec], 256, np.random.default_rng(0))
    assert len(frame) <= 16
    assert to_feeds(frame.head(1), [spec])["x"].shape == (3, 2)
    with pytest.raises(ValueError, match="no batch axis"):
        to_feeds(frame.head(2), [spec])


def test_synthesised_tensors_are_bounded_in_memory():
    spec = InputSpec(name="image", dtype="float32", shape=[-1, 3, 224, 224])
    frame = from_inputs([spec], 256, np.random.default_rng(0))
    assert len(frame) * 3 * 224 * 224 <= 2_000_000
    assert len(frame) >= 1
