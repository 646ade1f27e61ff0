"""MLflow model directories, written by hand the way `mlflow.onnx.log_model` / `mlflow.sklearn.log_model` lay them out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from builders import sklearn_onnx, tabular_data
from click.testing import CliRunner
from formats_probes import probe_registry

from readiness.bundle import load_bundle
from readiness.cli import main
from readiness.engine import evaluate

FEATURES = ["f0", "f1", "f2", "f3"]


def mlflow_dir(
    directory: Path, *, signature: str = "columns", sklearn_flavor: bool = True, example: bool = True
) -> Path:
    """An MLflow model directory: MLmodel, model.onnx, model.skops, input_example.json."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    directory.mkdir(parents=True)
    data = tabular_data()
    clf = LogisticRegression().fit(data[FEATURES].to_numpy(np.float32), data["label"])
    (directory / "model.onnx").write_bytes(sklearn_onnx(clf, 4).SerializeToString())
    flavors: dict = {
        "onnx": {"code": None, "data": "model.onnx", "onnx_version": "1.17.0", "providers": ["CPUExecutionProvider"]},
        "python_function": {
            "data": "model.onnx",
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "loader_module": "mlflow.onnx",
            "python_version": "3.11.7",
        },
    }
    if sklearn_flavor:
        sio.dump(clf, directory / "model.skops")
        flavors["sklearn"] = {
            "code": None,
            "pickled_model": "model.skops",
            "serialization_format": "skops",
            "sklearn_version": "1.5.2",
        }
    if signature == "columns":
        inputs = [{"type": "double", "name": f, "required": True} for f in FEATURES]
        outputs = [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "label"}]
        rows = data[FEATURES].head(5)
        example_json = {"columns": FEATURES, "data": rows.to_numpy().tolist()}
        example_type = {"type": "dataframe", "pandas_orient": "split"}
    else:
        inputs = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "input"}]
        outputs = [
            {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "label"},
            {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}, "name": "probabilities"},
        ]
        example_json = {"inputs": data[FEATURES].head(5).to_numpy().tolist()}
        example_type = {"type": "ndarray", "format": "tf-serving"}
    mlmodel = {
        "artifact_path": "model",
        "flavors": flavors,
        "mlflow_version": "2.17.0",
        "model_size_bytes": 1234,
        "model_uuid": "0b9d3c52e6b14b5e9d1c0c2f5b1d2e3f",
        "run_id": "4c1f0e1d2b3a49f8a7e6d5c4b3a29180",
        "signature": {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "params": None},
        "utc_time_created": "2026-11-20 10:00:00.000000",
    }
    if example:
        (directory / "input_example.json").write_text(json.dumps(example_json))
        mlmodel["saved_input_example_info"] = {"artifact_path": "input_example.json", **example_type}
    (directory / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
    return directory


def test_column_signature_becomes_the_schema_and_the_example_the_sample(tmp_path):
    root = mlflow_dir(tmp_path / "mlruns" / "1" / "abc" / "artifacts" / "model")
    bundle = load_bundle(root)
    assert bundle.format == "mlflow"
    assert bundle.model_path == root / "model.onnx"
    assert bundle.source_path == root / "model.skops"
    assert list(bundle.schema.columns) == FEATURES
    assert str(bundle.schema.columns["f0"].dtype) == "float64"
    assert len(bundle.reference) == 5 and list(bundle.reference.columns) == FEATURES
    assert bundle.details["mlflow"]["run_id"] == "4c1f0e1d2b3a49f8a7e6d5c4b3a29180"

    scorecard, ctx = evaluate(root, registry=probe_registry())
    assert ctx.inputs[0].features == FEATURES  # the graph's [N, 4] input fed from the signature's columns
    assert scorecard.check("ZCPA001").status == "pass"
    assert scorecard.check("ZCPA001").measured["rows"] == 5
    assert scorecard.check("ZCPA002").status == "pass"  # schema from the signature
    assert scorecard.check("ZCPA004").status == "skip"  # the input example has no labels
    assert scorecard.bundle["format"] == "mlflow"
    assert scorecard.bundle["manifest"] == "MLmodel"


def test_tensor_signature_becomes_the_serving_contract(tmp_path):
    root = mlflow_dir(tmp_path / "model", signature="tensors", sklearn_flavor=False)
    bundle = load_bundle(root)
    assert bundle.serving.inputs[0].shape == [-1, 4] and bundle.serving.inputs[0].dtype == "float32"
    assert [o.kind for o in bundle.serving.outputs] == ["label", "probabilities"]
    assert bundle.source_path is None
    scorecard, _ = evaluate(root, registry=probe_registry())
    assert scorecard.check("ZCPA005").status == "pass"
    assert scorecard.check("ZCPA001").measured["rows"] == 5


def test_tensor_signature_that_disagrees_with_the_graph_fails_the_contract(tmp_path):
    root = mlflow_dir(tmp_path / "model", signature="tensors", example=False)
    mlmodel = yaml.safe_load((root / "MLmodel").read_text())
    mlmodel["signature"]["inputs"] = mlmodel["signature"]["inputs"].replace("float32", "float64")
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    scorecard, _ = evaluate(root, registry=probe_registry(), select=["ZCPA005"])
    assert scorecard.check("ZCPA005").status == "fail"
    assert "dtype float64" in scorecard.check("ZCPA005").message


def _exit_2(root: Path, *needles: str) -> None:
    result = CliRunner().invoke(main, ["check", str(root)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output


def test_a_sklearn_only_directory_is_refused_with_the_fix(tmp_path):
    root = mlflow_dir(tmp_path / "model")
    mlmodel = yaml.safe_load((root / "MLmodel").read_text())
    del mlmodel["flavors"]["onnx"]
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    _exit_2(root, "MLmodel: flavors.onnx", "no ONNX flavour", "mlflow.onnx.log_model")


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (lambda m: m["flavors"]["onnx"].update(data="missing.onnx"), ["flavors.onnx.data", "missing.onnx"]),
        (lambda m: m["signature"].update(inputs="[{not json"), ["signature.inputs", "not valid JSON"]),
        (
            lambda m: m["signature"].update(inputs='[{"type": "decimal", "name": "f0"}]'),
            ["signature.inputs[0].type", "decimal"],
        ),
    ],
)
def test_broken_mlmodel_names_the_key(tmp_path, edit, needles):
    root = mlflow_dir(tmp_path / "model")
    mlmodel = yaml.safe_load((root / "MLmodel").read_text())
    edit(mlmodel)
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    _exit_2(root, *needles)


def test_invalid_mlmodel_yaml_names_the_line(tmp_path):
    root = mlflow_dir(tmp_path / "model")
    (root / "MLmodel").write_text("flavors:\n  onnx: [unclosed\n")
    _exit_2(root, "MLmodel", "line")
