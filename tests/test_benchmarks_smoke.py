"""Every benchmark in benchmarks/ runs in its `--smoke` mode (tiny sizes), so none of them rots unnoticed.

The figures a smoke run prints mean nothing; what is tested is that each script still runs to the
end against the current engine, examples and test builders, and exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
# smoke-run by their own tests below, which also read what they print
OWN_TESTS = {"peers.py", "fleet.py"}


def test_every_benchmark_has_a_smoke_mode() -> None:
    missing = [name for name in BENCHMARKS if "--smoke" not in (ROOT / "benchmarks" / name).read_text()]
    assert not missing, f"benchmarks without a --smoke mode: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in BENCHMARKS if name not in OWN_TESTS])
def test_benchmark_smoke_run(name: str, tmp_path: Path) -> None:
    _smoke(name, tmp_path)


def _smoke(name: str, tmp_path: Path, *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), "--smoke", *extra],
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
    return proc.stdout


@pytest.mark.slow
def test_peers_smoke_times_both_sides_and_prints_the_ratios(tmp_path: Path) -> None:
    # no evidently environment there: the smoke run must not install one, and times a stand-in peer
    out = _smoke("peers.py", tmp_path, "--venv", str(tmp_path / "no-venv"), "--json", str(tmp_path / "peers.json"))
    assert not (tmp_path / "no-venv").exists()
    assert "stand-in peer" in out and "ratio" in out
    figures = json.loads((tmp_path / "peers.json").read_text())
    assert [t["task"] for t in figures["tasks"]] == ["breast-cancer example", "same model, 2,000 rows"]
    for task in figures["tasks"]:
        assert task["ratio_wall"] > 0 and task["ratio_rss"] > 0
        assert task["readiness"]["rss_mib"] > 50  # a real process tree was measured, not an empty one
    assert "wall <= 0.5x, RSS <= 300 MiB: " in out and "wall <= 0.4x, RSS <= 400 MiB: " in out


@pytest.mark.slow
def test_fleet_smoke_compares_jobs_with_one_at_a_time(tmp_path: Path) -> None:
    out = _smoke("fleet.py", tmp_path, "--json", str(tmp_path / "fleet.json"))
    figures = json.loads((tmp_path / "fleet.json").read_text())
    assert figures["bundles"] == 3 and figures["ratio"] > 0
    assert figures["differences"] == []  # same verdicts, scores and statuses both ways (exit 1 otherwise)
    assert "3 bundles (1 released, 2 blocked, 0 unusable)" in out  # the defects are real: they block
    assert "target <= 0.7" in out
