"""Glue for the CI systems teams already run: GitHub Actions, pre-commit, MLflow (see docs/ci.md).

- `readiness.ci.github`: the steps of the GitHub Action (`action.yml` at the repository root);
- `readiness.ci.precommit`: the pre-commit hook (`.pre-commit-hooks.yaml`);
- `readiness.ci.mlflow`: an MLflow `ModelEvaluator` registered as "readiness".
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

MANIFEST_NAMES = ("readiness.toml", "MLmodel")
_GLOB_CHARS = frozenset("*?[")


def expand_bundles(patterns: list[str], cwd: Path) -> tuple[list[Path], list[str]]:
    """Paths and globs (relative to `cwd`) -> existing paths, deduplicated, in order; plus patterns that matched nothing."""
    found: list[Path] = []
    unmatched: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        if _GLOB_CHARS & set(pattern):
            matches = sorted(glob.glob(pattern, root_dir=cwd, recursive=True))
        else:
            matches = [pattern] if (cwd / pattern).exists() else []
        if not matches:
            unmatched.append(pattern)
        for match in matches:
            key = os.path.normpath(match)
            if key not in seen:
                seen.add(key)
                found.append(Path(key))
    return found, unmatched


def bundle_of(path: Path, top: Path) -> Path | None:
    """The bundle directory holding `path` (nearest directory with a manifest, not above `top`), or None."""
    top = top.resolve()
    current = path.resolve()
    if not current.is_dir():
        current = current.parent
    while True:
        if any((current / name).is_file() for name in MANIFEST_NAMES):
            return current
        if current == top or top not in current.parents:
            return None
        current = current.parent
