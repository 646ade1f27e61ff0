"""Open-loop load against a live endpoint with Locust, run headless in child processes (SRV003).

Locust (and gevent, which patches the standard library) never enters readiness' own process:
`run_load` writes a plan, starts `python -m locust -f readiness/_locustfile.py --headless` (or a
master and N local workers), waits for it with a hard timeout, and reads back every request's
record. Latency is counted from each request's *scheduled* time on the open-loop schedule.

Workers on other machines can join the same master for load beyond one machine; see
docs/serving.md ("Load from several machines").
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .endpoint import EndpointOptions

LOCUSTFILE = Path(__file__).with_name("_locustfile.py")
LEAD_S = 0.5  # users are spawned before the first slot is due
MAX_USERS = 1000


class LoadError(Exception):
    """The load generator could not run (Locust missing, child crashed, no records)."""


@dataclass
class LoadResult:
    """Every scheduled request of one load run (arrays aligned by request)."""

    scheduled: int  # requests on the schedule
    latency_ns: np.ndarray  # answer time minus *scheduled* time (what an open-loop client sees)
    service_ns: np.ndarray  # answer time minus the time it was actually sent
    lag_ns: np.ndarray  # how late the generator sent it (sent minus scheduled)
    ok: np.ndarray  # bool per answered/failed request
    statuses: list[Any]
    errors: dict[str, int] = field(default_factory=dict)  # error text -> count
    processes: int = 1
    users: int = 1
    wall_s: float = 0.0

    @property
    def recorded(self) -> int:
        return int(self.ok.size)

    @property
    def failures(self) -> int:
        """Failed requests plus scheduled requests that never completed (they count as errors)."""
        return int((~self.ok).sum()) + max(0, self.scheduled - self.recorded)


def users_for(rps: float, processes: int) -> int:
    """Users per process: about one second's worth of arrivals in flight, at least 4 per process."""
    return max(4, min(MAX_USERS, math.ceil(rps / processes)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_load(
    options: EndpointOptions,
    path: str,
    bodies: list[str],
    *,
    rps: float,
    duration_s: float,
    grace_s: float | None = None,
) -> LoadResult:
    """Send round(rps * duration_s) requests on an open-loop schedule and return every one's record."""
    import importlib.util
    import time

    # never import locust here: it monkey-patches the whole process with gevent
    if importlib.util.find_spec("locust") is None:
        raise LoadError("Locust is not installed: pip install 'readiness[serving]'")
    total = max(1, round(rps * duration_s))
    processes = max(1, options.load_workers)
    users = users_for(rps, processes)
    grace = options.request_timeout_s + 2.0 if grace_s is None else grace_s
    run_time = math.ceil(LEAD_S + duration_s + grace)
    with tempfile.TemporaryDirectory(prefix="readiness-load-") as tmp:
        plan = {
            "path": path,
            "bodies": bodies,
            "rps": rps,
            "total": total,
            "processes": processes,
            "users_per_process": users,
            "request_timeout_s": options.request_timeout_s,
            "connect_timeout_s": options.connect_timeout_s,
            "auth_env": options.auth_env,
            "lead_s": LEAD_S,
            "out_dir": tmp,
        }
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        env = {**os.environ, "READINESS_LOAD_PLAN": str(plan_path), "PYTHONUNBUFFERED": "1"}
        base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"]
        common = ["--loglevel", "ERROR", "--skip-log-setup"]
        log_path = Path(tmp) / "locust.log"
        procs: list[subprocess.Popen] = []
        started = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as log:
            spawn = processes * users
            run_args = ["--host", options.url, "-u", str(spawn), "-r", str(spawn), "--run-time", f"{run_time}s"]
            run_args += ["--stop-timeout", f"{math.ceil(options.request_timeout_s)}"]
            if options.load_workers == 0:
                procs.append(_start(base + common + run_args, env, log))
            else:
                port = _free_port()
                master = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
                master += ["--expect-workers", str(processes), "--expect-workers-max-wait", "30"]
                procs.append(_start(base + common + run_args + master, env, log))
                worker = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
                for _ in range(processes):
                    procs.append(_start(base + common + worker, env, log))
            try:
                procs[0].wait(timeout=run_time + 60)
                for p in procs[1:]:
                    p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            finally:
                for p in procs:
                    _stop(p)
        wall = time.perf_counter() - started
        rows = []
        for f in sorted(Path(tmp).glob("times-*.jsonl")):
            rows += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not rows:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-4:]
            raise LoadError("the Locust child recorded no request" + (f": {' | '.join(tail)[:400]}" if tail else ""))
    rows.sort(key=lambda r: r[0])
    scheduled = np.array([r[1] for r in rows], dtype=np.float64)
    sent = np.array([r[2] if r[2] is not None else r[1] for r in rows], dtype=np.float64)
    service_ms = np.array([r[3] or 0.0 for r in rows], dtype=np.float64)
    answered = sent + service_ms / 1e3
    errors: dict[str, int] = {}
    for r in rows:
        if not r[4]:
            errors[r[6] or "error"] = errors.get(r[6] or "error", 0) + 1
    return LoadResult(
        scheduled=total,
        latency_ns=np.maximum(np.round((answered - scheduled) * 1e9), 0).astype(np.int64),
        service_ns=np.round(service_ms * 1e6).astype(np.int64),
        lag_ns=np.round((sent - scheduled) * 1e9).astype(np.int64),
        ok=np.array([bool(r[4]) for r in rows]),
        statuses=[r[5] for r in rows],
        errors=dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
        processes=processes,
        users=users * processes,
        wall_s=round(wall, 3),
    )


def _start(cmd: list[str], env: dict[str, str], log: Any) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )


def _stop(proc: subprocess.Popen) -> None:
    """End a child and anything it started (its own process group), politely first."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
