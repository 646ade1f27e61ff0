"""The plugin SDK: the public surface, safe model access, namespaced thresholds and evidence,
one JSON spelling, and readiness.testing's runners and fixture."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import readiness
from readiness import Context, Registry, RegistryError, Result, check, passed
from readiness.errors import BundleError
from readiness.testing import ReadinessTester, run_check, run_checks, set_thresholds, write_bundle
from readiness.vocabulary import decode_times, decode_times_ms, encode_times, jsonable


# --------------------------------------------------------------------------- the public surface
def test_every_public_name_resolves_and_import_stays_cheap():
    for name in readiness.__all__:
        assert getattr(readiness, name) is not None, name
    assert {"Predictions", "InputSpec", "OutputSpec", "ModelFacts", "ModelUnreadable", "jsonable"} <= set(
        readiness.__all__
    )
    code = "import readiness, sys; print(sorted(m for m in ('onnxruntime', 'pandas', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- ctx.onnx
@check("ZZM001", "reads the model's metadata", category="governance", severity="minor")
def reads_metadata(ctx: Context) -> Result:
    return passed(f"{len(ctx.onnx.metadata)} metadata key(s); producer {ctx.onnx.facts.producer_name}")


@check("ZZM002", "reads the raw protobuf", category="governance", severity="minor")
def reads_proto(ctx: Context) -> Result:
    return passed(f"{len(ctx.model_proto.graph.node)} node(s)")


def test_a_plugin_reading_a_corrupt_model_gets_a_skip_pointing_at_art001_not_a_crash(tmp_path):
    bundle = write_bundle(tmp_path / "b", b"\x08\x07 not onnx at all", serving=False, reference=False)
    records = run_checks(bundle, reads_metadata, reads_proto, "ART001")
    for cid in ("ZZM001", "ZZM002"):
        assert records[cid].status == "skip", records[cid].message
        assert "is not a readable ONNX model" in records[cid].message and "ART001" in records[cid].message
        assert "traceback" not in records[cid].evidence
    assert records["ART001"].status == "fail" and "(see ART001)" not in records["ART001"].message


def test_a_plugin_reads_a_good_model_through_ctx_onnx(readiness_tester: ReadinessTester):
    bundle = readiness_tester.bundle(model=readiness_tester.prob_model(metadata={"license": "MIT"}))
    record = readiness_tester.run(reads_metadata, bundle)
    assert (record.status, record.message) == ("pass", "1 metadata key(s); producer readiness-tests")


# --------------------------------------------------------------------------- thresholds
def _reader(check_id: str, default: float):
    @check(
        check_id, f"reads zz_bar ({check_id})", category="governance", severity="minor", thresholds={"zz_bar": default}
    )
    def reader(ctx: Context) -> Result:
        return passed("read", measured={"bar": ctx.threshold("zz_bar")})

    return reader


def test_a_shared_threshold_declared_with_two_defaults_is_a_registry_error_naming_both():
    registry = Registry()
    registry.add_object(_reader("ZZT001", 1.0))
    registry.add_object(_reader("ZZT002", 1.0))  # the same default: one meaning, fine
    assert registry.thresholds()["zz_bar"] == 1.0
    with pytest.raises(RegistryError) as err:
        registry.add_object(_reader("ZZT003", 2.0))
    text = str(err.value)
    assert "'zz_bar'" in text and "ZZT001" in text and "ZZT003" in text and "1.0" in text and "2.0" in text


def test_built_in_checks_sharing_a_threshold_agree_on_its_default():
    registry = readiness.default_registry()
    assert set(registry.declaring("min_metric")) >= {"QLT001", "ROB005"}
    assert registry.thresholds()["min_metric"] == {}


def test_thresholds_are_set_for_every_declaring_check_or_for_one_check(tmp_path):
    first, second = _reader("ZZT001", 1.0), _reader("ZZT002", 1.0)
    bundle = write_bundle(tmp_path / "b")
    assert {k: r.measured["bar"] for k, r in run_checks(bundle, first, second).items()} == {
        "ZZT001": 1.0,
        "ZZT002": 1.0,
    }
    set_thresholds(bundle, zz_bar=3.0, ZZT002={"zz_bar": 7.0})
    assert {k: r.measured["bar"] for k, r in run_checks(bundle, first, second).items()} == {
        "ZZT001": 3.0,
        "ZZT002": 7.0,
    }


@pytest.mark.parametrize(
    ("thresholds", "needle"),
    [
        ({"ZZT009": {"zz_bar": 1}}, "[policy.thresholds].ZZT009: no installed check has this id"),
        ({"ZZT001": {"zz_nope": 1}}, "[policy.thresholds].ZZT001.zz_nope: ZZT001 declares no such threshold"),
        ({"zz_barr": 1}, "did you mean 'zz_bar'?"),
    ],
)
def test_a_bad_threshold_key_names_the_file_and_the_key(tmp_path, thresholds, needle):
    bundle = write_bundle(tmp_path / "b")
    set_thresholds(bundle, **thresholds)
    with pytest.raises(BundleError) as err:
        run_check(bundle, _reader("ZZT001", 1.0))
    assert needle in str(err.value) and "readiness.toml" in str(err.value)


# --------------------------------------------------------------------------- memo keys
def test_memo_keys_carry_a_namespace_and_evidence_is_computed_once(tmp_path):
    ctx = Context(readiness.load_bundle(write_bundle(tmp_path / "b")))
    calls = []
    for _ in range(3):
        assert ctx.memo("zz:answer", lambda: calls.append(1) or 42) == 42
    assert ctx.memo(("zz:answer", 2), lambda: 43) == 43 and calls == [1]
    for bad in ("answer", ("answer", 1), ":answer", 7):
        with pytest.raises(ValueError, match="has no namespace"):
            ctx.memo(bad, lambda: 0)


# --------------------------------------------------------------------------- one JSON spelling
@check("ZZJ001", "returns numpy values and non-finite numbers", category="governance", severity="minor")
def numpy_result(ctx: Context) -> Result:
    return passed(
        "numbers",
        measured={"nan": float("nan"), "np_nan": np.float32("nan"), "inf": np.inf, "n": np.int64(3)},
        evidence={"array": np.array([1.5, np.nan, -np.inf]), "nested": {1: {np.float64(-math.inf)}}},
    )


def test_the_runner_gives_every_result_one_json_spelling(tmp_path):
    record = run_check(write_bundle(tmp_path / "b"), numpy_result)
    assert record.measured == {"nan": "NaN", "np_nan": "NaN", "inf": "Infinity", "n": 3}
    assert record.evidence == {"array": [1.5, "NaN", "-Infinity"], "nested": {"1": ["-Infinity"]}}
    assert type(record.measured["n"]) is int
    json.dumps(record.measured, allow_nan=False)


def test_jsonable_spells_values_the_way_the_scorecard_does():
    from datetime import date
    from pathlib import PurePosixPath

    assert jsonable({"d": date(2026, 12, 5), "p": PurePosixPath("a/b"), "b": np.bool_(True)}) == {
        "d": "2026-12-05",
        "p": "a/b",
        "b": True,
    }


# --------------------------------------------------------------------------- raw times
def test_raw_times_round_trip_exactly_and_refuse_corrupt_or_oversized_data():
    times = [38_000, 1, 2**40, 90_000]
    raw = encode_times(times)
    assert decode_times(raw) == times
    assert decode_times_ms(raw) == [t * 1e-6 for t in times]
    with pytest.raises(ValueError, match="count does not match"):
        decode_times({**raw, "count": 5})
    with pytest.raises(ValueError, match="not an integer in"):
        decode_times(raw, max_count=3)
    assert decode_times_ms({**raw, "data": "%%%"}) is None
    assert decode_times_ms({**raw, "encoding": "csv"}) is None


def test_the_json_schema_speaks_the_vocabulary():
    from pathlib import Path

    from readiness.vocabulary import SEVERITIES, STATUSES

    schema = json.loads((Path(readiness.__file__).parent / "schemas" / "scorecard.schema.json").read_text())
    text = json.dumps(schema)
    assert json.dumps(list(STATUSES)) in text and json.dumps(list(SEVERITIES)) in text
