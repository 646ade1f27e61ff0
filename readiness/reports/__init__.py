"""Renderers: each module turns a Scorecard (and nothing else) into one format.

Every renderer module exposes `render(scorecard) -> str`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..scorecard import Scorecard, write_atomic
from ..vocabulary import REPORT_FORMATS

FORMATS: dict[str, str] = REPORT_FORMATS


def render(fmt: str, scorecard: Scorecard) -> str:
    """Render `scorecard` as `fmt` (one of FORMATS)."""
    module = importlib.import_module(FORMATS[fmt])
    return module.render(scorecard)


def write(fmt: str, scorecard: Scorecard, path: str | Path) -> Path:
    """Render and write atomically."""
    return write_atomic(path, render(fmt, scorecard))


__all__ = ["FORMATS", "render", "write"]
