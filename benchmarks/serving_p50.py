"""Does SRV003 measure what a plain client measures? Its p50 against an independent httpx timing loop.

    python benchmarks/serving_p50.py [--rps 10] [--duration 10] [--rounds 3] [--endpoint URL] [--smoke]

In one run: a small logistic model is served by kserve's ModelServer on a free 127.0.0.1 port
(tests/oip_server.py; or `--endpoint URL` for a server already running that serves it as `clean`).
Then, alternating for --rounds rounds so machine drift hits both sides:
- "SRV003": the check's p50 under open-loop load at --rps for --duration seconds (Locust in a
  child process, latency from each request's scheduled time, order-statistic point estimate);
- "independent": a loop written here without readiness' load code: one httpx.Client, the same
  request bodies, paced at the same rate, each request timed with perf_counter around the call;
  p50 by numpy's "inverted_cdf".
Prints each round and the ratio of the medians (SRV003 / independent); the target is 0.8-1.25.
`--smoke` runs one short round (2 s) and only checks that both sides produce a p50.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    import httpx
    from builders import prob_model

    model = tmp / "model.onnx"
    model.write_bytes(prob_model(4).SerializeToString())
    port = _free_port()
    spec = {"port": port, "model": str(model), "version": "1.0.0", "max_batch_size": 16, "lifetime_s": 900}
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "oip_server.py"), json.dumps(spec)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.25)
    stop_server(proc)
    raise SystemExit(f"the server did not become ready: {(tmp / 'server.log').read_text()[-1000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def srv003_p50(bundle: Path, url: str) -> tuple[float, dict]:
    from readiness.endpoint import resolve
    from readiness.engine import evaluate

    card, _ = evaluate(bundle, select=["SRV003"], endpoint=resolve(url, environ={}))
    (record,) = card.checks
    if record.status == "error":
        raise SystemExit(f"SRV003 could not run: {record.message}")
    return float(record.measured["batch_1"]["p50_ms"]), record.measured


def independent_p50(url: str, bodies: list[bytes], rps: float, count: int) -> float:
    """A plain paced loop of httpx requests, each timed on its own (no readiness code on the timed path)."""
    import httpx

    times = []
    with httpx.Client(base_url=url, timeout=10.0) as client:
        for body in bodies[:3]:  # warm-up, as SRV003 does
            client.post("/v2/models/clean/infer", content=body, headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        for k in range(count):
            due = start + k / rps
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            resp = client.post(
                "/v2/models/clean/infer", content=bodies[k % len(bodies)], headers={"Content-Type": "application/json"}
            )
            t1 = time.perf_counter()
            if resp.status_code == 200:
                times.append((t1 - t0) * 1e3)
    return float(np.percentile(times, 50, method="inverted_cdf"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=None, help="a running tests/oip_server.py (default: start one)")
    parser.add_argument("--smoke", action="store_true", help="one 2-second round: both sides produce a p50")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.rounds = 2.0, 1

    from builders import serving_config, tabular_data, write_bundle

    from readiness.endpoint import request_body

    with tempfile.TemporaryDirectory(prefix="readiness-serving-bench-") as tmp_name:
        tmp = Path(tmp_name)
        proc, url = (None, args.endpoint) if args.endpoint else start_server(tmp)
        try:
            load = {"rps": args.rps, "duration_s": args.duration, "max_error_rate": 0.1}
            slo = {"latency": [{"batch_size": 1, "p50_ms": 1000}]}
            bundle = write_bundle(
                tmp / "bundle", serving=serving_config(4, slo=slo, endpoint={"model": "clean", "load": load})
            )
            frame = tabular_data(n_features=4)
            bodies = [
                json.dumps(request_body({"input": frame.iloc[[i], :4].to_numpy(np.float32)})).encode()
                for i in range(min(64, len(frame)))
            ]
            ours, theirs = [], []
            for r in range(args.rounds):
                p50, measured = srv003_p50(bundle, url)
                ours.append(p50)
                theirs.append(independent_p50(url, bodies, args.rps, round(args.rps * args.duration)))
                print(
                    f"round {r + 1}: SRV003 p50 {ours[-1]:.3f} ms ({measured['requests']} requests, "
                    f"{measured['answered_ok']} ok) | independent httpx loop p50 {theirs[-1]:.3f} ms"
                )
            ratio = statistics.median(ours) / statistics.median(theirs)
            print(f"ratio SRV003 / independent (medians over {args.rounds} round(s)): {ratio:.3f} (target 0.8-1.25)")
        finally:
            if proc is not None:
                stop_server(proc)


if __name__ == "__main__":
    main()
