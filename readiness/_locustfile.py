"""The Locust file SRV003 runs in a child process (never imported by readiness itself: gevent patches the world).

An open-loop schedule: request k of the run is due at t0 + k / rps, whatever happened to the
requests before it. Process p of P takes the slots k = p (mod P); its U users share them round
robin, each sleeping until its next slot is due. Every request's outcome is recorded through
Locust's request event hook, with the slot's *scheduled* time, so latency is measured from when
the request should have gone out (a late generator cannot hide queueing: no coordinated omission).
The plan (JSON) is named by READINESS_LOAD_PLAN; times are written to the plan's out_dir, one file
per process, when the test stops.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

PLAN = json.loads(open(os.environ["READINESS_LOAD_PLAN"], encoding="utf-8").read())  # noqa: SIM115
RPS = float(PLAN["rps"])
TOTAL = int(PLAN["total"])
PROCESSES = max(1, int(PLAN["processes"]))
USERS = max(1, int(PLAN["users_per_process"]))
BODIES = [body.encode() for body in PLAN["bodies"]]
HEADERS = {"Content-Type": "application/json"}
if PLAN.get("auth_env"):
    _value = os.environ.get(PLAN["auth_env"], "").strip()
    if _value:
        HEADERS["Authorization"] = _value if " " in _value else f"Bearer {_value}"

_records: list[str] = []
_local_index = itertools.count()
_state = {"t0": None, "finished": 0, "written": False}


def _process_index(environment) -> int:
    runner = environment.runner
    return int(getattr(runner, "worker_index", 0) or 0) if isinstance(runner, WorkerRunner) else 0


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, context=None, exception=None,
            start_time=None, **kwargs):  # fmt: skip
    context = context or {}
    if "slot" not in context:
        return
    status = getattr(response, "status_code", None) if response is not None else None
    ok = exception is None and status is not None and 200 <= int(status) < 300
    error = "" if ok else (f"{type(exception).__name__}: {exception}" if exception else f"HTTP {status}")
    _records.append(
        json.dumps(
            [context["slot"], context["scheduled"], start_time, response_time, int(ok), status, error[:200]],
        )
    )


def _write(environment=None, **kwargs) -> None:
    if _state["written"]:
        return
    _state["written"] = True
    path = os.path.join(PLAN["out_dir"], f"times-{os.getpid()}.jsonl")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write("\n".join(_records))
    os.replace(path + ".tmp", path)


@events.test_start.add_listener
def _watch(environment, **kwargs) -> None:
    """On a master: quit once the schedule is over and every worker's users have finished."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return

    def watch() -> None:
        gevent.sleep(float(PLAN["lead_s"]) + TOTAL / RPS + 1.0)
        while runner.user_count > 0:
            gevent.sleep(0.5)
        runner.quit()

    gevent.spawn(watch)


events.test_stop.add_listener(_write)
events.quitting.add_listener(_write)


class OpenInferenceUser(FastHttpUser):
    wait_time = constant(0)
    network_timeout = float(PLAN["request_timeout_s"])
    connection_timeout = float(PLAN["connect_timeout_s"])
    max_retries = 0

    def on_start(self) -> None:
        if _state["t0"] is None:
            _state["t0"] = time.time() + float(PLAN["lead_s"])  # every user of this process is spawned by then
        p = _process_index(self.environment)
        j = next(_local_index) % USERS
        self._slots = iter(range(p + PROCESSES * j, TOTAL, PROCESSES * USERS))

    @task
    def infer(self) -> None:
        k = next(self._slots, None)
        if k is None:
            self._finish()
        scheduled = _state["t0"] + k / RPS
        delay = scheduled - time.time()
        if delay > 0:
            gevent.sleep(delay)
        self.client.post(
            PLAN["path"],
            data=BODIES[k % len(BODIES)],
            headers=HEADERS,
            name="infer",
            context={"slot": k, "scheduled": scheduled},
        )

    def _finish(self) -> None:
        _state["finished"] += 1
        runner = self.environment.runner
        if _state["finished"] >= USERS and isinstance(runner, LocalRunner):
            gevent.spawn_later(0.05, runner.quit)  # every slot of this process is answered: stop now
        raise StopUser()
