"""Run selected checks against a context, each isolated from the others.

An exception in one check becomes that check's result (an `Outcome` says which; anything else is
`error`: the check crashed) and the run goes on. Each check runs in its own thread under a time
limit; a check that overruns is stopped for real (`cancel.Cancellation`: its inference is
terminated, its child processes killed) and becomes `error`. Once the model's inference has
overrun, later checks that need the model are `error` at once, citing that first timeout. When the
whole run's time is up, the remaining checks are `error` without running.

Checks that do no timing run concurrently, `workers` at a time (inference and numpy release the
GIL; the evidence they share is computed once, see `Context.memo`). Timing-sensitive (`exclusive`)
checks run afterwards, alone. Both phases hold the machine-wide reader/writer lock
(`machine_lock`): the untimed phase shared, the timing phase exclusive, so a readiness run never
times while any other readiness run on the machine is working, nor works while another times.

The runner names no check: what an exception means is said by the exception (errors.Outcome).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cancel
from .cancel import Cancellation, CheckCancelled, Timeouts
from .config import SEVERITY_RANK
from .context import Context
from .errors import InferenceTimedOut, Outcome
from .registry import REQUIREMENTS, CheckSpec, Result, checking, errored, skipped
from .vocabulary import jsonable


@dataclass
class CheckRun:
    """One check's result in a run, with the metadata the scorecard shows."""

    spec: CheckSpec
    severity: str
    result: Result
    duration_s: float
    waiver: dict[str, Any] | None = field(default=None)

    @property
    def status(self) -> str:
        return self.result.status


Listener = Callable[[str, CheckSpec, "CheckRun | None"], None]  # ("start"|"end", spec, run)


def _absent(ctx: Context, requires: Iterable[str]) -> Result | None:
    """`skip` when an input the check needs is absent from the bundle (the model aside)."""
    b = ctx.bundle
    serving = b.serving
    absent = {
        "serving": serving is None,
        "schema": b.schema is None,
        "reference": b.reference is None,
        "target": b.target is None,
        "source": b.source_path is None,
        "baseline": b.baseline is None,
        "slices": not b.manifest.data.slices,
        "slo": serving is None or (not serving.slo.latency and serving.slo.throughput_rps is None),
    }
    for requirement in requires:
        if absent.get(requirement):
            return skipped(f"not applicable: needs {REQUIREMENTS[requirement]}")
    return None


def outcome(exc: Outcome) -> Result:
    """The result an Outcome exception stands for."""
    return Result(exc.status, exc.describe(), caused_by=exc.caused_by())


def _call(spec: CheckSpec, ctx: Context) -> Result:
    try:
        # absent inputs first: a check that cannot apply is `skip` even when the model does not load
        missing = _absent(ctx, spec.requires)
        if missing is not None:
            return missing
        if "session" in spec.requires:
            ctx.session  # noqa: B018 - load (once) to learn whether the model runs
        result = spec.func(ctx)
    except Outcome as exc:
        return outcome(exc)
    except Exception as exc:  # noqa: BLE001 - isolation: a crashing check is an error result
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return errored(f"check crashed: {type(exc).__name__}: {exc}", evidence={"traceback": "".join(tb[-6:])})
    if not isinstance(result, Result):
        return errored(f"check returned {type(result).__name__}, expected a readiness Result")
    return result


def _raise_in(thread: threading.Thread, exc_type: type[BaseException]) -> None:
    """Raise `exc_type` in `thread` at its next Python instruction (CPython; a no-op elsewhere)."""
    ident = thread.ident
    if ident is None or not hasattr(ctypes, "pythonapi"):
        return
    with contextlib.suppress(Exception):
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc_type))


class _Worker:
    """One check running in its own thread under its stop switch.

    Completion is an Event set when the check's code has returned (or unwound): unlike
    `Thread.join`, waiting on it can be interrupted by Ctrl-C without losing track of the thread.
    """

    def __init__(
        self, spec: CheckSpec, ctx: Context, switch: Cancellation, wake: threading.Event | None = None
    ) -> None:
        self.spec = spec
        self.switch = switch
        self.result: Result | None = None
        self.ended: float | None = None  # time.perf_counter() when the check's code returned
        self.done = threading.Event()
        self._wake = wake  # set after `done`: the runner waits on one event for all its workers
        self.thread = threading.Thread(target=self._target, args=(spec, ctx), name=f"readiness-{spec.id}", daemon=True)
        self.thread.start()

    def _target(self, spec: CheckSpec, ctx: Context) -> None:
        try:
            # contextvars are per thread: each check sees its own switch and its own `current_check()`
            with cancel.using(self.switch), checking(spec):  # ctx.threshold reads the running check's own
                self.result = _call(spec, ctx)
        except CheckCancelled:
            pass
        finally:
            self.ended = time.perf_counter()
            self.done.set()
            if self._wake is not None:
                self._wake.set()

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)

    def is_alive(self) -> bool:
        return not self.done.is_set()


def default_workers() -> int:
    """How many checks run at once by default: one per usable CPU, at most MAX_DEFAULT_WORKERS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


MAX_DEFAULT_WORKERS = 4


@dataclass
class _Active:
    """A check running in the pool: its worker, when it started and when its time is up."""

    spec: CheckSpec
    worker: _Worker
    start: float  # time.perf_counter()
    until: float  # time.monotonic()
    cap: float
    deferred: bool = False  # its time was once extended to let a running inference be judged first


class Runner:
    # after a check's inference is terminated (or its process killed), how long it may take to unwind
    UNWIND_S = 2.0

    def __init__(
        self,
        ctx: Context,
        *,
        timeouts: Timeouts | None = None,
        timeout_s: float | None = None,  # per-check limit (older callers); `timeouts` wins
        severities: dict[str, str] | None = None,
        listener: Listener | None = None,
        started: float | None = None,  # time.monotonic() when the run began (the whole-run limit counts from it)
        workers: int | None = None,  # untimed checks running at once (default: default_workers())
    ) -> None:
        if timeouts is None:
            timeouts = Timeouts() if timeout_s is None else Timeouts(check_s=timeout_s)
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a whole number of at least 1, not {workers!r}")
        self.ctx = ctx
        self.timeouts = timeouts
        self.severities = severities or {}
        self.listener = listener  # called from the thread that called run(), never from a check's thread
        self.workers = default_workers() if workers is None else workers
        self.deadline = (time.monotonic() if started is None else started) + timeouts.run_s
        self.stragglers: list[_Worker] = []  # checks whose thread could not be stopped (`is_alive()`)

    # ------------------------------------------------------------------ one check
    def _begin(self, spec: CheckSpec) -> float:
        if self.listener:
            self.listener("start", spec, None)
        return time.perf_counter()

    def _end(self, spec: CheckSpec, result: Result, start: float, ended: float | None = None) -> CheckRun:
        # One JSON spelling for every check's numbers (numpy types, NaN/inf, paths), applied here once.
        result = dataclasses.replace(result, measured=jsonable(result.measured), evidence=jsonable(result.evidence))
        severity = self.severities.get(spec.id, spec.severity)
        if result.severity is not None and SEVERITY_RANK[result.severity] < SEVERITY_RANK[severity]:
            severity = result.severity  # a finding may be less grave than its check, never graver
        run = CheckRun(spec, severity, result, (time.perf_counter() if ended is None else ended) - start)
        if self.listener:
            self.listener("end", spec, run)
        return run

    def _run_one(self, spec: CheckSpec) -> CheckRun:
        """Run one check alone (the timing phase), waiting for it here."""
        start = self._begin(spec)
        settled = self._settled_result(spec)
        if settled is not None:
            return self._end(spec, settled, start)
        active = self._launch(spec, start)
        try:
            finished = active.worker.wait(max(0.0, active.until - time.monotonic()))
        except BaseException:  # Ctrl-C or SIGTERM while waiting: stop the check before leaving
            self._stop([active.worker], "the run was interrupted")
            raise
        if finished:
            return self._end(spec, self._finished(active), start, active.worker.ended)
        return self._end(spec, self._timed_out(active), start)

    def _not_run(self, spec: CheckSpec, why: str) -> CheckRun:
        run = CheckRun(spec, self.severities.get(spec.id, spec.severity), errored(why), 0.0)
        if self.listener:
            self.listener("start", spec, None)
            self.listener("end", spec, run)
        return run

    def _run_limit_reached(self) -> str:
        return f"not run: the run's --timeout {self.timeouts.run_s:g} s was reached"

    def _settled(self, spec: CheckSpec) -> bool:
        """True when the check's result is known without running it (the run's time is up, the model hung)."""
        return self._settled_result(spec) is not None

    def _settled_result(self, spec: CheckSpec) -> Result | None:
        """The result of a check that is not started (the run's time is up, the model hung), else None."""
        if self.deadline - time.monotonic() <= 0:
            return errored(self._run_limit_reached())
        hung = self.ctx.inference_timeout
        if hung and "session" in spec.requires:
            return outcome(InferenceTimedOut(hung))
        return None

    def _launch(self, spec: CheckSpec, start: float, wake: threading.Event | None = None) -> _Active:
        cap = min(self.timeouts.check_s, self.deadline - time.monotonic())
        switch = Cancellation(blocked=lambda: self.ctx.inference_timeout)
        worker = _Worker(spec, self.ctx, switch, wake)
        return _Active(spec, worker, start, time.monotonic() + cap, cap)

    @staticmethod
    def _finished(active: _Active) -> Result:
        return active.worker.result or errored("check was cancelled")

    def _timed_out(self, active: _Active) -> Result:
        """Stop a check whose time is up; its result says why (and, when its inference overran, every
        later check that needs the model is settled at once, citing it)."""
        cap = active.cap
        if cap < self.timeouts.check_s:
            why = f"timed out: the run's --timeout {self.timeouts.run_s:g} s was reached"
        else:
            why = f"timed out after {cap:g} s"
        switch = active.worker.switch
        switch.cancel(why)
        if switch.in_inference and self.ctx.inference_timeout is None:
            # said before the check unwinds: a check waiting for the same evidence must not start it again
            self.ctx.inference_timeout = f"the model's inference already overran {cap:g} s in {active.spec.id}; it is not tried again in this run"
        self._stop([active.worker], why)
        if switch.in_inference:
            return errored(f"{why}; the check's inference was cancelled")
        return errored(f"{why}; the check was stopped")

    def _stop(self, workers: list[_Worker], why: str) -> None:
        """Stop checks' threads: terminate their inference and kill their processes, then interrupt their
        Python code; a thread stuck elsewhere (a C call that cannot be interrupted) is left behind."""
        for worker in workers:
            worker.switch.cancel(why)
        unwind = time.monotonic() + min(0.5, self.UNWIND_S)
        alive = [w for w in workers if not w.wait(max(0.0, unwind - time.monotonic()))]
        for worker in alive:
            _raise_in(worker.thread, CheckCancelled)
        unwind = time.monotonic() + self.UNWIND_S
        self.stragglers += [w for w in alive if not w.wait(max(0.0, unwind - time.monotonic()))]

    # ------------------------------------------------------------------ the untimed checks, concurrently
    def _pool(self, specs: list[CheckSpec]) -> list[CheckRun]:
        """Run `specs` with up to `self.workers` at once; listener events come from this thread."""
        pending = list(reversed(specs))
        active: list[_Active] = []
        runs: list[CheckRun] = []
        wake = threading.Event()
        try:
            while pending or active:
                while pending and len(active) < self.workers:
                    spec = pending.pop()
                    start = self._begin(spec)
                    settled = self._settled_result(spec)
                    if settled is not None:
                        runs.append(self._end(spec, settled, start))
                    else:
                        active.append(self._launch(spec, start, wake))
                if not active:
                    continue
                wake.wait(max(0.0, min(a.until for a in active) - time.monotonic()))
                wake.clear()  # cleared before looking: a check ending from now on sets it again
                for item in list(active):
                    if item in active:
                        runs += self._settle(item, active)
        except BaseException:  # Ctrl-C or SIGTERM while waiting: stop every running check before leaving
            self._stop([a.worker for a in active], "the run was interrupted")
            raise
        return runs

    def _settle(self, item: _Active, active: list[_Active]) -> list[CheckRun]:
        """The runs ended by looking at `item`: it finished, or its time is up (and then, when the model
        hung, every other running check that needs the model is stopped and cites that timeout)."""
        if item.worker.done.is_set():
            active.remove(item)
            return [self._end(item.spec, self._finished(item), item.start, item.worker.ended)]
        if time.monotonic() < item.until:
            return []
        if not item.deferred and not item.worker.switch.in_inference and "session" in item.spec.requires:
            # it may be waiting for evidence another check is computing in the model: judge that
            # inference first (once), so a hung model is cited as such rather than as this check's own timeout
            inferring = [a.until for a in active if a is not item and a.worker.switch.in_inference]
            if inferring and max(inferring) > item.until:
                item.deferred = True
                item.until = min(max(inferring) + 0.05, self.deadline)
                return []
        result = self._timed_out(item)  # (still in `active` meanwhile: an interrupt stops it again)
        active.remove(item)
        runs = [self._end(item.spec, result, item.start)]
        hung = self.ctx.inference_timeout
        if hung:
            needing = [a for a in active if "session" in a.spec.requires and not a.worker.done.is_set()]
            self._stop([a.worker for a in needing], hung)
            for other in needing:
                active.remove(other)
                runs.append(self._end(other.spec, outcome(InferenceTimedOut(hung)), other.start))
        return runs

    # ------------------------------------------------------------------ the run
    def run(self, specs: Iterable[CheckSpec]) -> list[CheckRun]:
        specs = list(specs)
        untimed = [spec for spec in specs if not spec.exclusive]
        runs: list[CheckRun] = []
        if untimed:
            # shared with other runs' untimed work, never with their timing
            with machine_lock(self.deadline, shared=True) as held:
                if held:
                    runs += self._pool(untimed)
                else:
                    runs += [self._not_run(spec, self._lock_wait()) for spec in untimed]
        exclusive = [spec for spec in specs if spec.exclusive]
        settled = [spec for spec in exclusive if self._settled(spec)]  # decided without running: no lock needed
        runs += [self._run_one(spec) for spec in settled]
        timed = [spec for spec in exclusive if spec not in settled]
        if timed:
            with machine_lock(self.deadline) as held:
                for spec in timed:
                    if held:
                        runs.append(self._run_one(spec))
                    else:
                        runs.append(self._not_run(spec, self._lock_wait()))
        return sorted(runs, key=lambda r: r.spec.id)

    def _lock_wait(self) -> str:
        return f"{self._run_limit_reached()} while waiting for another readiness run's timing checks"


LOCK_NAME = "readiness-exclusive.lock"
TURNSTILE_NAME = "readiness-exclusive.turnstile"
_POLL_S = 0.02


@contextlib.contextmanager
def _lock_files() -> Iterator[tuple[Any, Any] | None]:
    """The machine's lock file and turnstile, open; None where they cannot be opened (no locking then)."""
    directory = Path(tempfile.gettempdir())
    try:
        main = open(directory / LOCK_NAME, "a+")  # noqa: SIM115 - held for the with-block
    except OSError:
        yield None
        return
    with main:
        try:
            turnstile = open(directory / TURNSTILE_NAME, "a+")  # noqa: SIM115
        except OSError:
            yield None
            return
        with turnstile:
            yield main, turnstile


def _take_share(main: Any, turnstile: Any, deadline: float | None) -> bool:
    """Take the lock shared, passing through the turnstile (so a waiting writer goes first). True when taken."""
    import fcntl

    if not _flock(turnstile, fcntl.LOCK_EX, deadline):
        return False
    fcntl.flock(turnstile, fcntl.LOCK_UN)  # a reader only passes through
    return _flock(main, fcntl.LOCK_SH, deadline)


class _Hold:
    """This process's share of the machine lock for all of its work (`working`)."""

    def __init__(self, main: Any, turnstile: Any, deadline: float | None) -> None:
        self.main, self.turnstile, self.deadline = main, turnstile, deadline
        self.active = False

    def take(self) -> bool:
        self.active = _take_share(self.main, self.turnstile, self.deadline)
        return self.active

    def suspend(self) -> None:
        import fcntl

        if self.active:
            fcntl.flock(self.main, fcntl.LOCK_UN)
            self.active = False


_hold: _Hold | None = None  # set while `working()` holds the lock for this whole process


@contextlib.contextmanager
def working(deadline: float | None = None) -> Iterator[bool]:
    """Hold the machine lock shared for all of this process's work, not only its untimed checks.

    Loading the bundle, importing the libraries and writing the reports are work too: without
    this, a run starting up (seconds of imports and reading data) would share the CPUs with
    another run's timing. Inside, `machine_lock(shared=True)` finds the lock already held and
    `machine_lock()` (the timing phase) lets go of the share while it holds the lock exclusively,
    then takes the share again. Yields False when the share could not be taken by `deadline`
    (the run then goes on, and its phases lock as they would without this).
    """
    global _hold
    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    with _lock_files() as files:
        if files is None:
            yield True
            return
        hold = _Hold(*files, deadline)
        taken = hold.take()
        _hold = hold if taken else None
        try:
            yield taken
        finally:
            _hold = None
            hold.suspend()


@contextlib.contextmanager
def machine_lock(deadline: float | None = None, *, shared: bool = False) -> Iterator[bool]:
    """Hold the reader/writer lock every readiness process on this machine shares.

    A run holds it shared (`shared=True`) while its untimed checks run and exclusively while its
    timing-sensitive checks run: so no run times while another works (pytest-xdist workers,
    `readiness check --jobs`, parallel CI jobs on one runner), and many runs work side by side.
    A writer is never starved by a stream of readers: it waits holding a second lock (the
    turnstile) that every reader passes through before taking its share, so readers arriving
    after it wait until it has timed. Yields True when held, False when `deadline`
    (time.monotonic()) passed first. Where file locks are unavailable, this does nothing (True).
    The lock files live in tempfile.gettempdir(): one lock per machine (per node of a cluster).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    hold = _hold
    if hold is not None and hold.active:
        if shared:  # this process's whole-run share covers it
            yield True
            return
        hold.suspend()  # a share and the exclusive lock on two descriptors would wait for each other
        try:
            with machine_lock(deadline) as held:
                yield held
        finally:
            if _hold is hold:
                hold.take()  # the share again, for the rest of the run's work
        return
    with _lock_files() as files:
        if files is None:
            yield True
            return
        main, turnstile = files
        if shared:
            held = _take_share(main, turnstile, deadline)
        else:
            held = _flock(turnstile, fcntl.LOCK_EX, deadline) and _flock(main, fcntl.LOCK_EX, deadline)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(main, fcntl.LOCK_UN)
            if not shared:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


def _flock(fh: Any, operation: int, deadline: float | None) -> bool:
    """Take a flock on `fh`, polling until `deadline` (time.monotonic(); None: no limit). True when taken."""
    import fcntl

    while True:
        try:
            fcntl.flock(fh, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
