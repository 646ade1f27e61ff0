"""A third-party check package (examples/plugin), pip-installed into a fresh virtual environment,
registers through the entry point group, is listed, explained and run, and its own tests pass."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from builders import prob_model, write_bundle

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with examples/plugin pip-installed into it, as a user would.

    readiness itself comes from this test run's environment (a .pth file adds its
    site-packages), so the venv is made in a second without any download: the plugin is
    built with the hatchling installed there (`--no-build-isolation --no-index`)."""
    base = tmp_path_factory.mktemp("plugin-venv")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "_readiness_under_test.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    source = base / "plugin"
    shutil.copytree(ROOT / "examples" / "plugin", source)
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv


def _in_venv(venv: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    return subprocess.run(
        [str(venv / "bin" / "python"), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def test_installed_plugin_is_listed_explained_and_run(fresh_venv: Path, tmp_path: Path):
    proc = _in_venv(fresh_venv, "-m", "pip", "show", "readiness-acme")
    assert "Location: " + str(fresh_venv) in proc.stdout, proc.stdout + proc.stderr  # installed in the new venv

    proc = _in_venv(fresh_venv, "-m", "readiness", "list-checks", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["ACME001"]["category"] == "governance" and rows["ACME001"]["origin"] == "readiness_acme.checks"
    assert "ART001" in rows  # the built-in checks are still there beside it

    proc = _in_venv(fresh_venv, "-m", "readiness", "explain", "ACME001")
    assert proc.returncode == 0 and "carries a `license` metadata property" in proc.stdout, proc.stderr

    without = write_bundle(tmp_path / "without")
    with_licence = write_bundle(tmp_path / "with", prob_model(4, metadata={"license": "Apache-2.0"}))
    out = tmp_path / "sc.json"
    args = ["-m", "readiness", "check", "--select", "ACME", "--fail-on", "minor", "--json", str(out)]
    proc = _in_venv(fresh_venv, *args[:3], str(without), *args[3:])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert json.loads(out.read_text())["checks"][0]["status"] == "fail"
    proc = _in_venv(fresh_venv, *args[:3], str(with_licence), *args[3:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(out.read_text())["checks"][0]
    assert (record["id"], record["status"], record["message"]) == ("ACME001", "pass", "licence: Apache-2.0")


def test_the_plugins_own_tests_pass_with_readiness_testing(fresh_venv: Path):
    source = fresh_venv.parent / "plugin"
    proc = _in_venv(fresh_venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=source)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def _readiness(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site))
    code = "from readiness.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


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


def test_the_example_plugin_uses_only_the_public_api():
    import ast

    import readiness

    public = {"readiness": set(readiness.__all__), "readiness.testing": None}
    sources = sorted((ROOT / "examples" / "plugin").rglob("*.py"))
    assert sources
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("readiness"):
                assert node.module in public, f"{path.name} imports {node.module}"
                allowed = public[node.module]
                assert allowed is None or {a.name for a in node.names} <= allowed, path.name
            elif isinstance(node, ast.Import):
                assert all(not a.name.startswith("readiness.") for a in node.names), path.name
