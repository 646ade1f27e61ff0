"""ACME001's tests, written only against readiness' public API and `readiness.testing`.

Run them with `pytest` in this directory, once readiness and this package are installed.
"""

from __future__ import annotations

from readiness.testing import ReadinessTester, prob_model, run_check, write_bundle


def test_a_model_without_a_licence_fails(tmp_path):
    bundle = write_bundle(tmp_path / "bundle", prob_model())
    record = run_check(bundle, "ACME001")
    assert record.status == "fail"
    assert "no `license` metadata property" in record.message


def test_a_licensed_model_passes(readiness_tester: ReadinessTester):
    bundle = readiness_tester.bundle(model=prob_model(metadata={"license": "Apache-2.0"}))
    record = readiness_tester.run("ACME001", bundle)
    assert (record.status, record.message) == ("pass", "licence: Apache-2.0")


def test_a_corrupt_model_file_is_a_skip_pointing_at_art001(readiness_tester: ReadinessTester):
    bundle = readiness_tester.bundle(model=b"not an onnx model", serving=False, reference=False)
    record = readiness_tester.run("ACME001", bundle)
    assert record.status == "skip"
    assert "not a readable ONNX model" in record.message and "ART001" in record.message
