"""Every benchmark in benchmarks/ runs in its `--smoke` mode (tiny sizes), so none of them rots unnoticed.

The figures a smoke run prints mean nothing; what is tested is that each script still runs to the
end against the current engine, examples and test builders, and exits 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))


def test_every_benchmark_has_a_smoke_mode() -> None:
    missing = [name for name in BENCHMARKS if "--smoke" not in (ROOT / "benchmarks" / name).read_text()]
    assert not missing, f"benchmarks without a --smoke mode: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_smoke_run(name: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), "--smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    assert proc.returncode == 0, f"{name} --smoke exited {proc.returncode}:\n{tail}"
    assert proc.stdout.strip(), f"{name} --smoke printed nothing"
    assert "Traceback" not in proc.stderr, tail
