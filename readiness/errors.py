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


class Outcome(Exception):  # noqa: N818 - an outcome, not only an error
    """An exception that says which result the check meeting it gets.

    `status` is the result's status, `message` what happened, and `see` the id of the check
    that explains the root cause (e.g. ``see="ART001"`` for a model that does not load), so
    every check that meets the same cause reports it the same way. The runner turns any
    Outcome into a result with one line (`describe()`); raise one from a check, the context
    or the runtime wherever the cause is known.
    """

    status = "error"
    see: str | None = None
    prefix = ""  # put before the message in a result ("cannot run: ...")

    def __init__(self, message: str = "", *, status: str | None = None, see: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if see is not None:
            self.see = see

    @property
    def message(self) -> str:
        return str(self)

    explained_by: tuple[str, ...] = ()  # checks whose failure explains this one, beyond `see`

    def caused_by(self) -> list[str]:
        """The checks whose failure explains this outcome (the gate folds consequences under them)."""
        if self.status != "error":
            return []
        named = [part for part in (self.see or "").split("/") if part]
        return list(dict.fromkeys([*named, *self.explained_by]))

    def describe(self) -> str:
        """The result message: prefix, message and the explaining check (when not already named)."""
        text = f"{self.prefix}{self.message}"
        if self.see and self.see not in text:
            text += f" (see {self.see})"
        return text


class SkipCheck(Outcome):
    """Raised inside a check to mark it `skip`: an input it needs is absent."""

    status = "skip"


class ModelUnreadable(SkipCheck):
    """The model file is not a parsable ONNX protobuf. Raised by `ctx.onnx`; a check reading the
    model is then `skip`, pointing at ART001 (which fails it). `reason` is the bare cause."""

    see = "ART001"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{reason} (see ART001)")


class ModelLoadError(Outcome):
    """The ONNX model could not be loaded into an inference session."""

    see = "ART001"
    explained_by = ("ART002", "SEC003")
    prefix = "cannot run: "


class ProviderUnavailable(Outcome):
    """A requested execution provider is not available (or not used by the session).

    The `required_providers` policy is decided here, once: when the serving config marks its
    providers as required the outcome is `fail`, else `skip` (nothing is measured on another
    provider).
    """

    see = "ART001"

    def __init__(self, missing: list[str], available: list[str], *, required: bool = False) -> None:
        self.missing = missing
        self.available = available
        self.required = required
        text = (
            f"execution provider(s) {', '.join(missing)} requested by the serving config are not available "
            f"in this onnxruntime (available: {', '.join(available)})"
        )
        super().__init__(text, status="fail" if required else "skip")

    def describe(self) -> str:
        if self.required:
            return f"{self.message}; the serving config marks its providers as required"
        return f"{self.message}; nothing was measured on another provider"


class OutputMismatch(Outcome):
    """The model's outputs do not fit the declared output contract (e.g. class count); SCH004 judges it."""

    see = "SCH004"


class ModelRefusedRows(Outcome):
    """onnxruntime refused the rows as the serving contract feeds them: a finding about the contract."""

    see = "SCH001/SCH002"


class InferenceTimedOut(Outcome):
    """The model's inference already overran a check's time limit in this run; it is not tried again."""

    prefix = "not run: "
