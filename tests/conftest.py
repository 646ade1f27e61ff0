from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_train():
    spec = importlib.util.spec_from_file_location(
        "breast_cancer_train", ROOT / "examples" / "breast-cancer" / "train.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def _example_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("example-master")
    _load_train().build(out)
    return out


@pytest.fixture
def example_bundle(_example_master: Path, tmp_path: Path) -> Path:
    """A fresh, writable copy of the breast-cancer example bundle."""
    dest = tmp_path / "breast-cancer"
    shutil.copytree(_example_master, dest)
    return dest


# readiness.testing's fixture, as plugin authors enable it (they write `pytest_plugins = ["readiness.testing"]`).
from readiness.testing import readiness_tester  # noqa: E402, F401
