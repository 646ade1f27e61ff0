"""Live serving endpoint checks (SRV001-SRV005) against a real Open Inference Protocol server.

One kserve ModelServer (tests/oip_server.py) runs on a free 127.0.0.1 port for this module and
serves the same ONNX model under six names: `clean` and one per defect. Each defect must fail
exactly the check named for it; the clean model passes every SRV check. Load is short and
bounded (2 s at 25 requests per second); the server stops when the module ends, or by itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from builders import prob_model, serving_config, write_bundle
from click.testing import CliRunner

from readiness.cli import main
from readiness.endpoint import EndpointOptions, resolve
from readiness.engine import evaluate
from readiness.errors import BundleError

httpx = pytest.importorskip("httpx")
# never import kserve or locust here: locust monkey-patches the process with gevent
for _name in ("kserve", "locust"):
    if importlib.util.find_spec(_name) is None:
        pytest.skip(f"{_name} is not installed (pip install -e '.[test]')", allow_module_level=True)

pytestmark = pytest.mark.xdist_group("serving")  # one server, one worker
SERVER = Path(__file__).with_name("oip_server.py")
SRV = ["SRV001", "SRV002", "SRV003", "SRV004", "SRV005"]
# p90 needs 29 samples for an upper bound at 95%; 2 s at 25 rps gives 50. The `slow` model sleeps
# 0.5 s on every third request, so its p90 is far over 300 ms while the others' stay well under it.
SLO = {"latency": [{"batch_size": 1, "p50_ms": 200, "p90_ms": 300}]}
LOAD = {"rps": 25, "duration_s": 2, "max_error_rate": 0.1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oip-model") / "model.onnx"
    path.write_bytes(prob_model(4).SerializeToString())
    return path


@pytest.fixture(scope="module")
def server(model_file: Path) -> str:
    port = _free_port()
    spec = {"port": port, "model": str(model_file), "version": "1.0.0", "max_batch_size": 16, "lifetime_s": 300}
    log = model_file.with_name("server.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), json.dumps(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the test server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the test server was not ready within 90 s: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _bundle(directory: Path, model: str, **endpoint) -> Path:
    cfg = serving_config(4, slo=SLO, endpoint={"model": model, "load": LOAD, **endpoint})
    return write_bundle(directory, serving=cfg)


def _statuses(bundle: Path, url: str | None, **options) -> tuple[dict[str, str], dict[str, object]]:
    endpoint = resolve(url, environ={}, **options) if url else None
    card, _ = evaluate(bundle, select=["SRV"], endpoint=endpoint)
    return {c.id: c.status for c in card.checks}, {"card": card}


def test_clean_server_passes_every_srv_check(tmp_path: Path, server: str) -> None:
    statuses, out = _statuses(_bundle(tmp_path / "b", "clean"), server)
    card = out["card"]
    messages = {c.id: c.message for c in card.checks}
    assert statuses == dict.fromkeys(SRV, "pass"), messages
    assert card.environment["endpoint"]["server_name"] == "kserve"
    assert card.environment["endpoint"]["url"] == server
    load = next(c for c in card.checks if c.id == "SRV003")
    assert load.measured["requests"] == 50 and load.measured["batch_1"]["samples"] == 50
    assert load.evidence["raw_times"]["batch_1"]["count"] == 50  # every call recorded, for the bounds
    from readiness.reports import html

    page = html.render(card)  # the serving section: server, latency under load against the SLO, parity
    section = page[page.index('<section id="serving">') :]
    assert "kserve" in section and "SLO budget" in section and "label agreement" in section


@pytest.mark.parametrize(
    ("model", "failing"),
    [("skew", "SRV002"), ("wrongdtype", "SRV001"), ("crash", "SRV004"), ("slow", "SRV003"), ("oldversion", "SRV005")],
)
def test_each_defect_fails_exactly_its_check(tmp_path: Path, server: str, model: str, failing: str) -> None:
    # the load check (a few seconds each) runs against the clean model, the slow one and the workers test only
    select = SRV if failing == "SRV003" else [cid for cid in SRV if cid != "SRV003"]
    card, _ = evaluate(_bundle(tmp_path / "b", model), select=select, endpoint=resolve(server, environ={}))
    messages = {c.id: c.message for c in card.checks}
    assert {c.id: c.status for c in card.checks} == {cid: ("fail" if cid == failing else "pass") for cid in select}, (
        messages
    )


def test_skew_evidence_names_the_first_differing_row(tmp_path: Path, server: str) -> None:
    card, _ = evaluate(_bundle(tmp_path / "b", "skew"), select=["SRV002"], endpoint=resolve(server, environ={}))
    (record,) = card.checks
    comparison = record.evidence["comparison"]
    assert comparison["first_differing_row"] == 0
    assert set(comparison["first_differing_values"]) == {"got", "expected"}
    assert record.measured["max_abs_diff"] > 0.01 and "label agreement" in record.message


def test_load_workers_run_under_a_master(tmp_path: Path, server: str) -> None:
    card, _ = evaluate(
        _bundle(tmp_path / "b", "clean"), select=["SRV003"], endpoint=resolve(server, environ={}, load_workers=2)
    )
    (record,) = card.checks
    assert record.status == "pass", record.message
    assert record.evidence["load_generator"]["processes"] == 2
    assert record.measured["requests"] == 50 and record.measured["answered_ok"] == 50


def test_without_endpoint_every_srv_check_skips_naming_the_option(tmp_path: Path) -> None:
    card, _ = evaluate(_bundle(tmp_path / "b", "clean"), select=["SRV"])
    assert {c.id: c.status for c in card.checks} == dict.fromkeys(SRV, "skip")
    assert all("--endpoint URL" in c.message for c in card.checks)


def test_closed_port_fails_srv001_and_skips_the_rest(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "b", "clean")
    port = _free_port()  # nothing listens here
    result = CliRunner().invoke(
        main,
        [
            "check",
            str(bundle),
            "--select",
            "SRV",
            "--endpoint",
            f"http://127.0.0.1:{port}",
            "--json",
            str(tmp_path / "s.json"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    checks = {c["id"]: c for c in json.loads((tmp_path / "s.json").read_text())["checks"]}
    assert checks["SRV001"]["status"] == "fail"
    assert "connection refused" in checks["SRV001"]["message"]
    assert checks["SRV001"]["duration_s"] < 30  # bounded by the connect timeout, not a hang
    for cid in SRV[1:]:
        assert checks[cid]["status"] == "skip" and "SRV001" in checks[cid]["message"]


def test_the_url_never_comes_from_the_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "b", "clean", url="http://10.0.0.1:8080")
    result = CliRunner().invoke(main, ["check", str(bundle), "--select", "SRV"])
    assert result.exit_code == 2
    assert "endpoint.url: unknown key" in result.output


def test_endpoint_from_the_environment_and_bad_urls() -> None:
    assert resolve(None, environ={"READINESS_ENDPOINT": "http://127.0.0.1:9/"}).url == "http://127.0.0.1:9"
    assert resolve(None, environ={}) is None
    for bad in ("ftp://host", "127.0.0.1:8080", "http://h/?model=x"):
        with pytest.raises(BundleError, match="not an endpoint URL"):
            resolve(bad, environ={})


def test_auth_header_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRV_TOKEN", "s3cret")
    options = EndpointOptions(url="http://user:pw@127.0.0.1:9", auth_env="SRV_TOKEN")
    assert options.headers() == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in json.dumps(options.environment()) and "pw" not in options.display_url
    monkeypatch.setenv("SRV_TOKEN", "Basic abc")
    assert options.headers() == {"Authorization": "Basic abc"}
    monkeypatch.delenv("SRV_TOKEN")
    with pytest.raises(BundleError, match="SRV_TOKEN is not set"):
        options.headers()


def test_decoding_refuses_answers_that_do_not_fill_their_shape() -> None:
    from readiness.endpoint import EndpointError, decode_tensor

    ok = decode_tensor({"name": "p", "shape": [2, 2], "datatype": "FP32", "data": [0.1, 0.9, 0.2, 0.8]})
    assert ok.dtype == np.float32 and ok.shape == (2, 2)
    with pytest.raises(EndpointError, match="do not fill"):
        decode_tensor({"name": "p", "shape": [3, 2], "datatype": "FP32", "data": [0.1, 0.9]})


def test_the_p50_benchmark_smoke_mode_runs(server: str) -> None:
    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "serving_p50.py"
    proc = subprocess.run(
        [sys.executable, str(bench), "--smoke", "--endpoint", server], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ratio SRV003 / independent" in proc.stdout
