"""The ML Test Score: the rubric's 28 tests, the scoring rules, attestations and the scorecard's per-test table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from readiness import evaluate, mlts
from readiness.cli import main
from readiness.registry import default_registry


def test_the_rubric_has_four_sections_of_seven_tests_with_unique_titles():
    assert len(mlts.TESTS) == 28
    for section in mlts.SECTIONS:
        numbers = [t.number for t in mlts.TESTS if t.section == section]
        assert numbers == list(range(1, 8)), section
    assert len({t.title for t in mlts.TESTS}) == 28
    assert mlts.BY_ID["Model 5"].title == "A simpler model is not better"
    assert mlts.BY_ID["Infra 7"].title == "Serving models can be rolled back"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("Data 1", "Data 1"),
        ("infra 4", "Infra 4"),
        ("Infrastructure 4", "Infra 4"),
        ("Monitoring 7", "Monitor 7"),
        ("model specs are reviewed and submitted", "Model 1"),
        ("Data 8", None),
        ("Infra", None),
        ("Training 1", None),
    ],
)
def test_tags_and_titles_normalise_to_test_ids(tag, expected):
    assert mlts.normalize(tag) == expected


def test_every_registered_check_tags_real_tests():
    registry = default_registry()
    assert len(registry) > 0
    bad = {spec.id: mlts.unknown_tags(spec.mlts) for spec in registry if mlts.unknown_tags(spec.mlts)}
    assert not bad, f"checks with ML Test Score tags that name no test (see readiness/mlts.py): {bad}"


def _rec(cid: str, status: str, *tags: str) -> dict:
    return {"id": cid, "status": status, "mlts": list(tags)}


def test_scoring_rules_automated_failed_attested_not_run_not_covered():
    records = [
        _rec("A001", "pass", "Data 1"),
        _rec("A002", "pass", "Data 2"),
        _rec("A003", "fail", "Data 2"),  # one failing covering check loses the point
        _rec("A004", "skip", "Data 3"),
        _rec("A005", "pass", "Model 1"),
        _rec("A006", "skip", "Model 2"),
    ]
    attest = {"Data 3": {"note": "reviewed", "date": "2026-11-20"}, "Data 2": {"note": "x", "date": "2026-11-20"}}
    result = mlts.score(records, attest)
    tests = {t["id"]: t for t in result["tests"]}
    assert (tests["Data 1"]["points"], tests["Data 1"]["state"]) == (1.0, "automated")
    assert (tests["Data 2"]["points"], tests["Data 2"]["state"]) == (0.0, "failed")
    assert tests["Data 2"]["failing"] == ["A003"]
    assert (tests["Data 3"]["points"], tests["Data 3"]["state"]) == (0.5, "attested")
    assert (tests["Model 2"]["points"], tests["Model 2"]["state"]) == (0.0, "not run")
    assert (tests["Infra 1"]["covered_by"], tests["Infra 1"]["state"]) == ("not covered", "not covered")
    assert tests["Data 2"]["covered_by"] == ["A002", "A003"]
    assert result["sections"] == {"Data": 1.5, "Model": 1.0, "Infra": 0.0, "Monitor": 0.0}
    assert result["score"] == 0.0  # the minimum over sections
    assert result["covered"] == 5
    assert "5 of the 28" in result["note"]


def test_final_score_is_the_minimum_section_and_maps_to_the_papers_bands():
    records = [_rec(f"X{i:03d}", "pass", f"{s} {n}") for i, (s, n) in enumerate(
        [(s, n) for s in mlts.SECTIONS for n in (1, 2)] + [("Data", 3), ("Model", 3), ("Infra", 3)]
    )]  # fmt: skip
    result = mlts.score(records, {"Monitor 5": {"link": "https://wiki/runbook", "date": "2026-11-01"}})
    assert result["sections"] == {"Data": 3.0, "Model": 3.0, "Infra": 3.0, "Monitor": 2.5}
    assert result["score"] == 2.5
    assert result["band"].startswith("Reasonably tested")
    assert mlts.band(0).startswith("More of a research project")
    assert mlts.band(0.5).startswith("Not totally untested") and mlts.band(1.0).startswith("Not totally untested")
    assert mlts.band(1.5).startswith("There's been first pass")
    assert mlts.band(5.0).startswith("Strong levels") and mlts.band(5.5).startswith("Exceptional")


@pytest.fixture
def example_scorecard(example_bundle: Path) -> dict:
    toml = example_bundle / "readiness.toml"
    toml.write_text(
        toml.read_text()
        + '\n[attestations]\n"Model specs are reviewed and submitted" = { note = "PR #123 review", date = 2026-11-20 }\n'
    )
    card, _ = evaluate(example_bundle, seed=1, select=["QLT", "OPS"])
    return json.loads(card.to_json())


def test_example_scorecard_carries_the_ml_test_score_per_test(example_scorecard):
    m = example_scorecard["scores"]["mlts"]
    assert len(m["tests"]) == 28 and m["total"] == 28
    checks = {c["id"]: c for c in example_scorecard["checks"]}
    for test in m["tests"]:
        expected = sorted(cid for cid, c in checks.items() if test["id"] in c["mlts"])
        assert test["covered_by"] == (expected or "not covered"), test["id"]
    by_id = {t["id"]: t for t in m["tests"]}
    assert "QLT001" in by_id["Infra 4"]["covered_by"] and by_id["Infra 4"]["points"] == 1.0
    assert by_id["Model 5"]["covered_by"] == ["QLT003"] and by_id["Model 5"]["state"] == "automated"
    assert by_id["Model 1"]["state"] == "attested" and by_id["Model 1"]["points"] == 0.5
    assert by_id["Model 1"]["attestation"] == {"note": "PR #123 review", "date": "2026-11-20"}
    assert m["sections"]["Model"] == sum(t["points"] for t in m["tests"] if t["section"] == "Model")
    assert m["score"] == min(m["sections"].values())
    covered = sum(1 for t in m["tests"] if t["covered_by"] != "not covered")
    assert m["covered"] == covered and f"{covered} of the 28" in m["note"]


def test_example_ml_test_score_validates_against_the_scorecard_schema(example_scorecard):
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("readiness").joinpath("schemas/scorecard.schema.json").read_text())
    jsonschema.validate(example_scorecard, schema)
    broken = json.loads(json.dumps(example_scorecard))
    broken["scores"]["mlts"]["tests"][0]["covered_by"] = []  # an empty list must say "not covered" instead
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_attestation_without_link_or_note_is_a_bad_input(example_bundle):
    toml = example_bundle / "readiness.toml"
    toml.write_text(toml.read_text() + '\n[attestations]\n"Model 1" = { date = 2026-11-20 }\n')
    result = _cli("check", str(example_bundle), "--select", "OPS001")
    assert result.exit_code == 2, result.output
    assert "readiness.toml" in result.output and "attestations" in result.output and "link or a note" in result.output
    assert "Traceback" not in result.output


def test_attestation_for_an_unknown_test_is_a_bad_input(example_bundle):
    toml = example_bundle / "readiness.toml"
    toml.write_text(
        toml.read_text() + '\n[attestations]\n"Model specs were reviewed" = { note = "x", date = 2026-11-20 }\n'
    )
    result = _cli("check", str(example_bundle), "--select", "OPS001")
    assert result.exit_code == 2, result.output
    assert "Model specs were reviewed" in result.output and "names no ML Test Score test" in result.output


def test_explain_names_the_ml_test_score_tests_with_their_titles():
    result = _cli("explain", "QLT003")
    assert result.exit_code == 0, result.output
    assert "Model 5 (A simpler model is not better)" in result.output


def test_the_terminal_summary_states_the_ml_test_score():
    import io

    from readiness.reports.terminal import plain
    from readiness.scorecard import Scorecard

    mlts = {"score": 1.0, "sections": {"Data": 1.0, "Model": 2.0, "Infra": 3.0, "Monitor": 1.5}, "band": "band text"}
    card = Scorecard(tool={}, model={"name": "m"}, gate={"released": True}, scores={"mlts": mlts}, checks=[])
    out = io.StringIO()
    plain(card, out)
    assert "ML Test Score 1 (Data 1, Model 2, Infra 3, Monitor 1.5): band text" in out.getvalue()
    quiet = io.StringIO()
    plain(card, quiet, quiet=True)
    assert "ML Test Score" not in quiet.getvalue()
