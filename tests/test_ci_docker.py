"""The container image (Dockerfile): built and run only where a working Docker daemon can build it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TAG = "readiness-test:ci"
# the FROM step failed: the base image could not be fetched (no registry access)
NO_BASE_IMAGE = re.compile(
    r"(failed to (solve|resolve|fetch)|error pulling|pull access denied|manifest unknown).*python:", re.I
)

pytestmark = pytest.mark.slow


def _docker_or_skip() -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.skip("docker info did not answer within 30 s")
    if info.returncode != 0:
        pytest.skip(f"no working Docker daemon: {(info.stderr or info.stdout).strip().splitlines()[-1][:200]}")


@pytest.fixture(scope="module")
def image() -> str:
    _docker_or_skip()
    build = subprocess.run(["docker", "build", "-t", TAG, str(ROOT)], capture_output=True, text=True, timeout=1800)
    if build.returncode != 0:
        log = build.stdout + build.stderr
        if NO_BASE_IMAGE.search(log):
            pytest.skip("the base image python:*-slim cannot be pulled here (no registry access)")
        pytest.fail(f"docker build failed:\n{log[-3000:]}")
    yield TAG
    subprocess.run(["docker", "image", "rm", "-f", TAG], capture_output=True, timeout=120)


def test_image_checks_a_mounted_bundle_as_a_non_root_user(image, example_bundle):
    uid = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", image, "-u"], capture_output=True, text=True)
    assert uid.returncode == 0 and uid.stdout.strip() != "0"
    run = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{example_bundle}:/bundle:ro", image]
        + ["check", "/bundle", "--select", "ART,SEC,SCH", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("RELEASED: breast-cancer")
