"""The gate folds consequences under their root cause; the overall score over all checks, in every renderer."""

from __future__ import annotations

import datetime as dt
import io
import json
import types
from pathlib import Path

import pytest
from builders import write_bundle

from readiness import Registry, check, errored, evaluate, failed, passed
from readiness.reports import html, markdown
from readiness.reports.terminal import plain, verdict_line

TODAY = dt.date(2026, 11, 26)
SEVERITY = {"A": "blocker", "M": "major", "N": "minor", "I": "info"}


def _registry(spec: dict[str, tuple[str, list[str]]]) -> Registry:
    """id -> (status, caused_by): checks with a known outcome; errors name their candidate causes."""
    reg = Registry()
    module = types.ModuleType("fake_causes")
    for cid, (status, causes) in spec.items():

        def func(ctx, status=status, causes=causes):
            if status == "error":
                return errored("the model cannot score rows as the serving config feeds them", caused_by=causes)
            return {"pass": passed, "fail": failed}[status](f"{status} by design")

        func.__module__ = "fake_causes"
        setattr(module, cid, check(cid, f"check {cid}", category=cid[:3].lower(), severity=SEVERITY[cid[3]])(func))
    reg.add_object(module)
    return reg


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("causes") / "b")


def test_consequences_are_folded_under_the_failed_check(bundle):
    reg = _registry(
        {
            "SCHA001": ("fail", []),
            "QLTA001": ("error", ["SCHA001", "SCHA002"]),
            "ROBM002": ("error", ["SCHA001"]),
            "LATN003": ("error", ["SCHA001"]),  # minor: listed under the cause too
            "SCHA002": ("pass", []),
        }
    )
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert not sc.released
    assert sc.gate["blocking"] == ["SCHA001"]
    assert sc.gate["causes"] == {"SCHA001": ["LATN003", "QLTA001", "ROBM002"]}
    assert sc.gate["reasons"] == [
        "SCHA001 (blocker) failed: fail by design; because of it 3 other check(s) could not run: "
        "LATN003, QLTA001, ROBM002"
    ]
    assert sc.check("QLTA001").status == "error" and sc.check("QLTA001").caused_by == ["SCHA001", "SCHA002"]
    # the consequences still count as not passed
    assert sc.scores["categories"]["qlt"] == 0.0


def test_a_cause_that_passed_explains_nothing(bundle):
    reg = _registry({"SCHA002": ("pass", []), "QLTA001": ("error", ["SCHA002"])})
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert sc.gate["blocking"] == ["QLTA001"] and sc.gate["causes"] == {}


def test_causes_are_followed_to_the_root(bundle):
    reg = _registry(
        {
            "ARTA001": ("fail", []),
            "SCHA001": ("error", ["ARTA001"]),
            "QLTA001": ("error", ["SCHA001"]),
        }
    )
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert sc.gate["blocking"] == ["ARTA001"]
    assert sc.gate["causes"] == {"ARTA001": ["QLTA001", "SCHA001"]}


def test_a_consequence_blocks_on_its_own_when_its_cause_does_not_block(bundle):
    """A minor cause below fail_on must not hide a blocker that could not run."""
    reg = _registry({"SCHN001": ("fail", []), "QLTA001": ("error", ["SCHN001"])})
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert sc.gate["blocking"] == ["QLTA001"]
    assert sc.gate["causes"] == {"SCHN001": ["QLTA001"]}


@pytest.fixture(scope="module")
def folded_card(bundle):
    reg = _registry(
        {
            "SCHA001": ("fail", []),
            "QLTA001": ("error", ["SCHA001"]),
            "ROBM002": ("error", ["SCHA001"]),
            "OPSN001": ("fail", []),
            "OPSN002": ("fail", []),
            "ARTA001": ("pass", []),
        }
    )
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    return sc


def test_every_renderer_folds_consequences_and_names_the_lowest_category(folded_card):
    sc = folded_card
    # overall: passed weight / evaluated weight over all checks: 10 / (10 + 10 + 10 + 5 + 2.5 + 2.5)
    assert sc.scores["overall"] == pytest.approx(10 / 40, abs=1e-4)
    assert sc.scores["lowest_category"] == "ops"  # 0% (first by name among the 0% categories)

    out = io.StringIO()
    plain(sc, out)
    text = out.getvalue()
    assert "readiness 25% (lowest: ops 0%)" in verdict_line(sc)
    assert "QLTA001  ERROR" in text and "(because SCHA001 did not pass)" in text
    assert "because of it 2 other check(s) could not run: QLTA001, ROBM002" in text

    md = markdown.render(sc)
    assert "**Readiness 25% (lowest: ops 0%)**" in md
    assert "ERROR (because SCHA001 did not pass)" in md
    assert "2 check(s) could not run because of it" in md

    page = html.render(sc)
    assert "lowest: ops 0%" in page
    assert "Because of it, 2 check(s) could not run" in page
    assert 'Could not run because <a href="#SCHA001">SCHA001</a> did not pass' in page

    data = json.loads(sc.to_json())
    assert data["gate"]["causes"] == {"SCHA001": ["QLTA001", "ROBM002"]}
    assert data["scores"]["lowest_category"] == "ops"


def test_the_json_scorecard_with_causes_validates_against_the_schema(folded_card):
    jsonschema = pytest.importorskip("jsonschema")
    from importlib import resources

    schema = json.loads(resources.files("readiness").joinpath("schemas/scorecard.schema.json").read_text())
    jsonschema.validate(json.loads(folded_card.to_json()), schema)


def test_no_lowest_category_is_named_when_every_category_is_full(bundle):
    """'(lowest: artifact 100%)' says nothing: with every category at 100% the line stops at the score."""
    sc, _ = evaluate(bundle, registry=_registry({"ARTA001": ("pass", []), "QLTA001": ("pass", [])}), today=TODAY)
    assert set(sc.scores["categories"].values()) == {1.0}
    assert verdict_line(sc).rstrip(")").endswith("readiness 100%")
    assert "lowest" not in verdict_line(sc)
    assert "lowest" not in markdown.render(sc)
    assert "lowest:" not in html.render(sc)
