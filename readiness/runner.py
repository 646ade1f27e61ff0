"""Run selected checks against a context, each isolated from the others.

An exception or a timeout in one check becomes an `error` result for that check
and the run goes on. Timing-sensitive (`exclusive`) checks run last, alone: the
runner waits for any check still running in the background before them, and holds
a machine-wide lock (`machine_lock`) so that two readiness runs never time at once.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .context import Context
from .errors import ModelLoadError, OutputMismatch, SkipCheck
from .registry import REQUIREMENTS, CheckSpec, Result, checking, errored, failed, skipped
from .runtime import ProviderUnavailable
from .security import UnsafeExternalData
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


def _missing_requirement(ctx: Context, requirement: str) -> Result | None:
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
    if absent.get(requirement):
        return skipped(f"not applicable: needs {REQUIREMENTS[requirement]}")
    if requirement == "session":
        try:
            ctx.session  # noqa: B018 - load (once) to learn whether the model runs
        except ProviderUnavailable as exc:
            spec = ctx.runtime_spec
            if spec is not None and spec.required_providers:
                return failed(f"{exc}; the serving config marks its providers as required")
            return skipped(f"{exc}; nothing was measured on another provider")
        except UnsafeExternalData as exc:
            return errored(f"refused to load the model: {exc} (see SEC001)")
        except ModelLoadError as exc:
            return errored(f"cannot run: {exc} (see ART001)")
    return None


def _call(spec: CheckSpec, ctx: Context) -> Result:
    # absent inputs first: a check that cannot apply is `skip` even when the model does not load
    for requirement in sorted(spec.requires, key=lambda name: name == "session"):
        missing = _missing_requirement(ctx, requirement)
        if missing is not None:
            return missing
    try:
        result = spec.func(ctx)
    except SkipCheck as exc:
        return skipped(str(exc))
    except ProviderUnavailable as exc:
        return skipped(str(exc))
    except ModelLoadError as exc:
        return errored(f"cannot run: {exc} (see ART001)")
    except UnsafeExternalData as exc:
        return errored(f"refused to load the model: {exc} (see SEC001)")
    except OutputMismatch as exc:
        return errored(str(exc))
    except Exception as exc:  # noqa: BLE001 - isolation: a crashing check is an error result
        if type(exc).__module__.startswith("onnxruntime"):
            # The model refused the rows as the serving contract feeds them: a finding, not a bug in the check.
            return errored(
                f"the model cannot score rows fed as the serving config declares them: {exc} (see SCH001/SCH002)"
            )
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return errored(f"check crashed: {type(exc).__name__}: {exc}", evidence={"traceback": "".join(tb[-6:])})
    if not isinstance(result, Result):
        return errored(f"check returned {type(result).__name__}, expected a readiness Result")
    return result


def _call_as(spec: CheckSpec, ctx: Context) -> Result:
    with checking(spec):  # ctx.threshold reads the running check's own thresholds
        return _call(spec, ctx)


class Runner:
    def __init__(
        self,
        ctx: Context,
        *,
        timeout_s: float = 600.0,
        severities: dict[str, str] | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.ctx = ctx
        self.timeout_s = timeout_s
        self.severities = severities or {}
        self.listener = listener
        self._background: list[threading.Thread] = []

    def _run_one(self, spec: CheckSpec) -> CheckRun:
        if self.listener:
            self.listener("start", spec, None)
        if spec.exclusive:
            self._wait_for_background()
        box: list[Result] = []
        start = time.perf_counter()
        thread = threading.Thread(
            target=lambda: box.append(_call_as(spec, self.ctx)),
            name=f"readiness-{spec.id}",
            daemon=True,
        )
        thread.start()
        thread.join(self.timeout_s)
        duration = time.perf_counter() - start
        if thread.is_alive():
            self._background.append(thread)
            result = errored(
                f"timed out after {self.timeout_s:g} s (raise [checks].timeout_s if the check needs longer)"
            )
        else:
            result = box[0]
        # One JSON spelling for every check's numbers (numpy types, NaN/inf, paths), applied here once.
        result = Result(result.status, result.message, jsonable(result.measured), jsonable(result.evidence))
        run = CheckRun(spec, self.severities.get(spec.id, spec.severity), result, duration)
        if self.listener:
            self.listener("end", spec, run)
        return run

    def _wait_for_background(self) -> None:
        for thread in self._background:
            thread.join(self.timeout_s)
        self._background = [t for t in self._background if t.is_alive()]

    def run(self, specs: Iterable[CheckSpec]) -> list[CheckRun]:
        specs = list(specs)
        runs = [self._run_one(spec) for spec in specs if not spec.exclusive]
        exclusive = [spec for spec in specs if spec.exclusive]
        if exclusive:
            with machine_lock():
                runs += [self._run_one(spec) for spec in exclusive]
        return sorted(runs, key=lambda r: r.spec.id)


LOCK_NAME = "readiness-exclusive.lock"


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Hold a lock shared by every readiness process on this machine while timing-sensitive checks run.

    Two runs at once (pytest-xdist workers, parallel CI jobs on one runner) would otherwise time
    their latency checks against each other. Where file locks are unavailable, this does nothing.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(tempfile.gettempdir()) / LOCK_NAME
    try:
        fh = open(path, "a+")  # noqa: SIM115 - held for the with-block
    except OSError:
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
