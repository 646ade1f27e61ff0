"""`readiness init` needs no hand edits for one-input-per-column models, and `--source` declares the
source model so that RPR003 runs; bad `--source` values are one-line exit-2 errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from readiness.bundle import load_bundle
from readiness.cli import main
from readiness.engine import evaluate

COLUMNS = ["age", "income", "tenure"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def per_column_model() -> onnx.ModelProto:
    """One [N, 1] input per column, named like the column (as skl2onnx exports a ColumnTransformer)."""
    w = numpy_helper.from_array(np.array([[0.5], [-0.2], [0.1]], dtype=np.float32), "w")
    nodes = [
        helper.make_node("Concat", COLUMNS, ["x"], axis=1),
        helper.make_node("MatMul", ["x", "w"], ["variable"]),
    ]
    graph = helper.make_graph(
        nodes,
        "per_column",
        [helper.make_tensor_value_info(c, TensorProto.FLOAT, ["N", 1]) for c in COLUMNS],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture
def per_column(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.uniform(0, 10, 60).round(3) for c in COLUMNS})
    frame["label"] = (frame.to_numpy() @ np.array([0.5, -0.2, 0.1])).round(4)
    (tmp_path / "model.onnx").write_bytes(per_column_model().SerializeToString())
    frame.to_csv(tmp_path / "sample.csv", index=False)
    return tmp_path


def test_one_input_per_column_needs_no_hand_edit(per_column):
    code, out = invoke("init", per_column / "model.onnx", "--data", per_column / "sample.csv", "--target", "label")
    assert code == 0, out
    assert "values per row" not in out and "features" not in out.split("review before relying on it")[-1]
    assert "fed from the sample's column of the same name" in (per_column / "serving.yaml").read_text()
    card, _ = evaluate(per_column, select=["SCH001", "SCH002", "SCH003", "SCH004", "RPR002"])
    assert {c.id: c.status for c in card.checks} == dict.fromkeys(
        ["RPR002", "SCH001", "SCH002", "SCH003", "SCH004"], "pass"
    )


def test_source_declares_the_source_model_so_rpr003_runs(tmp_path: Path):
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 3)).astype(np.float32), columns=COLUMNS)
    y = (X["age"] + 0.3 * X["income"] > 0).astype(int)
    clf = LogisticRegression().fit(X.to_numpy(), y)
    (tmp_path / "model.onnx").write_bytes(to_onnx(clf, X.to_numpy()[:1], options={"zipmap": False}).SerializeToString())
    sio.dump(clf, tmp_path / "model.skops")
    X.assign(label=y).to_csv(tmp_path / "sample.csv", index=False)
    code, out = invoke(
        "init", tmp_path / "model.onnx", "--data", tmp_path / "sample.csv", "--target", "label",
        "--source", tmp_path / "model.skops",
    )  # fmt: skip
    assert code == 0, out
    assert load_bundle(tmp_path).manifest.model.source == "model.skops"
    card, _ = evaluate(tmp_path, select=["RPR003", "SEC002"])
    assert card.check("RPR003").status == "pass", card.check("RPR003").message
    assert "model.skops" in card.check("RPR003").message


@pytest.mark.parametrize(
    "name, needle",
    [
        ("missing.skops", "--source: no such file"),
        ("other.onnx", "--source: .onnx is not a source model format readiness loads"),
        ("../outside.skops", "--source: the source model is outside the bundle directory"),
    ],
)
def test_a_bad_source_is_exit_2_naming_the_option(per_column: Path, name: str, needle: str):
    target = per_column / name
    if name != "missing.skops":
        target.write_bytes(b"x")
    code, out = invoke("init", per_column / "model.onnx", "--source", target)
    assert code == 2 and needle in out, out
    assert not (per_column / "readiness.toml").exists()
