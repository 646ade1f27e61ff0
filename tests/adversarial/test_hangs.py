"""A model that never returns, and interrupts: a run always ends, exits with the right code and
writes its report (or, when interrupted, no report at all), never aborting the interpreter.

The hanging model is a Loop with 2**62 iterations built with onnx.helper. Timing is never asserted:
the subprocess timeouts are only a generous backstop; what proves that a hang costs one check's
time limit is that every later check that needs the model says it was not run because of the first.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from builders import prob_model, write_bundle
from onnx import TensorProto, helper

CHECK_TIMEOUT_S = 15  # room for loading the model on a loaded machine; `readiness check --check-timeout 5` by hand
BACKSTOP_S = 240  # far above one cap plus start-up on a loaded 2-core machine, below one cap per check
READINESS = [sys.executable, "-c", "from readiness.cli import main; main()"]


def spin_forever() -> list:
    """Nodes that rewrite `logit` into `logit_out` through a Loop of 2**62 iterations (it never returns)."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "zero"], ["v_out"]),
        ],
        "spin",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None),
        ],
        [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    return [
        helper.make_node("Constant", [], ["trips"], value=helper.make_tensor("t", TensorProto.INT64, [], [2**62])),
        helper.make_node("Constant", [], ["go"], value=helper.make_tensor("g", TensorProto.BOOL, [], [True])),
        helper.make_node("Loop", ["trips", "go", "logit"], ["logit_out"], body=body),
    ]


@pytest.fixture(scope="module")
def hanging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the bundle asks for an hour per check: a bundle can only lower the command line's cap
    return write_bundle(
        tmp_path_factory.mktemp("hang") / "bundle",
        prob_model(extra_nodes=spin_forever()),
        manifest={"checks": {"timeout_s": 3600}},
    )


def _check(bundle: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*READINESS, "check", str(bundle), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test runner may start us with SIGINT ignored; a user's shell does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kwargs,
    )


def test_a_hanging_model_costs_one_check_timeout_and_the_report_is_written(hanging: Path, tmp_path: Path):
    out = tmp_path / "scorecard.json"
    selected = "QLT001,QLT003,RPR001,RPR002,SCH004,ROB002,LAT001,LAT002"  # eight checks that score rows
    proc = _check(hanging, "--check-timeout", str(CHECK_TIMEOUT_S), "--select", selected, "--json", str(out))
    stdout, stderr = proc.communicate(timeout=BACKSTOP_S)
    assert proc.returncode == 1, stderr  # blocked, not 134 (SIGABRT)
    assert "terminate called" not in stderr and "Traceback" not in stderr
    checks = {c["id"]: c for c in json.loads(out.read_text())["checks"]}
    assert all(c["status"] == "error" for c in checks.values())
    cancelled = f"timed out after {CHECK_TIMEOUT_S} s; the check's inference was cancelled"
    hung = [cid for cid, c in checks.items() if c["message"] == cancelled]
    assert len(hung) == 1, {cid: c["message"] for cid, c in checks.items()}  # one cap, not one per check
    for cid in set(checks) - set(hung):  # the others cite the first timeout at once
        assert checks[cid]["message"] == (
            f"not run: the model's inference already overran {CHECK_TIMEOUT_S} s in {hung[0]}; "
            "it is not tried again in this run"
        )
    assert "BLOCKED" in stdout


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_during_inference_exits_cleanly_without_a_report(hanging: Path, tmp_path: Path, sig, code):
    out_dir = tmp_path / "out"
    out = out_dir / "scorecard.json"
    # ART001 loads the model; once its progress line is printed, QLT001 is scoring rows (forever)
    proc = _check(hanging, "--check-timeout", "600", "--select", "ART001,QLT001", "--json", str(out))
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("ART001"):
            break
    proc.send_signal(sig)
    _stdout, stderr = proc.communicate(timeout=BACKSTOP_S)
    stderr = "".join(lines) + stderr
    assert proc.returncode == code, stderr
    assert f"interrupted ({sig.name}); no report written" in stderr
    assert "terminate called" not in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert not out_dir.exists() or not any(out_dir.iterdir())  # no temporary report file left either


@pytest.mark.parametrize("option", ["--timeout", "--check-timeout"])
@pytest.mark.parametrize("value", ["inf", "nan", "0", "-5", "soon"])
def test_a_time_limit_must_be_a_finite_positive_number(option: str, value: str, tmp_path: Path):
    from click.testing import CliRunner

    from readiness.cli import main

    result = CliRunner().invoke(main, ["check", str(tmp_path), option, value])
    assert result.exit_code == 2
    assert option in result.output and "Traceback" not in result.output
