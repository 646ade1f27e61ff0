"""readiness: decide whether a trained ML model is ready for production.

Public API::

    from readiness import check, passed, failed, skipped, inconclusive, Context, Result
    scorecard, ctx = readiness.evaluate("path/to/bundle", seed=0)
"""

from __future__ import annotations

__version__ = "0.1.0"

from .bundle import Bundle, load_bundle  # noqa: E402
from .context import Context  # noqa: E402
from .engine import evaluate  # noqa: E402
from .errors import BundleError, ModelLoadError, ReadinessError, RegistryError, SkipCheck  # noqa: E402
from .registry import (
    CheckSpec,
    Registry,
    Result,
    check,
    errored,
    failed,
    inconclusive,
    passed,
    skipped,
)  # noqa: E402
from .scorecard import CheckRecord, Scorecard  # noqa: E402

__all__ = [
    "Bundle",
    "BundleError",
    "CheckRecord",
    "CheckSpec",
    "Context",
    "ModelLoadError",
    "ReadinessError",
    "Registry",
    "RegistryError",
    "Result",
    "Scorecard",
    "SkipCheck",
    "__version__",
    "check",
    "errored",
    "evaluate",
    "failed",
    "inconclusive",
    "load_bundle",
    "passed",
    "skipped",
]
