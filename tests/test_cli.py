"""The command line: exit codes, bad input (exit 2, one line, no traceback), help, list and explain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from builders import write_bundle
from click.testing import CliRunner

from readiness.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "b")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _expect_input_error(args: list[str], *needles: str) -> str:
    code, out = run(*args)
    assert code == 2, out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in {out!r}"
    return out


def test_missing_manifest(tmp_path):
    _expect_input_error(["check", str(tmp_path)], "readiness.toml", "no manifest found", "fix:")


def test_missing_path(tmp_path):
    _expect_input_error(["check", str(tmp_path / "nope")], "nope", "no such file")


def test_unknown_key_names_file_key_and_valid_keys(bundle):
    _edit(bundle / "readiness.toml", 'path = "model.onnx"', 'path = "model.onnx"\npathh = "x"')
    _expect_input_error(
        ["check", str(bundle)], "readiness.toml", "[model].pathh", "unknown key", "valid keys: path, source"
    )


def test_unknown_section(bundle):
    (bundle / "readiness.toml").write_text((bundle / "readiness.toml").read_text() + "\n[modle]\npath = 'x'\n")
    _expect_input_error(["check", str(bundle)], "modle", "unknown key", "did you mean 'model'")


def test_wrong_type(bundle):
    (bundle / "readiness.toml").write_text(
        (bundle / "readiness.toml").read_text() + '\n[policy]\nfail_on = "critical"\n'
    )
    _expect_input_error(["check", str(bundle)], "[policy].fail_on", "'critical' is not valid", "'blocker'")


def test_wrong_type_in_serving_config(bundle):
    _edit(bundle / "serving.yaml", "max_batch_size: 16", "max_batch_size: sixteen")
    _expect_input_error(["check", str(bundle)], "serving.yaml", "batching.max_batch_size", "sixteen")


def test_invalid_toml(bundle):
    (bundle / "readiness.toml").write_text("[model\npath = 1\n")
    _expect_input_error(["check", str(bundle)], "readiness.toml", "invalid TOML")


def test_missing_model_file(bundle):
    (bundle / "model.onnx").unlink()
    _expect_input_error(["check", str(bundle)], "readiness.toml", "[model].path", "'model.onnx' does not exist")


def test_model_path_is_a_directory(bundle):
    (bundle / "model.onnx").unlink()
    (bundle / "model.onnx").mkdir()
    _expect_input_error(["check", str(bundle)], "[model].path", "is not a file")


def test_invalid_yaml_names_the_line(bundle):
    (bundle / "serving.yaml").write_text("inputs:\n  - name: input\n    dtype: [float32\noutputs: []\n")
    _expect_input_error(["check", str(bundle)], "serving.yaml", "invalid YAML", "line 4")


def test_empty_csv(bundle):
    (bundle / "reference.csv").write_text("")
    _expect_input_error(["check", str(bundle)], "reference.csv", "empty")


def test_header_only_csv(bundle):
    (bundle / "reference.csv").write_text("f0,f1,f2,f3,label\n")
    _expect_input_error(["check", str(bundle)], "reference.csv", "no rows")


def test_target_not_in_reference(bundle):
    _edit(bundle / "readiness.toml", 'target = "label"', 'target = "y"')
    _expect_input_error(["check", str(bundle)], "[data].target", "column 'y' is not among")


def test_schema_that_is_not_pandera(bundle):
    (bundle / "schema.yaml").write_text("hello: world\n")
    _expect_input_error(["check", str(bundle)], "schema.yaml", "not a pandera schema")


def test_python_schema_needs_trust(bundle):
    _edit(bundle / "readiness.toml", 'schema = "schema.yaml"', 'schema = "my_schema:SCHEMA"')
    marker = bundle / "imported.txt"
    (bundle / "my_schema.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nSCHEMA = None\n")
    _expect_input_error(["check", str(bundle)], "[data].schema", "--trust")
    assert not marker.exists()


def test_unknown_selector(bundle):
    _expect_input_error(["check", str(bundle), "--select", "NOPE"], "--select", "matches no check")


def test_broken_baseline_is_named(bundle, tmp_path):
    (bundle.parent / ".git").mkdir()  # ../prod is inside the workspace root, but holds no bundle
    (bundle / "readiness.toml").write_text(
        (bundle / "readiness.toml").read_text() + '\n[baseline]\nmanifest = "../prod/readiness.toml"\n'
    )
    _expect_input_error(["check", str(bundle)], "[baseline].manifest", "baseline bundle cannot be used")


def test_no_traceback_from_the_real_command(tmp_path):
    """`readiness check bad/ 2>&1 | grep -c Traceback` -> 0, with the installed console script."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "readiness.toml").write_text("[model]\npath = 'missing.onnx'\n")
    exe = Path(sys.executable).parent / "readiness"
    proc = subprocess.run([str(exe), "check", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "missing.onnx" in proc.stderr


def test_released_bundle_exits_0_and_writes_json(bundle, tmp_path):
    out = tmp_path / "reports" / "scorecard.json"
    code, text = run("check", str(bundle), "--select", "ART001", "--json", str(out))
    assert code == 0, text
    assert "RELEASED" in text and f"wrote json scorecard: {out}" in text
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and data["gate"]["released"] is True


def test_quiet_prints_only_the_verdict(bundle):
    code, text = run("check", str(bundle), "--select", "ART001", "--quiet")
    assert code == 0
    assert text.strip().splitlines() == [text.strip().splitlines()[0]]
    assert text.startswith("RELEASED")


def test_every_command_help_shows_an_example():
    for cmd in ([], ["check"], ["list-checks"], ["explain"]):
        code, text = run(*cmd, "--help")
        assert code == 0 and "Example:" in text, cmd


def test_list_checks_table_and_json():
    code, text = run("list-checks", "--format", "json")
    assert code == 0
    rows = json.loads(text)
    assert {"id", "category", "severity", "title"} <= set(rows[0])
    assert rows == sorted(rows, key=lambda r: r["id"])
    code, table = run("list-checks")
    assert code == 0 and rows[0]["id"] in table


def test_explain_known_and_unknown():
    rows = json.loads(run("list-checks", "--format", "json")[1])
    code, text = run("explain", rows[0]["id"].lower())
    assert code == 0 and text.startswith(f"{rows[0]['id']}: {rows[0]['title']}")
    _expect_input_error(["explain", "ZZZ999"], "no check 'ZZZ999'", "list-checks")


def test_closed_pipe_is_not_an_internal_error():
    """`readiness list-checks | head -1` stops quietly: no traceback, no 'internal error'."""
    # stdout is a pipe whose reader is already gone, so the first write fails with EPIPE.
    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "from readiness.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "list-checks", "--format", "json"], capture_output=True, text=True
    )
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
