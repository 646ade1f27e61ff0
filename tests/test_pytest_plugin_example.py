"""examples/existing-repo: `pytest` in an existing repo runs its own tests plus the readiness items,
and the readiness outcomes are exactly the scorecard's statuses."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "existing-repo"
STATUS_OUTCOME = {"pass": "passed", "fail": "failed", "error": "error", "skip": "skipped", "waived": "skipped"}


def junit_outcomes(path: Path) -> dict[str, str]:
    """nodeid-like 'classname::name' -> outcome, from a pytest JUnit XML file."""
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            found[key] = "failed"
        elif case.find("error") is not None:
            found[key] = "error"
        elif case.find("skipped") is not None:
            found[key] = "xfailed" if case.find("skipped").get("type") == "pytest.xfail" else "skipped"
        else:
            found[key] = "passed"
    return found


RANK = {"blocker": 4, "major": 3, "minor": 2, "info": 1}


def expected_outcome(record: dict, gate: dict) -> str:
    """The plugin's policy: a failure that does not block the gate (severity below fail_on) is xfailed."""
    if record["status"] in ("fail", "error", "inconclusive") and RANK[record["severity"]] < RANK[gate["fail_on"]]:
        return "xfailed"
    if record["status"] == "inconclusive":
        return "failed"
    return STATUS_OUTCOME[record["status"]]


@pytest.mark.slow
def test_existing_repo_runs_its_tests_and_the_readiness_items(pytester: pytest.Pytester) -> None:
    shutil.copytree(
        EXAMPLE, pytester.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model", ".model-*", "__pycache__")
    )
    # Every installed check runs except the latency ones (keyword = category): their timing loops
    # would only slow this test down, and selecting by category is part of what is tested.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-k", "not latency", "--junitxml=junit.xml", "--readiness-json=sc.json"
    )
    scorecard = json.loads((pytester.path / "sc.json").read_text())
    outcomes = junit_outcomes(pytester.path / "junit.xml")

    own = {k: v for k, v in outcomes.items() if k.startswith("tests.")}
    assert len(own) == 6 and set(own.values()) == {"passed"}  # the repo's own tests, fixtures included

    readiness = {k.split("::")[1]: v for k, v in outcomes.items() if k.startswith("model.readiness.toml::")}
    expected = {c["id"]: expected_outcome(c, scorecard["gate"]) for c in scorecard["checks"]}
    expected["gate"] = "passed" if scorecard["gate"]["released"] else "failed"
    assert readiness == expected
    assert "TEAM001" in readiness  # the conftest's team check ran with the installed checks
    assert not [c for c in scorecard["checks"] if c["category"] == "latency"]

    counts = result.parseoutcomes()
    for outcome in ("passed", "failed", "skipped", "xfailed"):
        assert counts.get(outcome, 0) == list(outcomes.values()).count(outcome), outcome
    assert counts.get("errors", 0) == list(outcomes.values()).count("error")
    assert result.ret == (1 if {"failed", "error"} & set(outcomes.values()) else 0)
