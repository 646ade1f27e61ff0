"""Untimed checks run concurrently (`workers`), timing-sensitive ones alone afterwards; shared evidence
is computed once however many checks ask at the same moment. No wall-clock duration is asserted:
overlap and order are proven with events and with the order in which things were recorded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from builders import write_bundle

from readiness import Registry, Timeouts, check, evaluate, passed
from readiness.context import Context

BACKSTOP_S = 60.0  # only ever reached when the behaviour under test is broken


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(tmp_path_factory.mktemp("concurrency") / "b")


def _registry(*funcs) -> Registry:
    reg = Registry()
    reg.add_object(list(funcs))
    return reg


def test_untimed_checks_overlap_and_timing_checks_run_alone_afterwards(bundle):
    """Each untimed check waits until the other has started: only a concurrent runner lets both pass."""
    log: list[str] = []
    lock = threading.Lock()
    started = {"XXXM001": threading.Event(), "XXXM002": threading.Event()}

    def record(what: str) -> None:
        with lock:
            log.append(what)

    def meets(me: str, other: str):
        record(f"enter {me}")
        started[me].set()
        met = started[other].wait(BACKSTOP_S)
        record(f"exit {me}")
        return passed("met") if met else passed("alone")

    @check("XXXM001", "slow one", category="xxx", severity="major")
    def one(ctx):
        return meets("XXXM001", "XXXM002")

    @check("XXXM002", "slow two", category="xxx", severity="major")
    def two(ctx):
        return meets("XXXM002", "XXXM001")

    @check("XXXM003", "timing", category="xxx", severity="major", exclusive=True)
    def timing(ctx):
        record("timing")
        return passed("timed")

    sc, _ = evaluate(bundle, registry=_registry(one, two, timing), workers=2)
    assert [sc.check(c).message for c in ("XXXM001", "XXXM002")] == ["met", "met"]
    assert set(log[:2]) == {"enter XXXM001", "enter XXXM002"}  # both entered before either left
    assert log[-1] == "timing"  # after both untimed checks had returned
    assert [c.id for c in sc.checks] == ["XXXM001", "XXXM002", "XXXM003"]


def test_one_worker_runs_the_checks_one_after_another(bundle):
    log: list[str] = []
    events: list[str] = []

    def make(cid: str):
        @check(cid, f"check {cid}", category="xxx", severity="major")
        def func(ctx):
            log.append(f"enter {cid}")
            time.sleep(0.05)  # room for another check to start, were it allowed to
            log.append(f"exit {cid}")
            return passed("ran")

        return func

    reg = _registry(*(make(f"XXXM00{i}") for i in (3, 1, 2)))
    sc, _ = evaluate(bundle, registry=reg, workers=1, listener=lambda event, spec, run: events.append(event))
    ids = ["XXXM001", "XXXM002", "XXXM003"]
    assert log == [f"{what} {cid}" for cid in ids for what in ("enter", "exit")]
    assert events == ["start", "end"] * 3
    assert [c.status for c in sc.checks] == ["pass"] * 3


def test_a_crashing_and_a_hanging_check_in_the_pool_are_errors_and_the_others_finish(bundle, tmp_path):
    write_bundle(tmp_path / "b", manifest={"checks": {"timeout_s": 0.5}})
    spins = [0]

    @check("XXXM001", "crashes", category="xxx", severity="major")
    def crash(ctx):
        raise ZeroDivisionError("boom")

    @check("XXXM002", "spins", category="xxx", severity="major")
    def spin(ctx):
        while True:  # pure Python: stopped by the runner once its time is up
            spins[0] += 1

    @check("XXXM003", "fine", category="xxx", severity="major")
    def fine(ctx):
        return passed("fine")

    @check("XXXM004", "fine too", category="xxx", severity="major")
    def fine_too(ctx):
        return passed("fine too")

    sc, _ = evaluate(tmp_path / "b", registry=_registry(crash, spin, fine, fine_too), workers=2)
    assert sc.check("XXXM001").status == "error" and "ZeroDivisionError: boom" in sc.check("XXXM001").message
    assert sc.check("XXXM002").message == "timed out after 0.5 s; the check was stopped"
    assert [sc.check(c).status for c in ("XXXM003", "XXXM004")] == ["pass", "pass"]
    after = spins[0]
    time.sleep(0.2)
    assert spins[0] == after  # the stopped check does not keep running


@pytest.fixture
def own_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine lock of this test's own: another test's readiness run timing now must not hold it up."""
    import tempfile

    machine = tmp_path / "machine"
    machine.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(machine))


@pytest.mark.parametrize("workers", [1, 2])
def test_checks_not_started_when_the_run_time_is_up_say_so(bundle, workers, own_machine):
    """`workers` checks take the whole run; the others were never started."""

    def hog(cid: str):
        @check(cid, "takes the whole run", category="xxx", severity="major")
        def func(ctx):
            while True:
                pass

        return func

    @check("XXXM009", "never started", category="xxx", severity="major")
    def late(ctx):
        return passed("ran")

    reg = _registry(*(hog(f"XXXM00{i}") for i in range(1, workers + 1)), late)
    sc, _ = evaluate(bundle, registry=reg, workers=workers, timeouts=Timeouts(run_s=0.5, check_s=60))
    for i in range(1, workers + 1):
        assert sc.check(f"XXXM00{i}").message.startswith("timed out: the run's --timeout 0.5 s was reached")
    assert sc.check("XXXM009").message == "not run: the run's --timeout 0.5 s was reached"


def test_workers_must_be_at_least_one(bundle):
    with pytest.raises(ValueError, match="workers"):
        evaluate(bundle, registry=_registry(), workers=0)


# --------------------------------------------------------------------------- shared evidence
@pytest.fixture
def ctx(bundle) -> Context:
    from readiness.bundle import load_bundle

    return Context(load_bundle(bundle))


def _waiters(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record each caller that starts waiting for a memo key another thread is computing."""
    import readiness.context as context_module

    waiting: list[object] = []
    original = context_module._wait

    def wait(event):
        waiting.append(event)
        original(event)

    monkeypatch.setattr(context_module, "_wait", wait)
    return waiting


def _until(condition) -> None:
    stop = time.monotonic() + BACKSTOP_S
    while not condition():
        assert time.monotonic() < stop, "backstop reached"
        time.sleep(0.005)


def test_memo_is_computed_once_when_many_checks_ask_at_once(ctx, monkeypatch):
    waiting = _waiters(monkeypatch)
    calls: list[int] = []
    release = threading.Event()

    def factory():
        calls.append(1)
        release.wait(BACKSTOP_S)  # hold the computation until every other asker waits for it
        return object()

    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(ctx.memo("test:shared", factory))) for _ in range(4)]
    for t in threads:
        t.start()
    _until(lambda: len(waiting) == 3)  # one computes, three wait for it
    release.set()
    for t in threads:
        t.join(BACKSTOP_S)
    assert len(calls) == 1
    assert len(got) == 4 and all(value is got[0] for value in got)


def test_memo_waiters_share_a_failure_and_a_factory_may_ask_for_other_keys(ctx, monkeypatch):
    waiting = _waiters(monkeypatch)
    release = threading.Event()

    def inner():
        return 41

    def outer():
        value = ctx.memo("test:inner", inner) + 1  # another key, asked from inside a factory
        release.wait(BACKSTOP_S)
        raise ValueError(f"broken {value}")

    errors: list[str] = []

    def ask() -> None:
        try:
            ctx.memo("test:outer", outer)
        except ValueError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    _until(lambda: len(waiting) == 1)
    release.set()
    for t in threads:
        t.join(BACKSTOP_S)
    assert errors == ["broken 42", "broken 42"]
    with pytest.raises(RuntimeError, match="its own factory"):
        ctx.memo("test:cycle", lambda: ctx.memo("test:cycle", lambda: 0))


def test_a_check_cancelled_while_computing_shared_evidence_leaves_it_to_the_next_asker(bundle, tmp_path):
    """The first asker times out inside the factory; a check that waited for it computes it itself.

    The waiter starts 0.8 s after the first (a third check holds the second worker until then), so
    its own 1 s limit ends well after the first is stopped: were both started together, their limits
    would end together and which is judged first would be a race."""
    write_bundle(tmp_path / "b", manifest={"checks": {"timeout_s": 1}})
    first_in = threading.Event()
    computed: list[str] = []

    def factory():
        if not first_in.is_set():
            first_in.set()
            while True:  # the first computation never ends: its check is stopped
                pass
        computed.append("second")
        return "evidence"

    @check("XXXM001", "asks first", category="xxx", severity="major")
    def first(ctx):
        return passed(ctx.memo("test:evidence", factory))

    @check("XXXM002", "holds the other worker", category="xxx", severity="major")
    def filler(ctx):
        first_in.wait(BACKSTOP_S)
        time.sleep(0.8)
        return passed("done")

    @check("XXXM003", "asks while the first computes", category="xxx", severity="major")
    def waiter(ctx):
        assert not computed  # the first is still computing: this check waits for it
        return passed(ctx.memo("test:evidence", factory))

    sc, _ = evaluate(tmp_path / "b", registry=_registry(first, filler, waiter), workers=2)
    assert sc.check("XXXM001").message == "timed out after 1 s; the check was stopped"
    assert sc.check("XXXM003").message == "evidence"
    assert computed == ["second"]


def test_counters_add_up_across_threads(ctx):
    def add() -> None:
        for _ in range(2000):
            ctx.count("test_events")

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BACKSTOP_S)
    assert ctx.counters["test_events"] == 8000


# --------------------------------------------------------------------------- the example, in turn and at once
def test_the_example_gives_the_same_scorecard_in_turn_and_concurrently(example_bundle):
    from readiness.scorecard import strip_timings

    cards = []
    for workers in (1, 2):
        sc, _ = evaluate(example_bundle, ignore=["LAT", "SRV"], workers=workers)
        cards.append(strip_timings(sc.to_dict()))
    assert cards[0] == cards[1]
    assert cards[0]["gate"]["released"]


def test_the_progress_line_names_a_check_still_running():
    """With several checks at once, the terminal's progress line shows one that is running, not the last started."""
    from types import SimpleNamespace

    from readiness.cli import _progress

    listener, progress = _progress(True, False)
    one, two = SimpleNamespace(id="XXXM001", title="one"), SimpleNamespace(id="XXXM002", title="two")
    try:
        listener("start", one, None)
        listener("start", two, None)
        assert progress.tasks[0].description == "XXXM001 one (+1 running)"
        listener("end", one, None)
        assert progress.tasks[0].description == "XXXM002 two"
        assert progress.tasks[0].completed == 1
    finally:
        progress.stop()
