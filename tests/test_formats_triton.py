"""Triton `config.pbtxt` as `[serving].config`: one config that matches the model, three that do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import prob_model, sklearn_onnx, tabular_data, write_bundle
from click.testing import CliRunner
from formats_probes import probe_registry

from readiness.bundle import load_bundle
from readiness.cli import main
from readiness.engine import evaluate
from readiness.registry import default_registry

MATCHING = """\
name: "clf"
backend: "onnxruntime"
max_batch_size: 16
input [
  {
    name: "input"
    data_type: TYPE_FP32
    dims: [ 4 ]
  }
]
output [
  {
    name: "label"
    data_type: TYPE_INT64
    dims: [ 1 ]
  },
  {
    name: "probabilities"
    data_type: TYPE_FP32
    dims: [ 2 ]
  }
]
dynamic_batching { max_queue_delay_microseconds: 200 }
instance_group [ { count: 2, kind: KIND_CPU } ]
parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
"""


def static_batch_model():
    model = prob_model(4)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    return model


def triton_bundle(directory: Path, config: str, model=None) -> Path:
    write_bundle(directory, model, serving=False, manifest={"serving": {"config": "config.pbtxt"}})
    (directory / "config.pbtxt").write_text(config)
    return directory


def test_matching_config_becomes_the_serving_contract(tmp_path):
    bundle = load_bundle(triton_bundle(tmp_path / "b", MATCHING))
    serving = bundle.serving
    assert bundle.serving_format == "triton"
    # max_batch_size > 0: an implicit leading batch dimension
    assert serving.inputs[0].shape == [-1, 4]
    assert serving.inputs[0].dtype == "float32"
    assert serving.inputs[0].features == ["f0", "f1", "f2", "f3"]  # mapped from the reference columns
    assert serving.batching.max_batch_size == 16
    assert serving.runtime.intra_op_threads == 2
    assert [(o.name, o.kind) for o in serving.outputs] == [("label", "label"), ("probabilities", "probabilities")]
    triton = bundle.details["triton"]
    assert triton["dynamic_batching"] == {"max_queue_delay_microseconds": "200"}
    assert triton["instance_group"] == [{"count": 2, "kind": "KIND_CPU"}]


def test_matching_config_passes_the_contract_and_feeds_the_model(tmp_path):
    scorecard, _ = evaluate(triton_bundle(tmp_path / "b", MATCHING), registry=probe_registry())
    assert scorecard.check("ZCPA005").status == "pass", scorecard.check("ZCPA005").message
    assert scorecard.check("ZCPA001").status == "pass"
    assert scorecard.check("ZCPA001").measured["rows"] == len(tabular_data())
    assert scorecard.bundle["serving_format"] == "triton"
    assert scorecard.bundle["format_details"]["triton"]["max_batch_size"] == 16


MISMATCHES = {
    "wrong dims": (MATCHING.replace("dims: [ 4 ]", "dims: [ 5 ]"), None, "dim 1 is 5 but the graph has 4"),
    "wrong data type": (
        MATCHING.replace("data_type: TYPE_FP32\n    dims: [ 4 ]", "data_type: TYPE_FP64\n    dims: [ 4 ]"),
        None,
        "dtype float64",
    ),
    "max_batch_size with a static batch dimension": (
        MATCHING.replace("max_batch_size: 16", "max_batch_size: 8"),
        "static",
        "needs a dynamic batch axis",
    ),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_mismatching_configs_fail_the_contract(tmp_path, case):
    config, model, needle = MISMATCHES[case]
    model = static_batch_model() if model == "static" else None
    bundle = load_bundle(triton_bundle(tmp_path / "b", config, model))
    scorecard, _ = evaluate(bundle, registry=probe_registry(), select=["ZCPA005"])
    result = scorecard.check("ZCPA005")
    assert result.status == "fail"
    assert needle in result.message
    assert not scorecard.released


@pytest.mark.parametrize("case", [None, *MISMATCHES])
def test_sch001_judges_triton_configs(tmp_path, case):
    if "SCH001" not in default_registry():
        pytest.skip("SCH001 is not installed on this branch")
    config, model = (MATCHING, None) if case is None else MISMATCHES[case][:2]
    model = static_batch_model() if model == "static" else None
    scorecard, _ = evaluate(triton_bundle(tmp_path / "b", config, model), select=["SCH001"])
    assert scorecard.check("SCH001").status == ("pass" if case is None else "fail")


def test_zipmap_output_is_flagged_unservable(tmp_path):
    from sklearn.linear_model import LogisticRegression

    data = tabular_data()
    clf = LogisticRegression().fit(data[["f0", "f1", "f2", "f3"]].to_numpy(), data["label"])
    model = sklearn_onnx(clf, 4, zipmap=True)
    config = MATCHING.replace('"label"', '"output_label"').replace('"probabilities"', '"output_probability"')
    bundle = load_bundle(triton_bundle(tmp_path / "b", config, model))
    assert bundle.details["unservable_outputs"] == ["output_probability"]
    assert any("Triton cannot serve output(s) output_probability" in note for note in bundle.notes)
    if "SCH006" in default_registry():
        scorecard, _ = evaluate(bundle, select=["SCH006"])
        result = scorecard.check("SCH006")
        assert result.status == "fail" and "output_probability" in result.message
        assert "'zipmap': False" in result.remediation
        plain = load_bundle(triton_bundle(tmp_path / "c", MATCHING, sklearn_onnx(clf, 4, zipmap=False)))
        assert evaluate(plain, select=["SCH006"])[0].check("SCH006").status == "pass"


def _check_exit_2(bundle: Path) -> str:
    result = CliRunner().invoke(main, ["check", str(bundle)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def test_misspelt_field_names_its_line(tmp_path):
    out = _check_exit_2(triton_bundle(tmp_path / "b", MATCHING.replace("max_batch_size:", "max_batch:")))
    assert "config.pbtxt: line 3" in out
    assert 'no field named "max_batch"' in out


def test_missing_data_type_names_the_input_and_its_line(tmp_path):
    out = _check_exit_2(
        triton_bundle(tmp_path / "b", MATCHING.replace("    data_type: TYPE_FP32\n    dims: [ 4 ]", "    dims: [ 4 ]"))
    )
    assert "line 6: input 'input' data_type" in out
    assert "data_type is missing" in out


def test_syntax_error_names_its_line(tmp_path):
    out = _check_exit_2(triton_bundle(tmp_path / "b", MATCHING.replace("dims: [ 4 ]", "dims: [ 4 ")))
    assert "config.pbtxt: line 9" in out


def test_other_platform_is_refused(tmp_path):
    config = MATCHING.replace('backend: "onnxruntime"', 'platform: "tensorflow_savedmodel"')
    out = _check_exit_2(triton_bundle(tmp_path / "b", config))
    assert "line 2: platform" in out
    assert "onnxruntime_onnx" in out


def test_no_batching_means_dims_are_the_full_shape(tmp_path):
    config = MATCHING.replace("max_batch_size: 16", "max_batch_size: 0").replace("dims: [ 4 ]", "dims: [ -1, 4 ]")
    bundle = load_bundle(triton_bundle(tmp_path / "b", config))
    assert bundle.serving.inputs[0].shape == [-1, 4]
    assert bundle.serving.batching.max_batch_size == 1
