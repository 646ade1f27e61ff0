"""Stopping work that overruns its time: per-check cancellation and the run's time limits.

The runner gives every check a `Cancellation` (its stop switch) and runs the check with it
as the current one. Everything that can run for long asks the current switch for help:

- inference (`runtime.inference`) runs with the switch's onnxruntime `RunOptions`; setting
  `terminate` on them from the runner's thread ends a running `session.run` within
  milliseconds (between two operators, or two iterations of a Loop);
- child processes (`run_process`, e.g. the fresh-process latency probes) are registered
  with the switch and killed when it is thrown.

A thrown switch also raises `CheckCancelled` at the next inference the check attempts, so a
cancelled check cannot start new work. `CheckCancelled` derives from `BaseException`, so a
check's `except Exception` cannot swallow it.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_RUN_TIMEOUT_S = 1800.0
DEFAULT_CHECK_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Timeouts:
    """How long a whole run (`--timeout`) and each check (`--check-timeout`) may take, in seconds."""

    run_s: float = DEFAULT_RUN_TIMEOUT_S
    check_s: float = DEFAULT_CHECK_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in ("run_s", "check_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"Timeouts.{name} must be a finite number of seconds above 0, not {value!r}")

    def lowered(self, manifest_check_s: float | None) -> Timeouts:
        """The caps with a bundle's own `[checks] timeout_s` applied: it can only lower the check cap."""
        if manifest_check_s is None or manifest_check_s >= self.check_s:
            return self
        return Timeouts(run_s=self.run_s, check_s=float(manifest_check_s))


class CheckCancelled(BaseException):  # noqa: N818 - a control-flow signal, like KeyboardInterrupt
    """Raised inside a check whose time is up (or whose run was interrupted)."""


class Cancellation:
    """One check's stop switch (see the module docstring). Thread-safe."""

    def __init__(self, blocked: Callable[[], str | None] | None = None) -> None:
        self._lock = threading.Lock()
        self._options: Any = None
        self._processes: set[subprocess.Popen[Any]] = set()
        self._inflight = 0
        self._blocked = blocked
        self.reason: str | None = None
        self.in_inference = False  # True when the switch was thrown while inference (or a probe) was running

    @property
    def cancelled(self) -> bool:
        return self.reason is not None

    def blocked(self) -> str | None:
        """Why inference must not start at all in this run (a model that already hung), else None."""
        return self._blocked() if self._blocked is not None else None

    def run_options(self) -> Any:
        """The onnxruntime RunOptions every inference under this switch uses."""
        with self._lock:
            if self._options is None:
                import onnxruntime as ort

                opts = ort.RunOptions()
                opts.log_severity_level = 4  # "Exiting due to terminate flag" is ours, not worth a log line
                opts.terminate = self.cancelled
                self._options = opts
            return self._options

    def check(self) -> None:
        """Raise CheckCancelled when the switch has been thrown."""
        if self.reason is not None:
            raise CheckCancelled(self.reason)

    @contextlib.contextmanager
    def inflight(self) -> Iterator[None]:
        """Mark a stretch of inference (or of waiting on a child process) so a timeout can say so."""
        self.check()
        with self._lock:
            self._inflight += 1
        try:
            yield
        finally:
            with self._lock:
                self._inflight -= 1

    def cancel(self, reason: str) -> None:
        """Throw the switch: terminate running inference, kill child processes. Idempotent."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            self.in_inference = self._inflight > 0
            if self._options is not None:
                self._options.terminate = True
            processes = list(self._processes)
        for proc in processes:
            _kill(proc)

    def _adopt(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._processes.add(proc)
            cancelled = self.reason is not None
        if cancelled:
            _kill(proc)

    def _release(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._processes.discard(proc)


def _kill(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(OSError):
        proc.kill()


_CURRENT: contextvars.ContextVar[Cancellation | None] = contextvars.ContextVar("readiness_cancellation", default=None)


def current() -> Cancellation | None:
    """The switch of the check running in this thread (None outside a runner)."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(switch: Cancellation) -> Iterator[Cancellation]:
    """Make `switch` the current one for the code in the with-block (the runner's check threads)."""
    token = _CURRENT.set(switch)
    try:
        yield switch
    finally:
        _CURRENT.reset(token)


def run_process(args: Sequence[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(args, capture_output=True, text=True)` whose child is killed when the current
    check is cancelled (and when `timeout` passes: then `subprocess.TimeoutExpired` as usual)."""
    switch = current()
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs) as proc:
        if switch is not None:
            switch._adopt(proc)
        try:
            with switch.inflight() if switch is not None else contextlib.nullcontext():
                try:
                    stdout, stderr = proc.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                    raise
                except BaseException:
                    proc.kill()
                    raise
        finally:
            if switch is not None:
                switch._release(proc)
        if switch is not None:
            switch.check()  # killed because the check was cancelled: not a finding about the model
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
