"""The machine-wide reader/writer lock between readiness processes: untimed work holds it shared,
timing holds it exclusively, and a waiting writer is not starved by readers that keep arriving.

Each holder is a real process (its own flock). Order is read from what the processes print and
from the lock files themselves; no duration is asserted. Every test uses its own temporary
directory as the machine's (TMPDIR), so the suite's own readiness runs do not interfere.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from readiness.runner import LOCK_NAME, TURNSTILE_NAME

BACKSTOP_S = 60.0  # only ever reached when the behaviour under test is broken

HOLDER = """
import sys, time
from readiness.runner import machine_lock
mode, wait = sys.argv[1], sys.argv[2]
deadline = None if wait == "forever" else time.monotonic() + float(wait)
print("asking", flush=True)
with machine_lock(deadline, shared=mode == "read") as held:
    print("held" if held else "gave up", flush=True)
    if held:
        sys.stdin.readline()  # hold until the test writes a line
"""


# A whole run: `working()` holds the lock shared while it loads; its timing phase takes it exclusively
# and the share comes back after it (each step waits for a line from the test).
RUN = """
import sys, time
from readiness.runner import machine_lock, working
print("asking", flush=True)
with working() as held:
    print("loading" if held else "gave up", flush=True)
    sys.stdin.readline()
    with machine_lock() as timing:
        print("timing" if timing else "gave up", flush=True)
        sys.stdin.readline()
    print("reporting", flush=True)
    sys.stdin.readline()
"""


class Holder:
    """A process that takes the lock (`read`: shared, `write`: exclusive, `run`: as a whole run does)
    and holds it until released."""

    def __init__(self, machine: Path, mode: str, wait: str = "forever") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUN] if mode == "run" else [sys.executable, "-c", HOLDER, mode, wait],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(machine)},
        )
        self._fd = self.proc.stdout.fileno()  # read unbuffered: select() must see every line
        self._buffer = b""
        assert self.said() == "asking"

    def said(self, timeout: float = BACKSTOP_S) -> str:
        """The next line the process prints."""
        stop = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, stop - time.monotonic()))
            assert ready, "backstop reached"
            chunk = os.read(self._fd, 1024)
            assert chunk, "the process ended without a word"
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode().strip()

    def silent(self) -> bool:
        """Nothing printed yet (the process is still waiting for the lock)."""
        ready, _, _ = select.select([self._fd], [], [], 0)
        return not ready and not self._buffer and self.proc.poll() is None

    def step(self) -> None:
        """Let the process go on (a `run` to its next phase)."""
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def release(self) -> None:
        self.step()
        assert self.proc.wait(BACKSTOP_S) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def machine(tmp_path: Path):
    holders: list[Holder] = []

    def start(mode: str, wait: str = "forever") -> Holder:
        holder = Holder(tmp_path, mode, wait)
        holders.append(holder)
        return holder

    start.dir = tmp_path  # type: ignore[attr-defined]
    yield start
    for holder in holders:
        holder.kill()


def _locked(path: Path) -> bool:
    """Someone holds `path` (a lock file) in a way that excludes an exclusive lock."""
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _until(condition) -> None:
    stop = time.monotonic() + BACKSTOP_S
    while not condition():
        assert time.monotonic() < stop, "backstop reached"
        time.sleep(0.01)


def test_readers_share_the_machine(machine):
    first, second = machine("read"), machine("read")
    assert first.said() == "held"
    assert second.said() == "held"  # while the first still holds it
    first.release()
    second.release()


def test_a_reader_blocks_a_writer_until_it_is_done(machine):
    reader = machine("read")
    assert reader.said() == "held"
    writer = machine("write")
    _until(lambda: _locked(machine.dir / TURNSTILE_NAME))  # the writer waits, holding the turnstile
    assert writer.silent()
    reader.release()
    assert writer.said() == "held"
    writer.release()


def test_a_writer_blocks_readers_and_writers(machine):
    writer = machine("write")
    assert writer.said() == "held"
    assert machine("read", wait="0.3").said() == "gave up"  # the deadline ends its wait
    assert machine("write", wait="0.3").said() == "gave up"
    reader = machine("read")
    assert reader.silent()
    writer.release()
    assert reader.said() == "held"
    reader.release()


def test_a_waiting_writer_is_not_starved_by_new_readers(machine):
    """Readers hold the lock only shared, so a new reader would fit in beside them: but not once a
    writer waits. It gets the lock as soon as the readers that came before it are done."""
    early = [machine("read"), machine("read")]
    for reader in early:
        assert reader.said() == "held"
    writer = machine("write")
    _until(lambda: _locked(machine.dir / TURNSTILE_NAME))
    assert machine("read", wait="0.3").said() == "gave up"  # would have shared with `early` without the turnstile
    late = machine("read")
    early[0].release()
    assert writer.silent() and late.silent()
    early[1].release()
    assert writer.said() == "held"
    assert late.silent()  # still waiting: the writer came first
    writer.release()
    assert late.said() == "held"
    late.release()
    assert not _locked(machine.dir / LOCK_NAME) and not _locked(machine.dir / TURNSTILE_NAME)


def test_a_run_shares_the_machine_from_loading_to_reporting_and_times_alone(machine):
    """`working()` covers a run's loading and reporting, not only its untimed checks: another run's
    timing waits for them. The run's own timing phase lets go of its share (holding a share and
    asking for the exclusive lock would wait for itself) and takes it back afterwards."""
    run = machine("run")
    assert run.said() == "loading"
    other = machine("write")
    _until(lambda: _locked(machine.dir / TURNSTILE_NAME))
    assert other.silent()  # another run's timing waits while this one loads
    run.step()  # to the timing phase: the share is let go, the earlier writer goes first
    assert other.said() == "held"
    assert run.silent()
    other.release()
    assert run.said() == "timing"
    reader = machine("read")
    assert reader.silent()  # nothing else works while the run times
    run.step()
    assert run.said() == "reporting"
    assert reader.said() == "held"  # shares again, side by side
    reader.release()
    late_writer = machine("write", wait="0.3")
    assert late_writer.said() == "gave up"  # the reporting run holds its share again
    run.release()
    assert not _locked(machine.dir / LOCK_NAME) and not _locked(machine.dir / TURNSTILE_NAME)


def test_readiness_check_loads_runs_and_reports_inside_its_share(tmp_path: Path, monkeypatch):
    """`readiness check` takes its share before it loads the bundle and lets it go after the reports
    are written (the share itself is tested above with real processes)."""
    from builders import write_bundle
    from click.testing import CliRunner

    import readiness.cli
    import readiness.engine
    import readiness.runner
    from readiness.cli import main

    events: list[str] = []
    real_plan, real_working, real_write = readiness.engine.plan, readiness.runner.working, readiness.cli.write_reports

    def write_reports(*args, **kwargs):
        events.append("report")
        return real_write(*args, **kwargs)

    def plan(*args, **kwargs):
        events.append("load")
        return real_plan(*args, **kwargs)

    @contextlib.contextmanager
    def working(deadline=None):
        events.append("share")
        with real_working(deadline) as held:
            yield held
        events.append("let go")

    monkeypatch.setattr(readiness.engine, "plan", plan)
    monkeypatch.setattr(readiness.runner, "working", working)
    monkeypatch.setattr(readiness.cli, "write_reports", write_reports)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    out = tmp_path / "card.json"
    result = CliRunner().invoke(
        main, ["check", str(write_bundle(tmp_path / "b")), "--select", "ART001", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert events == ["share", "load", "report", "let go"]
    assert out.is_file()
