"""Wall time and peak memory of one child process and everything it starts (shared by the benchmarks).

Standard library only, so the measuring process itself stays small: on Linux a child's ru_maxrss
starts from its parent's high-water mark, so a parent that loaded pandas would inflate every figure.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    """One measured child: wall seconds, peak RSS of its process tree (MiB), exit code, stderr."""

    wall_s: float
    rss_mib: float
    code: int
    stderr: str


def _pss(pid: int) -> int:
    """Proportional set size of one process in bytes (shared pages divided among their sharers), else 0."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_pss(root: int) -> int:
    """Summed proportional set size of `root` and its descendants now (from /proc; 0 where there is none)."""
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        pid = int(entry)
        parents[pid] = int(fields[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(_pss(pid) for pid in tree) if len(tree) > 1 else 0


def measure(args: list[str], *, env: dict[str, str] | None = None, sample_s: float = 0.05) -> Run:
    """Run `args` to the end; its wall time and the peak RSS of its process tree.

    The peak is the larger of the kernel's high-water mark for the child and the descendants it
    waited for (wait4's ru_maxrss: the largest single process) and the largest sum of proportional
    set sizes over the whole tree seen by sampling /proc every `sample_s` seconds (children running
    at the same time; shared library pages divided among the processes sharing them).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def _sample() -> None:
        nonlocal peak
        while not done.wait(sample_s):
            peak = max(peak, _tree_pss(proc.pid))

    sampler = threading.Thread(target=_sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read() if proc.stderr else ""  # drains the pipe while the child runs
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, max(usage.ru_maxrss * 1024, peak) / 2**20, proc.returncode, stderr)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def exclusive_check_ids(python: str | None = None) -> set[str]:
    """Ids of the checks that run alone (timing-sensitive), asked of readiness in a child process
    (so this process stays small)."""
    import sys

    code = "from readiness.registry import default_registry; print(*[s.id for s in default_registry() if s.exclusive])"
    proc = subprocess.run([python or sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def alone_seconds(scorecard: dict, exclusive: set[str]) -> float:
    """How long a scorecard's timing-sensitive checks took (they run alone, one after another)."""
    return sum(c.get("duration_s") or 0.0 for c in scorecard.get("checks", []) if c["id"] in exclusive)
