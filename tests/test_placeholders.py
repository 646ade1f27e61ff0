"""Template values count as missing in [card], [monitoring] and [lineage]; OPS/RPR005 skip in model-only runs."""

from __future__ import annotations

import pytest
from builders import write_bundle

from readiness import evaluate
from readiness.placeholders import is_placeholder

CARD = {"owner": "risk-ml@example.com", "intended_use": "credit pre-screening", "limitations": "not for minors"}
MONITORING = {"owner": "risk-ml@example.com", "alert_metric": "roc_auc", "drift": {"default": 0.1}}
LINEAGE = {"code_version": "3f2a9c1", "data_fingerprint": "sha256:" + "0" * 64, "seed": 42, "environment": "pip 24"}


def _record(bundle, check_id):
    card, _ = evaluate(bundle, select=[check_id])
    return card.check(check_id)


@pytest.mark.parametrize("value", ["...", " … ", "TODO", "todo: write it", "TBD", "tbd.", "", "   ", "sha256:..."])
def test_placeholders_are_recognised(value):
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["credit pre-screening", "Todos los clientes", "n/a for minors", 42, "3f2a9c1"])
def test_real_values_are_not_placeholders(value):
    assert not is_placeholder(value)


def test_ops001_counts_placeholders_as_missing(tmp_path):
    assert _record(write_bundle(tmp_path / "ok", manifest={"card": CARD}), "OPS001").status == "pass"
    card = dict(CARD, intended_use="...", limitations="TBD")
    record = _record(write_bundle(tmp_path / "b", manifest={"card": card}), "OPS001")
    assert record.status == "fail"
    assert "[card].intended_use" in record.message and "[card].limitations" in record.message
    assert "[card].owner" not in record.message


def test_ops002_counts_placeholders_as_missing_and_judges_the_alert_metric_against_the_task(tmp_path):
    assert _record(write_bundle(tmp_path / "ok", manifest={"monitoring": MONITORING}), "OPS002").status == "pass"
    record = _record(write_bundle(tmp_path / "b", manifest={"monitoring": dict(MONITORING, owner="TODO")}), "OPS002")
    assert record.status == "fail" and "[monitoring].owner" in record.message
    # the builders' model is a binary classifier: r2 is a regression metric
    record = _record(
        write_bundle(tmp_path / "c", manifest={"monitoring": dict(MONITORING, alert_metric="r2")}), "OPS002"
    )
    assert record.status == "fail"
    assert "alert_metric 'r2' is not a metric of a binary classification model" in record.message
    # a metric readiness does not compute (a business KPI) is the team's choice
    custom = dict(MONITORING, alert_metric="approval_rate")
    assert _record(write_bundle(tmp_path / "d", manifest={"monitoring": custom}), "OPS002").status == "pass"


def test_rpr005_counts_placeholders_as_missing(tmp_path):
    assert _record(write_bundle(tmp_path / "ok", manifest={"lineage": LINEAGE}), "RPR005").status == "pass"
    lineage = dict(LINEAGE, code_version="...", data_fingerprint="sha256:...")
    record = _record(write_bundle(tmp_path / "b", manifest={"lineage": lineage}), "RPR005")
    assert record.status == "fail" and "code_version" in record.message and "data_fingerprint" in record.message
    assert "64 hex digits" not in record.message  # a placeholder is missing, not malformed


def test_model_only_runs_skip_the_manifest_checks_naming_the_key(tmp_path):
    bundle = write_bundle(tmp_path / "b")
    card, _ = evaluate(bundle / "model.onnx", select=["OPS001", "OPS002", "RPR005"])
    assert card.bundle["model_only"]
    for cid, key in (("OPS001", "[card]"), ("OPS002", "[monitoring]"), ("RPR005", "[lineage]")):
        record = card.check(cid)
        assert record.status == "skip" and "model-only run" in record.message and key in record.message
