"""`readiness check model.onnx`: a model-only run on a scikit-learn export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from builders import sklearn_onnx
from click.testing import CliRunner
from formats_probes import probe_registry

from readiness.cli import main
from readiness.engine import evaluate
from readiness.registry import STATUSES


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("model-only") / "clf.onnx"
    path.write_bytes(sklearn_onnx(model, 5).SerializeToString())
    return path


def test_model_only_run_says_so_and_runs_what_the_model_alone_allows(sklearn_model):
    scorecard, ctx = evaluate(sklearn_model, registry=probe_registry())
    assert scorecard.bundle["format"] == "model-only"
    assert scorecard.bundle["model_only"] is True
    assert any(note.startswith("model-only run") for note in scorecard.bundle["notes"])
    assert scorecard.model["path"] == "clf.onnx"
    # inputs synthesised from the graph: [N, 5] float32 -> five numeric columns
    assert ctx.inputs[0].shape == [-1, 5]
    assert ctx.max_batch_size == ctx.MODEL_ONLY_MAX_BATCH_SIZE  # a dynamic batch axis: batched like a server would
    assert scorecard.check("ZCPA001").status == "pass"
    assert scorecard.check("ZCPA001").measured["rows"] == ctx.SAMPLE_ROWS
    assert scorecard.check("ZCPA005").status == "pass"
    # everything else says which file would enable it
    assert "[data].schema" in scorecard.check("ZCPA002").message
    assert "[serving].config" in scorecard.check("ZCPA003").message
    assert "[data].reference" in scorecard.check("ZCPA004").message
    assert {c.status for c in scorecard.checks} == {"pass", "skip"}


def test_model_only_run_with_installed_checks_never_raises(sklearn_model):
    scorecard, _ = evaluate(sklearn_model)
    assert all(c.status in STATUSES for c in scorecard.checks)
    assert scorecard.bundle["model_only"] is True


def test_model_only_cli_writes_a_schema_valid_scorecard(sklearn_model, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "scorecard.json"
    result = CliRunner().invoke(main, ["check", str(sklearn_model), "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert "model-only run" in result.output
    data = json.loads(out.read_text())
    schema = json.loads((Path(__file__).parent.parent / "readiness/schemas/scorecard.schema.json").read_text())
    jsonschema.validate(data, schema)
    assert data["bundle"]["model_only"] is True


def test_a_truncated_model_is_a_finding_not_a_loading_error(sklearn_model, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(sklearn_model.read_bytes()[:100])
    scorecard, _ = evaluate(broken, registry=probe_registry())
    assert scorecard.check("ZCPA001").status == "error"
    assert "ART001" in scorecard.check("ZCPA001").message
    assert not scorecard.released


def test_unreadable_path_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["check", str(tmp_path / "missing.onnx")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_a_check_that_cannot_apply_is_skip_even_when_the_model_does_not_load(sklearn_model, tmp_path):
    from readiness.registry import Registry, check, passed

    reg = Registry()

    @check(
        "ZCPB001",
        "needs the session and reference data",
        category="probe",
        severity="major",
        requires=["session", "reference"],
    )
    def needs_both(ctx):
        return passed("ran")

    reg.add_object(needs_both)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(sklearn_model.read_bytes()[:100])
    scorecard, _ = evaluate(broken, registry=reg)
    assert scorecard.check("ZCPB001").status == "skip"
    assert "[data].reference" in scorecard.check("ZCPB001").message


def test_a_manifest_next_to_the_model_is_pointed_out(sklearn_model, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(sklearn_model.read_bytes())
    (tmp_path / "readiness.toml").write_text('[model]\npath = "model.onnx"\n')
    scorecard, _ = evaluate(model, registry=probe_registry())
    assert scorecard.bundle["model_only"] is True
    assert any(f"readiness check {tmp_path}" in note for note in scorecard.bundle["notes"])
    manifest_run, _ = evaluate(tmp_path, registry=probe_registry())
    assert manifest_run.bundle["model_only"] is False
