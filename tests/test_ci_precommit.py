"""The pre-commit hook (.pre-commit-hooks.yaml), run by pre-commit on `git commit` in a temporary repository.

pre-commit would normally clone this repository and pip-install it (network); here the hook's
published definition is used as a `repo: local` hook whose entry is this interpreter, so the
commit runs exactly the published arguments offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from builders import prob_model, write_bundle
from onnx import helper

from readiness.ci.precommit import changed_bundles

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    pytest.importorskip("pre_commit", reason="pre-commit is in the test extra")
    base = tmp_path_factory.mktemp("precommit")
    repo = base / "repo"
    repo.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        PRE_COMMIT_HOME=str(base / "cache"),
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        GIT_CONFIG_GLOBAL=str(base / "gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
    )
    (hook,) = [h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()) if h["id"] == "readiness"]
    local = {k: v for k, v in hook.items() if k not in ("entry", "language")}
    local.update(
        entry=f"{sys.executable} -m readiness.ci.precommit", language="system", verbose=True
    )  # show passes too
    config = {"repos": [{"repo": "local", "hooks": [local]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert _git(repo, "init", "-q", "-b", "main", env=env).returncode == 0
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    _git(repo, "add", ".pre-commit-config.yaml", env=env)
    first = _git(repo, "commit", "-q", "-m", "config", env=env)
    assert first.returncode == 0, first.stdout + first.stderr  # no bundle touched: the hook has nothing to check
    return repo, env


def _commits(repo: Path, env: dict[str, str]) -> int:
    return int(_git(repo, "rev-list", "--count", "HEAD", env=env).stdout.strip())


def test_hook_allows_a_clean_bundle_and_blocks_one_with_a_custom_op(repo):
    repo, env = repo
    write_bundle(repo / "models" / "good")
    _git(repo, "add", "models", env=env)
    ok = _git(repo, "commit", "-m", "add a clean model", env=env)
    log = ok.stdout + ok.stderr
    assert ok.returncode == 0, log
    assert log.count("readiness check models/good --select ART,SEC,SCH") == 1  # four files, one bundle, one run
    assert "RELEASED" in log
    assert _commits(repo, env) == 2

    bad = prob_model(extra_nodes=[helper.make_node("MyOp", ["logit"], ["logit_out"], domain="com.acme")])
    bad.opset_import.append(helper.make_opsetid("com.acme", 1))
    write_bundle(repo / "models" / "bad", bad)
    _git(repo, "add", "models", env=env)
    blocked = _git(repo, "commit", "-m", "add a model with a custom op", env=env)
    log = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, log
    assert "readiness check models/bad" in log and "models/good" not in log  # only the bundle the commit touches
    assert "BLOCKED" in log and "SEC003" in log
    assert _commits(repo, env) == 2  # the commit did not happen


def test_changed_files_map_to_their_bundles_once(tmp_path):
    for name in ("a", "b/nested"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "readiness.toml").write_text("")
    (tmp_path / "b" / "nested" / "sub").mkdir()
    (tmp_path / "mlflow-model").mkdir()
    (tmp_path / "mlflow-model" / "MLmodel").write_text("")
    files = [
        "a/model.onnx",
        "a/readiness.toml",
        "b/nested/sub/x.csv",
        "b/other.txt",
        "README.md",
        "mlflow-model/MLmodel",
    ]
    assert changed_bundles(files, tmp_path) == [Path("a"), Path("b/nested"), Path("mlflow-model")]
