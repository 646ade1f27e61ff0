"""The pytest plugin: readiness checks as test items (readiness/pytest_plugin.py), run with pytester.

The bundles here select only the `ZZ...` checks that the pytester project's conftest.py
registers through the `pytest_readiness_checks` hook, so every outcome is known in advance
whatever built-in checks are installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

# pytester's in-process runs drop the modules they import when they end; numpy's C extensions
# cannot be loaded twice, so everything heavy is imported here, before any run, to stay loaded.
import numpy.fft  # noqa: F401
import pytest
import scipy.stats  # noqa: F401
import sklearn.linear_model  # noqa: F401
from builders import write_bundle

import readiness.engine  # noqa: F401 - imported once here, not re-imported by every in-process run
import readiness.reports.json_report  # noqa: F401
import readiness.reports.terminal  # noqa: F401

pytest_plugins = ["pytester"]

NO_HYPOTHESIS = ("-p", "no:hypothesispytest")  # hypothesis' plugin does not survive in-process re-runs

# Checks with known outcomes. Each piece of evidence is computed through ctx.memo and logged
# (one line "PID NAME" per computation) to evidence.log next to the manifest.
CHECKS = '''
import os
from readiness import check, failed, inconclusive, passed, skipped

def _evidence(ctx, name):
    def compute():
        with open(ctx.bundle.root / "evidence.log", "a") as fh:
            fh.write(f"{os.getpid()} {name}\\n")
        return name
    return ctx.memo(("zz:evidence", name), compute)

@check("ZZLAT001", "latency within budget", category="latency", severity="major")
def lat(ctx):
    _evidence(ctx, "latency")
    return passed("p99 1 ms <= 10 ms", measured={"p99_ms": 1.0})

@check("ZZQLT001", "quality meets the bar", category="quality", severity="blocker",
       remediation="retrain with more data")
def qlt(ctx):
    _evidence(ctx, "predictions")
    return failed("roc_auc 0.61 < 0.90", measured={"roc_auc": 0.61}, evidence={"rows": 200})

@check("ZZQLT002", "quality on slices", category="quality", severity="major")
def slices(ctx):
    _evidence(ctx, "predictions")
    return passed("every slice meets the bar")

@check("ZZSKP001", "needs a baseline", category="quality", severity="major")
def skip(ctx):
    return skipped("not applicable: needs [baseline].manifest")

@check("ZZERR001", "crashes", category="robustness", severity="major")
def crash(ctx):
    raise RuntimeError("boom in the check")

@check("ZZWAV001", "known defect", category="robustness", severity="major")
def waived(ctx):
    return failed("2 of 100 rows flip")

@check("ZZINC001", "undecided, blocking", category="latency", severity="major")
def inc_major(ctx):
    _evidence(ctx, "latency")
    return inconclusive("the bound straddles the budget")

@check("ZZINC002", "undecided, minor", category="latency", severity="minor")
def inc_minor(ctx):
    return inconclusive("too few samples")

def pytest_readiness_checks(config):
    return [lat, qlt, slices, skip, crash, waived, inc_major, inc_minor]

_config = []

def pytest_configure(config):
    _config[:] = [config]

def pytest_runtest_logreport(report):
    """Record every report (in the controller under xdist) to outcomes.jsonl."""
    import json
    if hasattr(_config[0], "workerinput"):
        return
    row = {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
           "xfail": hasattr(report, "wasxfail")}
    with open("outcomes.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\\n")
'''

WAIVER = {"check": "ZZWAV001", "reason": "fix lands in 1.5", "owner": "ml@example.com", "expires": "2099-01-01"}
# check id -> pytest outcome (fail_on = "major")
EXPECTED = {
    "ZZLAT001": "passed",
    "ZZQLT001": "failed",
    "ZZQLT002": "passed",
    "ZZSKP001": "skipped",
    "ZZERR001": "error",
    "ZZWAV001": "skipped",
    "ZZINC001": "failed",
    "ZZINC002": "xfailed",
    "gate": "failed",
}


def _manifest_extra() -> dict:
    import datetime as dt

    waiver = dict(WAIVER, expires=dt.date(2099, 1, 1))
    return {"checks": {"select": ["ZZ"]}, "policy": {"fail_on": "major"}, "waivers": [waiver]}


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A repo with one ordinary test, a bundle in model/ and conftest.py registering the ZZ checks."""
    write_bundle(pytester.path / "model", manifest=_manifest_extra())
    pytester.makeconftest(CHECKS)
    pytester.makepyfile(test_app="def test_app():\n    assert 1 + 1 == 2\n")
    pytester.makeini("[pytest]\nreadiness_bundles = model\naddopts = -p no:cacheprovider\n")
    return pytester


def _cached(pytester: pytest.Pytester) -> None:
    """Like `project` but keeping the cache provider (for --lf)."""
    pytester.makeini("[pytest]\nreadiness_bundles = model\n")


def outcomes(pytester: pytest.Pytester, *, nodeids: bool = False) -> dict[str, str]:
    """node name (or node id) -> pytest outcome of the last run, from the reports conftest.py recorded."""
    log = pytester.path / "outcomes.jsonl"
    found: dict[str, str] = {}
    for row in map(json.loads, log.read_text().splitlines()):
        name = row["nodeid"] if nodeids else row["nodeid"].split("::")[-1]
        if row["outcome"] == "failed":
            found[name] = "failed" if row["when"] == "call" else "error"
        elif row["outcome"] == "skipped" and row["when"] != "teardown":
            found[name] = "xfailed" if row["xfail"] else "skipped"
        elif row["outcome"] == "passed" and row["when"] == "call":
            found[name] = "passed"
    log.unlink()
    return found


def evidence_log(pytester: pytest.Pytester) -> list[tuple[str, str]]:
    log = pytester.path / "model" / "evidence.log"
    if not log.exists():
        return []
    return [tuple(line.split()) for line in log.read_text().splitlines()]


# --------------------------------------------------------------------------- activation
def test_silent_when_no_bundle_is_configured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app="def test_app():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    result.assert_outcomes(passed=1)
    lines = [line for line in result.outlines if "readiness" in line and not line.startswith("plugins:")]
    assert lines == []
    assert result.ret == 0


def test_importing_the_plugin_loads_no_heavy_module() -> None:
    code = (
        "import sys, readiness.pytest_plugin, readiness\n"
        "heavy = {'onnxruntime', 'onnx', 'pandas', 'pydantic', 'numpy', 'pandera', 'scipy'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "print(readiness.check.__module__, readiness.Scorecard.__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, api = proc.stdout.splitlines()
    assert loaded == "[]"
    assert api == "readiness.registry Scorecard"  # the public API still resolves, lazily


def test_readiness_flag_without_a_bundle_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app="def test_app():\n    assert True\n")
    result = pytester.runpytest("--readiness", "-p", "no:cacheprovider", *NO_HYPOTHESIS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--readiness: no bundle configured*readiness_bundles*"])


def test_missing_bundle_path_names_the_path_and_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nreadiness_bundles = nowhere\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*readiness_bundles:*nowhere: no such bundle*fix:*"])
    assert "Traceback" not in result.stderr.str()


def test_bad_manifest_is_a_collection_error_naming_the_key(project: pytest.Pytester) -> None:
    manifest = project.path / "model" / "readiness.toml"
    manifest.write_text(manifest.read_text() + '\n[polcy]\nfail_on = "major"\n')
    result = project.runpytest(*NO_HYPOTHESIS)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*readiness: *readiness.toml*polcy*"])
    assert "Traceback" not in result.stdout.str()


def test_rootdir_manifest_activates_the_plugin(pytester: pytest.Pytester) -> None:
    write_bundle(pytester.path, manifest=_manifest_extra())
    pytester.makeconftest(CHECKS)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", *NO_HYPOTHESIS)
    assert "readiness.toml::gate" in result.outlines
    assert "readiness.toml::ZZLAT001" in result.outlines


def test_several_bundles_get_one_scorecard_each(project: pytest.Pytester) -> None:
    write_bundle(project.path / "other", manifest={"checks": {"select": ["ZZLAT", "ZZQLT002"]}})
    result = project.runpytest(
        "-rA",
        "--readiness-bundle",
        "other",
        "--readiness-json",
        "out/sc.json",
        "-k",
        "ZZLAT or ZZQLT002 or gate",
        *NO_HYPOTHESIS,
    )
    assert outcomes(project, nodeids=True) == {
        f"{bundle}/readiness.toml::{name}": "passed"
        for bundle in ("model", "other")
        for name in ("ZZLAT001", "ZZQLT002", "gate")
    }
    assert result.ret == 0
    model = json.loads((project.path / "out/sc-model.json").read_text())
    other = json.loads((project.path / "out/sc-other.json").read_text())
    assert model["run"]["selected"] == ["ZZLAT001", "ZZQLT002"]
    assert other["run"]["selected"] == ["ZZLAT001", "ZZQLT002"]
    result.stdout.fnmatch_lines(["*model/readiness.toml: RELEASED*", "*other/readiness.toml: RELEASED*"])


def test_bundle_code_runs_only_with_readiness_trust(project: pytest.Pytester) -> None:
    """A `module:attribute` schema is Python code: refused (naming --trust) unless --readiness-trust."""
    bundle = project.path / "model"
    (bundle / "bundle_schema.py").write_text(
        "import pathlib\n"
        "import pandera.pandas as pa\n"
        "pathlib.Path(__file__).with_name('imported.flag').write_text('yes')\n"
        "schema = pa.DataFrameSchema.from_yaml(pathlib.Path(__file__).with_name('schema.yaml').read_text())\n"
    )
    manifest = bundle / "readiness.toml"
    manifest.write_text(manifest.read_text().replace('schema = "schema.yaml"', 'schema = "bundle_schema:schema"'))
    refused = project.runpytest("-k", "ZZLAT", *NO_HYPOTHESIS)
    assert refused.ret == pytest.ExitCode.INTERRUPTED
    refused.stdout.fnmatch_lines(
        ["*bundle_schema:schema* is Python code and would be imported (fix: pass --readiness-trust to*"]
    )
    assert not (bundle / "imported.flag").exists()
    trusted = project.runpytest("-k", "ZZLAT", "--readiness-trust", *NO_HYPOTHESIS)
    assert trusted.ret == 0
    assert (bundle / "imported.flag").read_text() == "yes"


# --------------------------------------------------------------------------- collection
def test_collects_one_item_per_selected_check_plus_the_gate(project: pytest.Pytester) -> None:
    result = project.runpytest("--collect-only", "-q", *NO_HYPOTHESIS)
    ids = [line for line in result.outlines if "::" in line]
    checks = [f"model/readiness.toml::{name}" for name in sorted(EXPECTED) if name != "gate"]
    assert sorted(ids) == sorted(["test_app.py::test_app", *checks, "model/readiness.toml::gate"])
    readiness_ids = [i for i in ids if i.startswith("model/")]
    assert readiness_ids == [*checks, "model/readiness.toml::gate"]  # checks in id order, the gate last
    assert evidence_log(project) == []  # collecting evaluates nothing


def test_explicit_test_path_leaves_the_bundle_out_unless_asked(project: pytest.Pytester) -> None:
    result = project.runpytest("test_app.py", "--collect-only", "-q", *NO_HYPOTHESIS)
    assert not [line for line in result.outlines if "readiness.toml::" in line]
    result = project.runpytest("test_app.py", "--readiness", "--collect-only", "-q", *NO_HYPOTHESIS)
    assert "model/readiness.toml::gate" in result.outlines


# --------------------------------------------------------------------------- outcomes
def test_outcomes_match_the_scorecard(project: pytest.Pytester) -> None:
    result = project.runpytest("-v", "-rA", "--readiness-json", "sc.json", *NO_HYPOTHESIS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["model/readiness.toml::ZZLAT001 PASSED*", "*_ ZZQLT001 (model/readiness.toml) _*"])
    assert outcomes(project) == dict(EXPECTED, test_app="passed")
    result.assert_outcomes(passed=3, failed=3, errors=1, skipped=2, xfailed=1)

    scorecard = json.loads((project.path / "sc.json").read_text())
    status = {c["id"]: c["status"] for c in scorecard["checks"]}
    assert status == {
        "ZZLAT001": "pass",
        "ZZQLT001": "fail",
        "ZZQLT002": "pass",
        "ZZSKP001": "skip",
        "ZZERR001": "error",
        "ZZWAV001": "waived",
        "ZZINC001": "inconclusive",
        "ZZINC002": "inconclusive",
    }
    assert scorecard["gate"]["released"] is False
    assert sorted(scorecard["gate"]["blocking"]) == ["ZZERR001", "ZZINC001", "ZZQLT001"]

    out = result.stdout.str()
    # a failure shows the message, measured values, evidence and the fix; no engine traceback
    assert "ZZQLT001 (blocker) failed: quality meets the bar" in out
    assert "roc_auc 0.61 < 0.90" in out and '"roc_auc": 0.61' in out and "fix: retrain with more data" in out
    assert "ZZERR001 could not run: check crashed: RuntimeError: boom in the check" in out
    assert "ZZSKP001: not applicable: needs [baseline].manifest" in out
    assert "ZZWAV001 waived: fix lands in 1.5 (expires 2099-01-01, owner ml@example.com)" in out
    assert "does not block release (minor < fail_on major): ZZINC002 inconclusive: too few samples" in out
    assert "release BLOCKED (fail_on=major): ZZQLT001, ZZINC001, ZZERR001" in out
    assert "runner.py" not in out and "pytest_plugin.py" not in out
    # the shared evidence was computed once, in one process
    assert sorted(name for _pid, name in evidence_log(project)) == ["latency", "predictions"]


def test_fail_on_option_moves_the_gate_and_inconclusive_outcome(project: pytest.Pytester) -> None:
    result = project.runpytest("-rA", "--readiness-fail-on", "blocker", *NO_HYPOTHESIS)
    found = outcomes(project)
    assert found["ZZINC001"] == "xfailed"  # no longer blocking at fail_on=blocker
    assert found["ZZQLT001"] == "failed"
    assert found["gate"] == "failed"  # ZZQLT001 is a blocker
    result.stdout.fnmatch_lines(["*release BLOCKED (fail_on=blocker): ZZQLT001*"])


def test_fail_on_blocker_xfails_major_failures_and_errors(project: pytest.Pytester) -> None:
    project.runpytest("-rA", "--readiness-fail-on", "blocker", *NO_HYPOTHESIS)
    found = outcomes(project)
    assert found["ZZERR001"] == "xfailed"  # a major check that could not run no longer blocks
    assert found["ZZINC002"] == "xfailed"


@pytest.mark.parametrize("how", ["option", "ini"])
def test_strict_makes_every_failure_a_failed_test(project: pytest.Pytester, how: str) -> None:
    args = ["-rA", "--readiness-fail-on", "blocker", *NO_HYPOTHESIS]
    if how == "option":
        args.append("--readiness-strict")
    else:
        project.makeini("[pytest]\nreadiness_bundles = model\nreadiness_strict = true\naddopts = -p no:cacheprovider\n")
    project.runpytest(*args)
    found = outcomes(project)
    assert found["ZZINC001"] == "failed" and found["ZZINC002"] == "failed"
    assert found["ZZERR001"] == "error"
    assert "xfailed" not in found.values()


def test_released_gate_passes(project: pytest.Pytester) -> None:
    result = project.runpytest("-rA", "-k", "ZZLAT001 or ZZQLT002 or gate", *NO_HYPOTHESIS)
    assert outcomes(project) == {"ZZLAT001": "passed", "ZZQLT002": "passed", "gate": "passed"}
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*model/readiness.toml: RELEASED*"])


# --------------------------------------------------------------------------- selection
def test_k_selection_runs_only_the_selected_checks_and_their_evidence(project: pytest.Pytester) -> None:
    result = project.runpytest("-rA", "-k", "ZZLAT", "--readiness-json", "sc.json", *NO_HYPOTHESIS)
    assert result.ret == 0
    assert outcomes(project) == {"ZZLAT001": "passed"}
    scorecard = json.loads((project.path / "sc.json").read_text())
    assert [c["id"] for c in scorecard["checks"]] == ["ZZLAT001"]
    assert [name for _pid, name in evidence_log(project)] == ["latency"]  # no predictions computed


def test_category_keyword_and_marker_select_checks(project: pytest.Pytester) -> None:
    project.runpytest("-rA", "-k", "latency", *NO_HYPOTHESIS)
    assert set(outcomes(project)) == {"ZZLAT001", "ZZINC001", "ZZINC002"}
    project.runpytest("-rA", "-m", "not readiness", *NO_HYPOTHESIS)
    assert outcomes(project) == {"test_app": "passed"}


def test_last_failed_reruns_only_the_failed_checks(project: pytest.Pytester) -> None:
    _cached(project)
    first = project.runpytest(*NO_HYPOTHESIS)
    first.assert_outcomes(passed=3, failed=3, errors=1, skipped=2, xfailed=1)
    assert len(outcomes(project)) == len(EXPECTED) + 1
    (project.path / "model" / "evidence.log").unlink()
    again = project.runpytest("--lf", "-rA", "--readiness-json", "sc.json", *NO_HYPOTHESIS)
    again.stdout.fnmatch_lines(["*rerun previous 4 failures*"])
    assert outcomes(project) == {"ZZQLT001": "failed", "ZZERR001": "error", "ZZINC001": "failed", "gate": "failed"}
    scorecard = json.loads((project.path / "sc.json").read_text())
    assert scorecard["run"]["selected"] == ["ZZERR001", "ZZINC001", "ZZQLT001"]
    assert sorted(name for _pid, name in evidence_log(project)) == ["latency", "predictions"]


# --------------------------------------------------------------------------- reports and fixtures
def test_junit_xml_names_each_check(project: pytest.Pytester) -> None:
    project.runpytest("--junitxml", "junit.xml", *NO_HYPOTHESIS)
    root = ET.parse(project.path / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase") if c.get("classname") == "model.readiness.toml"}
    assert set(cases) == set(EXPECTED)
    failure = cases["ZZQLT001"].find("failure")
    assert failure is not None and "roc_auc 0.61 < 0.90" in failure.get("message", "") + (failure.text or "")
    assert cases["ZZERR001"].find("error") is not None
    assert cases["ZZSKP001"].find("skipped") is not None
    assert cases["ZZLAT001"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in cases["ZZQLT001"].iter("property")}
    assert props["severity"] == "blocker" and props["status"] == "fail" and props["category"] == "quality"


def test_fixtures_share_the_checks_context(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_custom=textwrap.dedent(
            """
            def test_bundle(readiness_bundle):
                assert readiness_bundle.manifest.model.name == "test-model"
                assert len(readiness_bundle.reference) == 200

            def test_context(readiness_context):
                assert readiness_context.seed == 7
                # the checks' memoised evidence is visible to ordinary tests, and vice versa
                assert readiness_context.memo(("zz:evidence", "latency"), lambda: "recomputed") == "latency"
                assert readiness_context.y_true.shape == (200,)
            """
        )
    )
    result = project.runpytest("-rA", "-k", "ZZLAT001 or test_", "--readiness-seed", "7", *NO_HYPOTHESIS)
    assert result.ret == 0
    assert outcomes(project) == {
        "ZZLAT001": "passed",
        "test_app": "passed",
        "test_bundle": "passed",
        "test_context": "passed",
    }
    assert [name for _pid, name in evidence_log(project)] == ["latency"]


def test_fixtures_pick_a_bundle_by_indirect_parametrization(project: pytest.Pytester) -> None:
    write_bundle(project.path / "other", manifest={"model": {"name": "other-model"}})
    project.makepyfile(
        test_custom=textwrap.dedent(
            """
            import pytest

            def test_first(readiness_bundle):
                assert readiness_bundle.manifest.model.name == "test-model"

            @pytest.mark.parametrize("readiness_context", ["other"], indirect=True)
            def test_other(readiness_context):
                assert readiness_context.bundle.manifest.model.name == "other-model"

            @pytest.mark.parametrize("readiness_bundle", ["nowhere"], indirect=True)
            def test_unknown(readiness_bundle):
                pass
            """
        )
    )
    result = project.runpytest("-rA", "--readiness-bundle", "other", "-m", "not readiness", *NO_HYPOTHESIS)
    result.stdout.fnmatch_lines(["*nowhere is not a configured readiness bundle (configured: model/readiness.toml, *"])
    found = outcomes(project)
    assert (found["test_first"], found["test_other[other]"], found["test_unknown[nowhere]"]) == (
        "passed",
        "passed",
        "error",
    )


def test_fixtures_without_a_bundle_fail_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_custom="def test_bundle(readiness_bundle):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no readiness bundle is configured (fix: set readiness_bundles*"])


# --------------------------------------------------------------------------- xdist
@pytest.mark.slow
def test_xdist_gives_the_same_outcomes_and_evaluates_once_per_worker(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-n", "2", "-rA", "--readiness-json", "sc.json")
    assert outcomes(project) == dict(EXPECTED, test_app="passed")
    result.assert_outcomes(passed=3, failed=3, errors=1, skipped=2, xfailed=1)
    result.stdout.fnmatch_lines(["*model/readiness.toml: BLOCKED*"])  # the verdict a worker computed
    log = evidence_log(project)
    pids = {pid for pid, _name in log}
    assert 1 <= len(pids) <= 2
    for pid in pids:  # each worker computed each piece of evidence at most once
        names = [name for p, name in log if p == pid]
        assert sorted(names) == sorted(set(names))
    scorecard = json.loads((project.path / "sc.json").read_text())
    assert {c["id"]: c["status"] for c in scorecard["checks"]}["ZZWAV001"] == "waived"
