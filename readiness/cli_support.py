"""What every `readiness` command shares: exit codes, the error guard, report options and writing,
and interrupts (SIGINT -> exit 130, SIGTERM -> exit 143, no report written).

Command modules (`readiness/cli.py`, `readiness/reports/_cli.py`, ...) import these; nothing here
imports a command.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from .errors import BundleError, ReadinessError
from .vocabulary import REPORT_FORMATS

EXIT_RELEASED, EXIT_BLOCKED, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143, as shells report them
REPORT_OPTIONS = tuple(REPORT_FORMATS)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so the run stops the way Ctrl-C stops it."""


def fail(message: str, code: int) -> None:
    from .text import clean

    click.echo(f"readiness: error: {clean(message)}", err=True)
    sys.exit(code)


def guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn known errors into a one-line message and an exit code; never a traceback.

    Ctrl-C is exit 130 and SIGTERM exit 143 (see `interrupts`), with no report written.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with interrupts():
                return func(*args, **kwargs)
        except BrokenPipeError:
            # The reader went away (`readiness list-checks | head`): stop quietly, as Python's docs advise.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except BundleError as exc:
            fail(str(exc), EXIT_INPUT)
        except ReadinessError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:
            name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
            code = EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
            click.echo(f"readiness: interrupted ({name}); no report written", err=True)
            sys.exit(code)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if os.environ.get("READINESS_DEBUG"):
                raise
            fail(
                f"internal error: {type(exc).__name__}: {exc} (set READINESS_DEBUG=1 for a traceback, and please report it)",
                EXIT_INTERNAL,
            )

    return wrapper


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """While a command runs, SIGTERM raises `Terminated` in the main thread (as SIGINT raises
    KeyboardInterrupt), so a run stops its checks, cancels their inference and exits cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_now(code: int, stuck: Iterable[Any]) -> None:
    """Exit with `code`. When a check could not be stopped (`stuck`: objects with `is_alive()`; it may be
    inside native code), leave without interpreter finalisation, which would abort under it."""
    if any(worker.is_alive() for worker in stuck):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for a moment (they are delivered right after), where supported."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Seconds(click.ParamType):
    """A finite number of seconds above zero."""

    name = "SECONDS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r} must be a finite number of seconds above 0", param, ctx)
        return seconds


def report_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --json/--html/--markdown/--junit/--sarif PATH options (as `<fmt>_path` keyword arguments)."""
    for fmt in reversed(REPORT_OPTIONS):
        func = click.option(
            f"--{fmt}",
            f"{fmt}_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"Write the {fmt} scorecard to this path.",
        )(func)
    return func


def write_reports(scorecard: Any, paths: dict[str, Path | None]) -> list[tuple[str, Path]]:
    """Write each requested report atomically. Interrupted part-way, none of them is left behind."""
    from . import reports

    written: list[tuple[str, Path]] = []
    try:
        for fmt in REPORT_OPTIONS:
            path = paths.get(f"{fmt}_path")
            if path is None:
                continue
            try:
                with _signals_held():  # written and recorded as one step: an interrupt cannot fall between
                    written.append((fmt, reports.write(fmt, scorecard, path)))
            except OSError as exc:
                raise BundleError(
                    path,
                    f"--{fmt}",
                    f"cannot write the report: {exc.strerror}",
                    "choose a writable path",
                ) from None
    except KeyboardInterrupt:
        for _fmt, dest in written:
            with contextlib.suppress(OSError):
                dest.unlink()
        raise
    return written
