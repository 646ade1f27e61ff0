"""Runner isolation, the gate (fail_on, require, waivers) and scores, on a bundle built at test time."""

from __future__ import annotations

import datetime as dt
import time
import types
from pathlib import Path

import pytest
from builders import write_bundle

from readiness import Registry, check, errored, evaluate, failed, inconclusive, passed
from readiness.errors import BundleError

TODAY = dt.date(2026, 11, 26)


def _registry(**statuses: str) -> Registry:
    """A registry of checks whose outcome is given by id -> status (or 'raise'/'sleep')."""
    reg = Registry()
    module = types.ModuleType("fake_checks")
    for cid, behaviour in statuses.items():
        severity = {"A": "blocker", "M": "major", "N": "minor", "I": "info"}[cid[3]]

        def func(ctx, behaviour=behaviour):
            if behaviour == "raise":
                raise ZeroDivisionError("boom")
            if behaviour == "sleep":
                time.sleep(3)
                return passed("too late")
            return {"pass": passed, "fail": failed, "error": errored, "inconclusive": inconclusive}[behaviour](
                behaviour
            )

        requires = ["baseline"] if behaviour == "needs-baseline" else []
        if behaviour == "needs-baseline":

            def func(ctx):  # noqa: F811 - never reached without a baseline
                return passed("unreachable")

        func.__module__ = "fake_checks"
        setattr(
            module,
            cid,
            check(cid, f"check {cid}", category=cid[:3].lower(), severity=severity, requires=requires)(func),
        )
    reg.add_object(module)
    return reg


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "b")


def _manifest(bundle: Path, extra: str) -> None:
    path = bundle / "readiness.toml"
    path.write_text(path.read_text() + "\n" + extra)


def test_a_crashing_check_is_an_error_and_the_run_goes_on(bundle):
    sc, _ = evaluate(bundle, registry=_registry(XXXM001="raise", XXXM002="pass"), today=TODAY)
    crashed = sc.check("XXXM001")
    assert crashed.status == "error"
    assert "ZeroDivisionError: boom" in crashed.message
    assert "traceback" in crashed.evidence
    assert sc.check("XXXM002").status == "pass"
    assert not sc.released and sc.gate["blocking"] == ["XXXM001"]


def test_a_check_that_times_out_is_an_error_and_is_stopped(bundle):
    _manifest(bundle, "[checks]\ntimeout_s = 0.2\n")
    spins = [0]
    reg = _registry(XXXM002="pass")

    @check("XXXM001", "spins forever", category="xxx", severity="major")
    def spin(ctx):
        while True:  # pure Python: stopped by the runner once its time is up
            spins[0] += 1

    reg.add_object(spin)
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert sc.check("XXXM001").status == "error"
    assert sc.check("XXXM001").message == "timed out after 0.2 s; the check was stopped"
    assert sc.check("XXXM002").status == "pass"
    after = spins[0]
    time.sleep(0.2)
    assert spins[0] == after  # nothing keeps running after the cap


def test_a_bundle_can_lower_the_check_timeout_but_not_raise_it(bundle):
    from readiness import Timeouts, plan

    _manifest(bundle, "[checks]\ntimeout_s = 5\n")
    assert plan(bundle, timeouts=Timeouts(check_s=60)).timeouts.check_s == 5
    assert plan(bundle, timeouts=Timeouts(check_s=2)).timeouts.check_s == 2


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0"])
def test_a_bundle_timeout_that_is_not_a_positive_number_is_a_bundle_error(bundle, value):
    _manifest(bundle, f"[checks]\ntimeout_s = {value}\n")
    with pytest.raises(BundleError, match="timeout_s"):
        evaluate(bundle, registry=_registry(XXXM001="pass"), today=TODAY)


def test_fail_on_decides_which_severities_block(bundle):
    reg = _registry(XXXN001="fail", XXXM002="pass")
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert sc.released  # a minor failure does not block at fail_on = major
    sc, _ = evaluate(bundle, registry=reg, fail_on="minor", today=TODAY)
    assert not sc.released and sc.gate["blocking"] == ["XXXN001"]
    assert "XXXN001 (minor) failed" in sc.gate["reasons"][0]


def test_inconclusive_and_error_block_like_a_failure(bundle):
    sc, _ = evaluate(bundle, registry=_registry(XXXM001="inconclusive", XXXA002="error", XXXI003="fail"), today=TODAY)
    assert sc.gate["blocking"] == ["XXXM001", "XXXA002"]  # inconclusive before could-not-run


def test_a_required_check_that_skips_blocks(bundle):
    reg = _registry(XXXM001="needs-baseline")
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert sc.check("XXXM001").status == "skip"
    assert "[baseline].manifest" in sc.check("XXXM001").message
    assert sc.released
    _manifest(bundle, '[policy]\nrequire = ["XXXM001"]\n')
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert not sc.released
    assert "required" in sc.gate["reasons"][0]


def _waiver(check_id: str, expires: str) -> str:
    return f'[[waivers]]\ncheck = "{check_id}"\nreason = "new hardware in Q3"\nowner = "platform@example.com"\nexpires = {expires}\n'


def test_waivers_applied_expired_and_unused(bundle):
    reg = _registry(XXXM001="fail", XXXM002="fail", XXXM003="pass")
    _manifest(
        bundle, _waiver("XXXM001", "2027-03-31") + _waiver("XXXM002", "2026-11-01") + _waiver("XXXM003", "2027-01-01")
    )
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    states = {w["check"]: w["state"] for w in sc.waivers}
    assert states == {"XXXM001": "applied", "XXXM002": "expired", "XXXM003": "unused"}
    assert sc.check("XXXM001").status == "waived"
    assert sc.check("XXXM002").status == "fail"  # an expired waiver no longer waives
    assert not sc.released
    assert any("expired on 2026-11-01" in r for r in sc.gate["reasons"])
    assert "XXXM001" not in sc.gate["blocking"]


def test_an_expired_waiver_blocks_even_when_its_check_passes(bundle):
    _manifest(bundle, _waiver("XXXM001", "2026-01-01"))
    sc, _ = evaluate(bundle, registry=_registry(XXXM001="pass"), today=TODAY)
    assert not sc.released and sc.gate["blocking"] == ["XXXM001"]


def test_a_waiver_without_expiry_is_a_bundle_error(bundle):
    _manifest(bundle, '[[waivers]]\ncheck = "XXXM001"\nreason = "r"\nowner = "o"\n')
    with pytest.raises(BundleError, match=r"waivers\[0\]\.expires: required key is missing"):
        evaluate(bundle, registry=_registry(XXXM001="fail"), today=TODAY)


def test_scores_weight_severities_overall_over_all_checks(bundle):
    reg = _registry(
        AAAA001="pass", AAAM002="fail", BBBN001="pass", BBBM002="pass", CCCI001="fail", DDDM001="needs-baseline"
    )
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    cats = sc.scores["categories"]
    assert cats["aaa"] == pytest.approx(10 / 15, abs=1e-4)
    assert cats["bbb"] == 1.0
    assert "ccc" not in cats  # info has no weight
    assert "ddd" not in cats  # skipped: not evaluated
    # overall = passed weight / evaluated weight over all checks: (10 + 2.5 + 5) / (15 + 2.5 + 5)
    assert sc.scores["overall"] == pytest.approx(17.5 / 22.5, abs=1e-4)
    assert sc.scores["lowest_category"] == "aaa"


def test_severity_override_from_the_manifest(bundle):
    _manifest(bundle, '[checks.severity]\nXXXN001 = "blocker"\n')
    sc, _ = evaluate(bundle, registry=_registry(XXXN001="fail"), today=TODAY)
    assert sc.check("XXXN001").severity == "blocker"
    assert not sc.released


def test_unknown_threshold_names_are_rejected_with_a_suggestion(bundle):
    reg = Registry()

    @check("XXXM001", "reads a threshold", category="quality", severity="major", thresholds={"max_flip_rate": 0.05})
    def reads(ctx):
        return passed(f"limit {ctx.threshold('max_flip_rate')}")

    reg.add_object(reads)
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    assert sc.check("XXXM001").message == "limit 0.05"
    _manifest(bundle, "[policy.thresholds]\nmax_flip_rat = 0.1\n")
    with pytest.raises(BundleError, match="did you mean 'max_flip_rate'"):
        evaluate(bundle, registry=reg, today=TODAY)


def _score_reference_rows(bundle: Path):
    """The result of a check that only scores the reference rows, on `bundle`."""
    reg = Registry()

    @check("XXXM001", "scores the reference rows", category="xxx", severity="major")
    def scores(ctx):
        return passed(f"scored {len(ctx.reference_predictions)} rows")

    reg.add_object(scores)
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    return sc.check("XXXM001")


def test_a_model_that_refuses_the_declared_rows_is_an_error_naming_the_contract(tmp_path):
    """Every check that scores rows says why it could not, instead of 'check crashed'."""
    from builders import serving_config

    serving = serving_config(4)
    serving["inputs"][0]["dtype"] = "float64"  # the graph takes float32
    result = _score_reference_rows(write_bundle(tmp_path / "b", serving=serving))
    assert result.status == "error"
    assert "SCH001" in result.message and "crashed" not in result.message


def test_a_class_count_mismatch_is_an_error_naming_sch004(tmp_path):
    from builders import serving_config

    serving = serving_config(4)
    serving["outputs"] = [{"name": "probabilities", "kind": "probabilities", "classes": [0, 1, 2]}]
    result = _score_reference_rows(write_bundle(tmp_path / "b", serving=serving))
    assert result.status == "error"
    assert "3 classes are declared" in result.message and "SCH004" in result.message
    assert "crashed" not in result.message


def test_reasons_lead_with_failures_then_what_could_not_run(bundle):
    """A reviewer reads the root cause first: failures by severity, errors (often consequences) last."""
    reg = _registry(XXXM001="error", XXXN002="fail", XXXA003="fail", XXXA004="inconclusive", XXXM005="fail")
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    order = [reason.split(" ")[0] for reason in sc.gate["reasons"]]
    assert order == ["XXXA003", "XXXM005", "XXXA004", "XXXM001"]  # the minor XXXN002 is below fail_on
    assert sc.gate["blocking"] == order  # renderers list blocking findings in this order


def test_the_terminal_folds_a_long_list_of_blocking_checks(bundle):
    import io

    from readiness.reports.terminal import MAX_REASONS, plain

    reg = _registry(XXXA001="fail", **{f"XXXM{i:03d}": "error" for i in range(2, 10)})
    sc, _ = evaluate(bundle, registry=reg, today=TODAY)
    out = io.StringIO()
    plain(sc, out, quiet=True)
    notes = [line for line in out.getvalue().splitlines() if line.startswith("  - ")]
    assert len(notes) == MAX_REASONS + 1
    assert notes[0].startswith("  - XXXA001 (blocker) failed")
    assert notes[-1] == "  - and 4 more blocking: XXXM006, XXXM007, XXXM008, XXXM009 (details in the scorecard)"


def test_an_empty_output_is_not_a_crash():
    """A legitimate 0-sized output (e.g. a Slice to nothing) has no per-row value to judge."""
    import numpy as np

    from readiness.config import OutputSpec
    from readiness.runtime import interpret

    pred = interpret({"y": np.zeros((3, 0), dtype=np.float32)}, [OutputSpec(name="y", kind="score")])
    assert pred.values is None
    pred = interpret({"y": np.ones((3, 2), dtype=np.float32)}, [OutputSpec(name="y", kind="score")])
    assert pred.values.tolist() == [[1.0, 1.0]] * 3  # two class scores per row; labels by argmax
    assert pred.labels.tolist() == [0, 0, 0]


def _timing_registry(started: list[float]) -> Registry:
    reg = Registry()

    @check("XXXM001", "timing", category="xxx", severity="major", exclusive=True)
    def timing(ctx):
        started.append(time.monotonic())
        return passed("timed")

    @check("XXXM002", "not timing", category="xxx", severity="major")
    def not_timing(ctx):
        started.append(-time.monotonic())
        return passed("ran")

    reg.add_object([timing, not_timing])
    return reg


@pytest.fixture
def own_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine lock of this test's own: another test's readiness run must not hold it meanwhile."""
    import tempfile

    machine = tmp_path / "machine"
    machine.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(machine))


def _other_run_holding(operation: int) -> tuple[object, list[float]]:
    """Another readiness run holding the machine lock (shared: working; exclusive: timing) for a moment."""
    import fcntl
    import tempfile
    import threading

    from readiness.runner import LOCK_NAME

    other_run = open(Path(tempfile.gettempdir()) / LOCK_NAME, "a+")  # noqa: SIM115 - closed by the caller
    fcntl.flock(other_run, operation)
    released: list[float] = []

    def release() -> None:
        time.sleep(0.5)
        released.append(time.monotonic())
        fcntl.flock(other_run, fcntl.LOCK_UN)

    threading.Thread(target=release).start()
    return other_run, released


def test_timing_checks_wait_for_another_run_working_on_the_machine(bundle, own_machine):
    """Another run's untimed work (a shared hold) lets ours work, but not time."""
    import fcntl

    started: list[float] = []
    other_run, released = _other_run_holding(fcntl.LOCK_SH)
    with other_run:
        sc, _ = evaluate(bundle, registry=_timing_registry(started), today=TODAY)
    assert sc.check("XXXM001").status == "pass"
    assert -started[0] < released[0] <= started[1]  # the ordinary check did not wait; the timing one did


def test_untimed_checks_wait_while_another_run_times(bundle, own_machine):
    """Another run timing (an exclusive hold): our run does not even work meanwhile."""
    import fcntl

    started: list[float] = []
    other_run, released = _other_run_holding(fcntl.LOCK_EX)
    with other_run:
        sc, _ = evaluate(bundle, registry=_timing_registry(started), today=TODAY)
    assert [sc.check(c).status for c in ("XXXM001", "XXXM002")] == ["pass", "pass"]
    assert released[0] <= -started[0] <= started[1]


@pytest.mark.parametrize(("required", "status"), [(True, "fail"), (False, "skip")])
def test_a_provider_missing_inside_a_check_follows_required_providers(tmp_path, required, status):
    """The policy is decided once, where the error is raised: from a check body as from session loading."""
    from builders import serving_config

    from readiness.timing import verify_providers

    serving = serving_config(4)
    serving["runtime"]["required_providers"] = required

    class FellBack:  # a session that silently runs on another provider than the one requested
        def get_providers(self):
            return ["CPUExecutionProvider"]

    reg = Registry()

    @check("XXXM001", "measures on the requested provider", category="xxx", severity="major", requires=["session"])
    def measures(ctx):
        verify_providers(FellBack(), ["CUDAExecutionProvider"], required=ctx.runtime_spec.required_providers)
        return passed("measured")

    reg.add_object(measures)
    sc, _ = evaluate(write_bundle(tmp_path / "b", serving=serving), registry=reg, today=TODAY)
    assert sc.check("XXXM001").status == status
    assert "CUDAExecutionProvider" in sc.check("XXXM001").message
