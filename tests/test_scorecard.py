"""The JSON scorecard: its schema, determinism, atomic writing, round trip."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from readiness import evaluate
from readiness.scorecard import Scorecard, load, strip_timings, write_atomic


def _schema() -> dict:
    return json.loads(resources.files("readiness").joinpath("schemas/scorecard.schema.json").read_text())


@pytest.fixture
def example_card(example_bundle: Path) -> Scorecard:
    card, _ = evaluate(example_bundle, seed=7, ignore=["LAT"])
    return card


def test_example_scorecard_validates_against_the_shipped_schema(example_card):
    data = json.loads(example_card.to_json())
    jsonschema.validate(data, _schema())
    assert data["schema_version"] == 1
    assert set(data) >= {"tool", "model", "gate", "scores", "checks", "waivers", "environment"}


def test_the_schema_rejects_a_malformed_scorecard(example_card):
    data = json.loads(example_card.to_json())
    data["checks"].append({**(data["checks"][0] if data["checks"] else {}), "id": "X1", "status": "maybe"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, _schema())


def test_same_bundle_and_seed_give_the_same_scorecard(example_bundle):
    first, _ = evaluate(example_bundle, seed=3)
    second, _ = evaluate(example_bundle, seed=3)
    a, b = strip_timings(first.to_dict()), strip_timings(second.to_dict())
    assert a == b
    assert first.checks, "the built-in checks ran"


def test_round_trip_through_json(example_card, tmp_path):
    path = write_atomic(tmp_path / "sc.json", example_card.to_json())
    again = load(path)
    assert again.to_json() == example_card.to_json()


def test_write_atomic_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    with pytest.raises(OSError):
        write_atomic(target, "new" * 1000)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_non_finite_numbers_are_valid_json():
    card = Scorecard(
        tool={}, model={}, gate={}, scores={}, checks=[], environment={"x": float("nan"), "y": float("inf")}
    )
    data = json.loads(card.to_json())
    assert data["environment"] == {"x": "NaN", "y": "Infinity"}


def test_unsupported_schema_version_is_refused():
    with pytest.raises(ValueError, match="schema_version"):
        Scorecard.from_dict({"schema_version": 2})


def test_written_reports_are_readable_like_any_file_the_user_writes(tmp_path):
    """CI uploads reports as artifacts: a 0600 file (mkstemp's default) would lock others out."""
    path = write_atomic(tmp_path / "sc.json", "{}")
    plain = tmp_path / "plain"
    plain.write_text("{}")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
