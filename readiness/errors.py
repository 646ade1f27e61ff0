"""Errors the engine raises on purpose. Each maps to an exit code in the CLI."""

from __future__ import annotations

from pathlib import Path


class ReadinessError(Exception):
    """Base class for errors readiness reports to the user without a traceback."""

    exit_code = 3


class BundleError(ReadinessError):
    """Unusable input: a bad manifest, a missing file or an invalid config (exit code 2).

    The message always names the file, the key (when there is one) and the fix.
    """

    exit_code = 2

    def __init__(self, file: str | Path | None, key: str | None, problem: str, fix: str = ""):
        self.file = str(file) if file is not None else None
        self.key = _one_line(key, 200) if key is not None else None  # keys can come from a hostile bundle
        self.problem = _one_line(problem, 4000)
        self.fix = fix
        super().__init__(self.format())

    def format(self) -> str:
        where = self.file or "<input>"
        if self.key:
            where += f": {self.key}"
        text = f"{where}: {self.problem}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


def _one_line(text: str, limit: int) -> str:
    """TEXT on one line and at most LIMIT characters: the last net under messages that quote a bundle
    (callers quote bundle content with `parsing.quote`, 200 characters at most)."""
    text = str(text).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RegistryError(ReadinessError):
    """A check could not be registered: a malformed or duplicate id, a broken plugin."""

    exit_code = 3


class SkipCheck(Exception):
    """Raised inside a check to mark it `skip`: an input it needs is absent."""


class ModelUnreadable(SkipCheck):
    """The model file is not a parsable ONNX protobuf. Raised by `ctx.onnx`; a check reading the
    model is then `skip`, pointing at ART001 (which fails it). `reason` is the bare cause."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{reason} (see ART001)")


class ModelLoadError(Exception):
    """The ONNX model could not be loaded into an inference session."""


class OutputMismatch(Exception):
    """The model's outputs do not fit the declared output contract (e.g. class count); SCH004 judges it."""
