"""A third-party check package (examples/plugin) registers through the entry point group and runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import prob_model, write_bundle

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SRC = ROOT / "examples" / "plugin" / "src"


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A directory on which Python finds the example package and its entry point metadata,
    as `pip install examples/plugin` would lay them out (without touching the venv)."""
    site = tmp_path / "site"
    dist = site / "readiness_acme-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: readiness-acme\nVersion: 0.1.0\n")
    pyproject = (ROOT / "examples" / "plugin" / "pyproject.toml").read_text()
    assert 'acme = "readiness_acme.checks"' in pyproject  # the entry point we lay out is the one declared
    (dist / "entry_points.txt").write_text("[readiness.checks]\nacme = readiness_acme.checks\n")
    return site


def _readiness(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(PLUGIN_SRC)]))
    code = "from readiness.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


def test_plugin_check_is_listed_and_explained(plugin_path):
    proc = _readiness(plugin_path, "list-checks", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["ACME001"]["category"] == "governance"
    assert rows["ACME001"]["origin"] == "readiness_acme.checks"
    proc = _readiness(plugin_path, "explain", "ACME001")
    assert "carries a `license` metadata property" in proc.stdout


def test_plugin_check_runs_and_detects_its_defect(plugin_path, tmp_path):
    without = write_bundle(tmp_path / "without")
    with_licence = write_bundle(tmp_path / "with", prob_model(4, metadata={"license": "Apache-2.0"}))
    out = tmp_path / "sc.json"
    proc = _readiness(plugin_path, "check", str(without), "--select", "ACME", "--fail-on", "minor", "--json", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(out.read_text())["checks"][0]["status"] == "fail"
    proc = _readiness(
        plugin_path, "check", str(with_licence), "--select", "ACME", "--fail-on", "minor", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(out.read_text())["checks"][0]
    assert (record["id"], record["status"], record["message"]) == ("ACME001", "pass", "licence: Apache-2.0")


def test_without_the_plugin_the_check_is_unknown(tmp_path):
    proc = _readiness(tmp_path, "explain", "ACME001")
    assert proc.returncode == 2 and "no check 'ACME001'" in proc.stderr


def test_a_broken_plugin_is_named_and_exits_3_without_traceback(tmp_path):
    site = tmp_path / "site"
    dist = site / "broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[readiness.checks]\nbroken = broken_checks\n")
    (site / "broken_checks.py").write_text("raise ImportError('needs torch')\n")
    proc = _readiness(site, "list-checks")
    assert proc.returncode == 3
    assert "plugin 'broken' (broken_checks)" in proc.stderr and "needs torch" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
