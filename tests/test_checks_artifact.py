"""ART001-ART004: each with a model that has the defect (fail) and one that does not (pass)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest
from builders import prob_model, run_check, serving_config, write_bundle
from click.testing import CliRunner
from onnx import helper

from readiness.cli import main


def custom_op_model() -> onnx.ModelProto:
    model = prob_model(extra_nodes=[helper.make_node("MyOp", ["logit"], ["logit_out"], domain="com.acme")])
    model.opset_import.append(helper.make_opsetid("com.acme", 1))
    return model


# --------------------------------------------------------------------------- ART001
def test_art001_passes_a_valid_model(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "ART001")
    assert rec.status == "pass", rec.message
    assert rec.measured["checker"] == "full_check passed"
    assert rec.measured["opsets"] == {"ai.onnx": 17}


@pytest.mark.parametrize(
    "content, needle",
    [
        (prob_model().SerializeToString()[:57], "not a readable ONNX model"),
        (b"this is not a protobuf at all \xff\xfe", "not a readable ONNX model"),
    ],
    ids=["truncated", "not-onnx"],
)
def test_art001_fails_a_broken_file_and_the_report_is_still_written(tmp_path, content, needle):
    bundle = write_bundle(tmp_path / "b", content)
    out = tmp_path / "card.json"
    result = CliRunner().invoke(main, ["check", str(bundle), "--select", "ART,SEC", "--json", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    checks = {c["id"]: c for c in json.loads(out.read_text())["checks"]}
    assert checks["ART001"]["status"] == "fail" and needle in checks["ART001"]["message"]
    assert "ART001" in json.loads(out.read_text())["gate"]["blocking"]


def test_art001_fails_a_model_the_checker_rejects(tmp_path):
    broken = prob_model(extra_nodes=[helper.make_node("Add", ["logit", "nowhere"], ["logit_out"])])
    rec = run_check(write_bundle(tmp_path / "b", broken), "ART001")
    assert rec.status == "fail"
    assert "onnx.checker (full check) rejects" in rec.message and "nowhere" in rec.message


def test_art001_fails_a_model_onnxruntime_refuses(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b", custom_op_model()), "ART001")
    assert rec.status == "fail"
    assert "onnx.checker passed, but" in rec.message and "cannot be loaded by onnxruntime" in rec.message


# --------------------------------------------------------------------------- ART002
def test_art002_passes_supported_opsets(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b", prob_model(ml_opset=3)), "ART002")
    assert rec.status == "pass", rec.message
    assert rec.measured["opsets"] == {"ai.onnx": 17, "ai.onnx.ml": 3}
    low, high = rec.measured["supported"]["ai.onnx"]
    assert low <= 17 <= high


@pytest.mark.parametrize("kw, needle", [({"opset": 60}, "ai.onnx v60"), ({"ml_opset": 42}, "ai.onnx.ml v42")])
def test_art002_fails_an_opset_beyond_the_runtime(tmp_path, kw, needle):
    rec = run_check(write_bundle(tmp_path / "b", prob_model(**kw)), "ART002")
    assert rec.status == "fail"
    assert needle in rec.message and "supported by onnxruntime" in rec.message


def test_art002_fails_a_custom_domain(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b", custom_op_model()), "ART002")
    assert rec.status == "fail" and "com.acme v1" in rec.message and "SEC003" in rec.message


def test_art002_is_inconclusive_when_the_declared_runtime_is_not_installed(tmp_path):
    serving = serving_config(runtime={"version": "<1.0", "providers": ["CPUExecutionProvider"]})
    rec = run_check(write_bundle(tmp_path / "b", serving=serving), "ART002")
    assert rec.status == "inconclusive"
    assert "'<1.0'" in rec.message and rec.measured["declared_runtime"] == "<1.0"


# --------------------------------------------------------------------------- ART003
def test_art003_passes_complete_consistent_metadata(tmp_path):
    model = prob_model(metadata={"name": "test-model", "version": "1.0.0"})
    rec = run_check(write_bundle(tmp_path / "b", model), "ART003")
    assert rec.status == "pass", rec.message
    assert rec.measured["producer_name"] == "readiness-tests"


def test_art003_fails_when_metadata_disagrees_with_the_manifest(tmp_path):
    model = prob_model(metadata={"name": "another-model", "version": "1.0.0"})
    rec = run_check(write_bundle(tmp_path / "b", model), "ART003")
    assert rec.status == "fail"
    assert "name='another-model'" in rec.message and "[model].name='test-model'" in rec.message
    assert "version" not in rec.message.replace("model_version", "")


def test_art003_fails_when_producer_version_and_description_are_missing(tmp_path):
    model = prob_model(producer="", doc="")
    model.model_version = 0
    rec = run_check(write_bundle(tmp_path / "b", model), "ART003")
    assert rec.status == "fail"
    for what in ("producer", "version", "description"):
        assert what in rec.message


# --------------------------------------------------------------------------- ART004
def _with_budget(mb: float | None) -> dict:
    return serving_config(resources={"max_model_mb": mb} if mb else {})


def test_art004_passes_within_budget_and_records_sha256(tmp_path):
    bundle = write_bundle(tmp_path / "b", serving=_with_budget(1))
    rec = run_check(bundle, "ART004")
    assert rec.status == "pass", rec.message
    data = (bundle / "model.onnx").read_bytes()
    assert rec.measured["sha256"] == hashlib.sha256(data).hexdigest()
    assert rec.measured["size_bytes"] == len(data) and rec.measured["budget_mb"] == 1


def test_art004_fails_over_budget(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b", serving=_with_budget(0.0001)), "ART004")
    assert rec.status == "fail" and "exceeds resources.max_model_mb = 0.0001 MiB" in rec.message


def test_art004_without_a_budget_passes_and_still_measures(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b", serving=_with_budget(None)), "ART004")
    assert rec.status == "pass" and "no budget declared" in rec.message
    assert len(rec.measured["sha256"]) == 64 and rec.measured["size_bytes"] > 0


def test_art004_counts_external_data_inside_the_bundle(tmp_path):
    bundle = write_bundle(tmp_path / "b", serving=_with_budget(1))
    model = prob_model()
    onnx.save_model(model, bundle / "model.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    rec = run_check(bundle, "ART004")
    expected = (bundle / "model.onnx").stat().st_size + (bundle / "w.bin").stat().st_size
    assert rec.status == "pass" and rec.measured["size_bytes"] == expected
    assert set(rec.evidence["files"]) == {"model.onnx", "w.bin"}


# --------------------------------------------------------------------------- models no one here wrote
ONNX_TEST_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("simple/test_single_relu_model", "pass"),
        ("simple/test_sign_model", "pass"),
        ("pytorch-converted/test_AvgPool2d", "fail"),  # an opset-1 AveragePool onnxruntime has no kernel for
    ],
)
def test_art001_on_models_shipped_with_onnx(tmp_path, name, expected):
    source = ONNX_TEST_DATA / name / "model.onnx"
    if not source.exists():
        pytest.skip(f"{source} is not in this onnx wheel")
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(source.read_bytes())
    (bundle / "readiness.toml").write_text('[model]\npath = "model.onnx"\n')
    rec = run_check(bundle, "ART001")
    assert rec.status == expected, rec.message
    if expected == "fail":
        assert "onnx.checker passed, but" in rec.message


def test_art001_skips_a_missing_provider_unless_required(tmp_path):
    runtime = {"providers": ["NoSuchExecutionProvider"]}
    rec = run_check(write_bundle(tmp_path / "a", serving=serving_config(runtime=runtime)), "ART001")
    assert rec.status == "skip" and "NoSuchExecutionProvider" in rec.message
    required = {**runtime, "required_providers": True}
    rec = run_check(write_bundle(tmp_path / "b", serving=serving_config(runtime=required)), "ART001")
    assert rec.status == "fail" and "required" in rec.message
