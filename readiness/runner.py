"""Run selected checks against a context, each isolated from the others.

An exception in one check becomes that check's result (an `Outcome` says which; anything else is
`error`: the check crashed) and the run goes on. Each check runs in its own thread under a time
limit; a check that overruns is stopped for real (`cancel.Cancellation`: its inference is
terminated, its child processes killed) and becomes `error`. Once the model's inference has
overrun, later checks that need the model are `error` at once, citing that first timeout. When the
whole run's time is up, the remaining checks are `error` without running.

Timing-sensitive (`exclusive`) checks run last, alone, holding a machine-wide lock
(`machine_lock`) so that two readiness runs never time at once.

The runner names no check: what an exception means is said by the exception (errors.Outcome).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
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

    def __init__(self, spec: CheckSpec, ctx: Context, switch: Cancellation) -> None:
        self.switch = switch
        self.result: Result | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._target, args=(spec, ctx), name=f"readiness-{spec.id}", daemon=True)
        self.thread.start()

    def _target(self, spec: CheckSpec, ctx: Context) -> None:
        try:
            with cancel.using(self.switch), checking(spec):  # ctx.threshold reads the running check's own
                self.result = _call(spec, ctx)
        except CheckCancelled:
            pass
        finally:
            self.done.set()

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)

    def is_alive(self) -> bool:
        return not self.done.is_set()


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
    ) -> None:
        if timeouts is None:
            timeouts = Timeouts() if timeout_s is None else Timeouts(check_s=timeout_s)
        self.ctx = ctx
        self.timeouts = timeouts
        self.severities = severities or {}
        self.listener = listener
        self.deadline = (time.monotonic() if started is None else started) + timeouts.run_s
        self.stragglers: list[_Worker] = []  # checks whose thread could not be stopped (`is_alive()`)

    # ------------------------------------------------------------------ one check
    def _run_one(self, spec: CheckSpec) -> CheckRun:
        if self.listener:
            self.listener("start", spec, None)
        start = time.perf_counter()
        result = self._isolated(spec)
        # One JSON spelling for every check's numbers (numpy types, NaN/inf, paths), applied here once.
        result = dataclasses.replace(result, measured=jsonable(result.measured), evidence=jsonable(result.evidence))
        severity = self.severities.get(spec.id, spec.severity)
        if result.severity is not None and SEVERITY_RANK[result.severity] < SEVERITY_RANK[severity]:
            severity = result.severity  # a finding may be less grave than its check, never graver
        run = CheckRun(spec, severity, result, time.perf_counter() - start)
        if self.listener:
            self.listener("end", spec, run)
        return run

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
        return time.monotonic() >= self.deadline or bool(self.ctx.inference_timeout and "session" in spec.requires)

    def _isolated(self, spec: CheckSpec) -> Result:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return errored(self._run_limit_reached())
        hung = self.ctx.inference_timeout
        if hung and "session" in spec.requires:
            return outcome(InferenceTimedOut(hung))
        cap = min(self.timeouts.check_s, remaining)
        switch = Cancellation(blocked=lambda: self.ctx.inference_timeout)
        worker = _Worker(spec, self.ctx, switch)
        try:
            finished = worker.wait(cap)
        except BaseException:  # Ctrl-C or SIGTERM while waiting: stop the check before leaving
            self._stop(worker, "the run was interrupted")
            raise
        if finished:
            return worker.result or errored("check was cancelled")
        run_limited = cap < self.timeouts.check_s
        if run_limited:
            why = f"timed out: the run's --timeout {self.timeouts.run_s:g} s was reached"
        else:
            why = f"timed out after {cap:g} s"
        self._stop(worker, why)
        if switch.in_inference:
            if self.ctx.inference_timeout is None:
                self.ctx.inference_timeout = (
                    f"the model's inference already overran {cap:g} s in {spec.id}; it is not tried again in this run"
                )
            return errored(f"{why}; the check's inference was cancelled")
        return errored(f"{why}; the check was stopped")

    def _stop(self, worker: _Worker, why: str) -> None:
        """Stop a check's thread: terminate its inference and kill its processes, then interrupt its
        Python code; a thread stuck elsewhere (a C call that cannot be interrupted) is left behind."""
        worker.switch.cancel(why)
        if worker.wait(min(0.5, self.UNWIND_S)):
            return
        _raise_in(worker.thread, CheckCancelled)
        if not worker.wait(self.UNWIND_S):
            self.stragglers.append(worker)

    # ------------------------------------------------------------------ the run
    def run(self, specs: Iterable[CheckSpec]) -> list[CheckRun]:
        specs = list(specs)
        runs = [self._run_one(spec) for spec in specs if not spec.exclusive]
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
                        why = f"{self._run_limit_reached()} while waiting for another readiness run's timing checks"
                        runs.append(self._not_run(spec, why))
        return sorted(runs, key=lambda r: r.spec.id)


LOCK_NAME = "readiness-exclusive.lock"


@contextlib.contextmanager
def machine_lock(deadline: float | None = None) -> Iterator[bool]:
    """Hold a lock shared by every readiness process on this machine while timing-sensitive checks run.

    Two runs at once (pytest-xdist workers, parallel CI jobs on one runner) would otherwise time
    their latency checks against each other. Yields True when held, False when `deadline`
    (time.monotonic()) passed first. Where file locks are unavailable, this does nothing (True).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield True
        return
    path = Path(tempfile.gettempdir()) / LOCK_NAME
    try:
        fh = open(path, "a+")  # noqa: SIM115 - held for the with-block
    except OSError:
        yield True
        return
    with fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
