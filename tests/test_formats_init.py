"""`readiness init`: a starter bundle from the breast-cancer model and CSV, then `readiness check` on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from formats_probes import probe_registry

from readiness.bundle import load_bundle
from readiness.cli import main
from readiness.engine import evaluate
from readiness.init import infer_tight_schema, schema_text

# Checks that cannot pass without a person's input to a generated bundle (an SLO, a model card, ...).
NEEDS_A_PERSON = {"LAT001", "LAT002", "LAT003", "LAT004", "ART003", "OPS001", "OPS002", "OPS003", "SCH005"}


@pytest.fixture
def fresh(example_bundle: Path, tmp_path: Path) -> Path:
    """Only the model and the CSV of the breast-cancer example, as a user would start."""
    out = tmp_path / "start"
    out.mkdir()
    shutil.copy(example_bundle / "model.onnx", out / "model.onnx")
    # a sample of the model's features and the label (the example's slice column is not a feature)
    pd.read_csv(example_bundle / "reference.csv").drop(columns=["size_band"]).to_csv(out / "holdout.csv", index=False)
    return out


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_init_then_check(fresh):
    code, out = invoke("init", str(fresh / "model.onnx"), "--data", str(fresh / "holdout.csv"), "--target", "label")
    assert code == 0, out
    for name in ("readiness.toml", "serving.yaml", "schema.yaml"):
        assert (fresh / name).is_file()
        assert f"wrote {fresh / name}" in out
    assert "review before relying on it" in out

    bundle = load_bundle(fresh)
    assert bundle.manifest.model.task == "binary_classification"
    assert (bundle.manifest.model.name, bundle.manifest.model.version) == ("breast-cancer", "1.0.0")  # metadata_props
    assert bundle.manifest.data.target == "label"
    assert bundle.serving.inputs[0].features == [c for c in bundle.reference.columns if c != "label"]
    assert [o.classes for o in bundle.serving.outputs] == [[0, 1], [0, 1]]
    bundle.schema.validate(bundle.reference, lazy=True)  # the sample validates against its own schema

    scorecard, _ = evaluate(fresh, registry=probe_registry())
    assert {c.id: c.status for c in scorecard.checks} == dict.fromkeys(
        ["ZCPA001", "ZCPA002", "ZCPA003", "ZCPA004", "ZCPA005"], "pass"
    )
    assert scorecard.released

    scorecard, _ = evaluate(fresh)  # every installed check
    assert scorecard.released or set(scorecard.gate["blocking"]) <= NEEDS_A_PERSON, scorecard.gate


def test_generated_schema_is_tight(fresh):
    invoke("init", str(fresh / "model.onnx"), "--data", str(fresh / "holdout.csv"), "--target", "label")
    bundle = load_bundle(fresh)
    row = bundle.reference.iloc[[0]].copy()
    row["mean_radius"] = bundle.reference["mean_radius"].max() * 3
    with pytest.raises(Exception, match="mean_radius"):
        bundle.schema.validate(row)
    label = bundle.reference.iloc[[0]].copy()
    label["label"] = 7
    with pytest.raises(Exception, match="label"):
        bundle.schema.validate(label)


def test_every_generated_value_is_commented(fresh):
    invoke("init", str(fresh / "model.onnx"), "--data", str(fresh / "holdout.csv"), "--target", "label")
    schema = (fresh / "schema.yaml").read_text()
    columns = pd.read_csv(fresh / "holdout.csv").columns
    for col in columns:
        assert f"  # {col}: dtype" in schema
    for name in ("serving.yaml", "readiness.toml"):
        for line in (fresh / name).read_text().splitlines():
            code = line.strip()
            if not code or code.startswith("#") or code.startswith("[") or code.endswith(":"):
                continue  # blank, a comment, or a section header
            assert " # " in line, f"{name}: uncommented value: {line}"


def test_init_refuses_to_overwrite_without_force(fresh):
    (fresh / "readiness.toml").write_text("# mine\n")
    code, out = invoke("init", str(fresh / "model.onnx"))
    assert code == 2
    assert "readiness.toml" in out and "--force" in out
    assert (fresh / "readiness.toml").read_text() == "# mine\n"
    code, out = invoke("init", str(fresh / "model.onnx"), "--force")
    assert code == 0, out
    assert "[serving]" in (fresh / "readiness.toml").read_text()


def test_init_without_data_writes_a_model_only_starter(fresh):
    code, out = invoke("init", str(fresh / "model.onnx"))
    assert code == 0, out
    assert not (fresh / "schema.yaml").exists()
    bundle = load_bundle(fresh)
    assert bundle.serving.inputs[0].features == [f"input_{i}" for i in range(30)]
    assert "placeholders" in out


def test_unknown_target_is_exit_2(fresh):
    code, out = invoke("init", str(fresh / "model.onnx"), "--data", str(fresh / "holdout.csv"), "--target", "y")
    assert code == 2
    assert "'y' is not in the data" in out


def test_nullability_and_categories_come_from_the_data():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 50),
            "income": np.where(rng.random(50) < 0.2, np.nan, rng.normal(50, 10, 50)),
            "city": rng.choice(["paris", "lyon", "nice"], 50),
            "y": rng.integers(0, 3, 50),
        }
    )
    schema, comments, _ = infer_tight_schema(frame, target="y", source="s.csv")
    assert schema.columns["income"].nullable and not schema.columns["age"].nullable
    city = schema.columns["city"].checks[0]
    assert sorted(city.statistics["allowed_values"]) == ["lyon", "nice", "paris"]
    age = schema.columns["age"].checks[0].statistics
    assert age["min_value"] <= frame["age"].min() and age["max_value"] >= frame["age"].max()
    assert isinstance(age["min_value"], int)
    assert schema.columns["y"].required is False
    schema.validate(frame)
    text = schema_text(schema, comments, "s.csv", len(frame))
    assert "nullable: true (" in text and "3 categories enumerated" in text


def test_a_sample_with_more_columns_than_the_model_reads_is_flagged_for_review(fresh, example_bundle):
    """The example's reference has a slice column the model never reads: init cannot guess the features."""
    import shutil

    shutil.copy(example_bundle / "reference.csv", fresh / "holdout.csv")  # 30 features + size_band + label
    code, out = invoke("init", str(fresh / "model.onnx"), "--data", str(fresh / "holdout.csv"), "--target", "label")
    assert code == 0, out
    assert "input input takes 30 values per row but the sample has 31 columns besides the target" in out
    assert "# features: [...]  # TODO: the 30 columns the model reads" in (fresh / "serving.yaml").read_text()
