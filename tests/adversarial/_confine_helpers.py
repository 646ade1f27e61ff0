"""Shared by the confinement/parsing/skops/external-data attacks: run the CLI in-process and see what it opens.

`sys.addaudithook` is installed once per process (hooks cannot be removed) and records
the paths of Python-level "open" events only while `run_cli` runs. Files opened by
native code (onnxruntime, pyarrow) raise no audit event: tests about those assert
that no inference session was created at all.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from readiness.cli import main

SECRET = "GITHUB_TOKEN=ghp_confine_test_secret_0123456789"
_RECORDING: list[str] | None = None


def _hook(event: str, args: tuple) -> None:
    if event == "open" and _RECORDING is not None and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDING.append(os.fsdecode(args[0]))


sys.addaudithook(_hook)


@dataclass
class Run:
    code: int
    output: str
    opened: list[str] = field(default_factory=list)

    def opened_under(self, directory: Path) -> list[str]:
        """Paths opened that resolve inside DIRECTORY (the attacker's target)."""
        target = directory.resolve()
        hits = []
        for raw in self.opened:
            try:
                path = Path(raw).resolve()
            except (OSError, RuntimeError):
                continue
            if path == target or target in path.parents:
                hits.append(raw)
        return hits


def run_cli(*args: str | os.PathLike[str]) -> Run:
    """`readiness ARGS` in-process, recording every file Python opens meanwhile."""
    global _RECORDING
    _RECORDING = []
    try:
        result = CliRunner().invoke(main, [os.fspath(a) for a in args], catch_exceptions=True)
    finally:
        opened, _RECORDING = _RECORDING, None
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += f"\nTraceback (escaped exception): {result.exception!r}"
    return Run(result.exit_code, output, opened)


def outside(tmp_path: Path) -> Path:
    """A directory outside the workspace holding what a CI runner must not leak."""
    out = tmp_path / "outside"
    out.mkdir(exist_ok=True)
    (out / "ci_env.txt").write_text(f"{SECRET}\nAWS_SECRET=abc\n")
    return out


def assert_refused(run: Run, key: str, *, secret_dir: Path | None = None, code: int = 2) -> None:
    """The promise for a hostile bundle: exit CODE, one clear line naming KEY, no traceback, nothing leaked."""
    assert run.code == code, run.output
    assert "Traceback" not in run.output, run.output
    assert key in run.output, run.output
    assert SECRET not in run.output and "ghp_" not in run.output, run.output
    if secret_dir is not None:
        assert run.opened_under(secret_dir) == [], run.opened_under(secret_dir)
