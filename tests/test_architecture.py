"""The shape of the code that keeps it easy to change, checked on the source itself."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "readiness"
CHECK_ID = re.compile(r"\b[A-Z]{3}\d{3}\b")


def test_runner_names_no_check():
    """What an exception means for a check's result is said by the exception (errors.Outcome), never by
    the runner: it knows no check id and no library whose errors it would have to interpret."""
    source = (PACKAGE / "runner.py").read_text(encoding="utf-8")
    source = re.sub(r"# noqa: [A-Z0-9, ]+", "", source)  # linter codes (BLE001) are not check ids
    assert CHECK_ID.findall(source) == []
    assert "onnxruntime" not in source
