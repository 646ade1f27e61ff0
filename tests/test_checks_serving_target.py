"""The serving target's own limits: ART005 (opsets/IR the declared onnxruntime loads) and SCH006 (tensor outputs)."""

from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest
from builders import serving_config, sklearn_onnx, tabular_data, write_bundle
from test_formats_kserve import ISVC, kserve_bundle
from test_formats_triton import MATCHING, triton_bundle

from readiness import evaluate
from readiness.checks._onnx_facts import runtime_opset_range
from readiness.checks._runtime_releases import RELEASES, admitted, release_of


def run_check(bundle, check_id: str):
    card, _ = evaluate(bundle, select=[check_id])
    return card.check(check_id)


@pytest.fixture(scope="module")
def forest():
    from sklearn.ensemble import RandomForestClassifier

    data = tabular_data()
    return RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(
        data[["f0", "f1", "f2", "f3"]].to_numpy(), data["label"]
    )


def _ir_loads(ir: int) -> bool:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = ir
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    try:
        ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any refusal means "not loadable"
        return False
    return True


# --------------------------------------------------------------------------- the release table
def test_installed_onnxruntime_agrees_with_its_own_row():
    row = release_of(ort.__version__)
    assert row is not None, f"the release table has no row for the installed onnxruntime {ort.__version__}: add it"
    for domain in ("ai.onnx", "ai.onnx.ml"):
        assert runtime_opset_range(domain)[1] == row.max_opset[domain], domain
    assert _ir_loads(row.max_ir) and not _ir_loads(row.max_ir + 1)


def test_table_only_grows_with_the_release():
    rows = sorted(RELEASES, key=lambda r: r.key)
    for older, newer in zip(rows, rows[1:], strict=False):
        assert newer.max_ir >= older.max_ir
        for domain, limit in older.max_opset.items():
            assert newer.max_opset[domain] >= limit, (older.version, newer.version, domain)


@pytest.mark.parametrize(
    ("spec", "oldest"),
    [(">=1.17", "1.17"), ("1.16", "1.16"), ("==1.16.3", "1.16"), ("~=1.18.0", "1.18"), (">1.17.3", "1.17")],
)
def test_specifiers_are_judged_by_the_oldest_release_they_admit(spec, oldest):
    assert next(admitted(spec)).version == oldest


# --------------------------------------------------------------------------- ART005
def _with_ml_opset(model: onnx.ModelProto, version: int) -> onnx.ModelProto:
    for op in model.opset_import:
        if op.domain == "ai.onnx.ml":
            op.version = version
    return model


def test_art005_fails_an_ml_opset_the_declared_runtime_cannot_load(tmp_path, forest):
    model = _with_ml_opset(sklearn_onnx(forest, 4), 4)  # ai.onnx.ml 4 first loads in onnxruntime 1.17
    cfg = serving_config(runtime={"version": "==1.16.3"})
    result = run_check(write_bundle(tmp_path / "old", model, serving=cfg), "ART005")
    assert result.status == "fail", result.message
    assert "ai.onnx.ml v4 needs onnxruntime >= 1.17" in result.message and "1.16" in result.message
    assert result.measured["judged_release"] == "1.16"

    cfg = serving_config(runtime={"version": ">=1.17"})
    result = run_check(write_bundle(tmp_path / "ok", model, serving=cfg), "ART005")
    assert result.status == "pass", result.message


def test_art005_fails_an_ir_version_the_declared_runtime_cannot_load(tmp_path, forest):
    model = sklearn_onnx(forest, 4)
    model.ir_version = 10  # first loads in onnxruntime 1.18
    cfg = serving_config(runtime={"version": ">=1.16"})
    result = run_check(write_bundle(tmp_path / "b", model, serving=cfg), "ART005")
    assert result.status == "fail" and "IR version 10 needs onnxruntime >= 1.18" in result.message


def test_art005_passes_the_example(example_bundle):
    result = run_check(example_bundle, "ART005")
    assert result.status == "pass", result.message


def test_art005_without_a_declared_version_or_past_the_table(tmp_path):
    assert run_check(write_bundle(tmp_path / "none"), "ART005").status == "skip"
    cfg = serving_config(runtime={"version": ">=9.0"})
    assert run_check(write_bundle(tmp_path / "future", serving=cfg), "ART005").status == "inconclusive"


# --------------------------------------------------------------------------- SCH006
def test_sch006_fails_a_zipmap_classifier_served_by_triton_and_names_the_converter_option(tmp_path, forest):
    config = MATCHING.replace('"label"', '"output_label"').replace('"probabilities"', '"output_probability"')
    result = run_check(triton_bundle(tmp_path / "zip", config, sklearn_onnx(forest, 4, zipmap=True)), "SCH006")
    assert result.status == "fail" and "output_probability" in result.message and "Triton" in result.message
    card, _ = evaluate(
        triton_bundle(tmp_path / "zip2", config, sklearn_onnx(forest, 4, zipmap=True)), select=["SCH006"]
    )
    assert "'zipmap': False" in card.check("SCH006").remediation

    result = run_check(triton_bundle(tmp_path / "plain", MATCHING, sklearn_onnx(forest, 4)), "SCH006")
    assert result.status == "pass", result.message


def test_sch006_fails_a_zipmap_classifier_served_by_kserve(tmp_path, forest):
    result = run_check(kserve_bundle(tmp_path / "zip", ISVC, sklearn_onnx(forest, 4, zipmap=True)), "SCH006")
    assert result.status == "fail" and "KServe" in result.message
    assert run_check(kserve_bundle(tmp_path / "ok", ISVC, sklearn_onnx(forest, 4)), "SCH006").status == "pass"


def test_sch006_reports_but_does_not_judge_a_native_config(tmp_path, forest):
    cfg = serving_config(
        outputs=[
            {"name": "output_label", "kind": "label", "classes": [0, 1]},
            {"name": "output_probability", "kind": "probabilities", "classes": [0, 1]},
        ]
    )
    result = run_check(write_bundle(tmp_path / "b", sklearn_onnx(forest, 4, zipmap=True), serving=cfg), "SCH006")
    assert result.status == "pass" and result.measured["non_tensor_outputs"] == ["output_probability"]
