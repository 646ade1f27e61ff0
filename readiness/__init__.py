"""readiness: decide whether a trained ML model is ready for production.

The public API, for scripts and for third-party check packages (plugins)::

    from readiness import Context, Result, check, failed, passed, skipped

    @check("ACME001", "Model declares its licence", category="governance", severity="minor")
    def model_declares_license(ctx: Context) -> Result:
        licence = ctx.onnx.metadata.get("license")        # safe: a corrupt file is a skip
        return passed(f"licence: {licence}") if licence else failed("no licence")

    scorecard, ctx = readiness.evaluate("path/to/bundle", seed=0)

Everything a check author needs is importable from here: the decorator and the
result constructors, `Context` and what it hands out (`Predictions`, `InputSpec`,
`OutputSpec`, `ServingConfig`, `ModelFacts`), the errors a check may raise
(`SkipCheck`, `ModelUnreadable`), and the shared vocabulary (`STATUSES`,
`SEVERITIES`, `jsonable`). Test helpers live in `readiness.testing`. Anything not
listed in `__all__` is private and may change without notice.

Names are imported on first use (module `__getattr__`), so `import readiness`
stays cheap: the pytest plugin loads it in every pytest run, and nothing here may
pull in onnxruntime, pandas or pydantic until a bundle is actually evaluated.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY: dict[str, str] = {
    "Bundle": "bundle",
    "load_bundle": "bundle",
    "InputSpec": "config",
    "OutputSpec": "config",
    "ServingConfig": "config",
    "Context": "context",
    "evaluate": "engine",
    "BundleError": "errors",
    "ModelLoadError": "errors",
    "ModelUnreadable": "errors",
    "ReadinessError": "errors",
    "RegistryError": "errors",
    "SkipCheck": "errors",
    "ModelFacts": "onnx_model",
    "OnnxModel": "onnx_model",
    "CheckSpec": "registry",
    "Registry": "registry",
    "Result": "registry",
    "check": "registry",
    "current_check": "registry",
    "default_registry": "registry",
    "errored": "registry",
    "failed": "registry",
    "inconclusive": "registry",
    "passed": "registry",
    "skipped": "registry",
    "Predictions": "runtime",
    "CheckRecord": "scorecard",
    "Scorecard": "scorecard",
    "SEVERITIES": "vocabulary",
    "STATUSES": "vocabulary",
    "Severity": "vocabulary",
    "Status": "vocabulary",
    "jsonable": "vocabulary",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .bundle import Bundle, load_bundle
    from .config import InputSpec, OutputSpec, ServingConfig
    from .context import Context
    from .engine import evaluate
    from .errors import BundleError, ModelLoadError, ModelUnreadable, ReadinessError, RegistryError, SkipCheck
    from .onnx_model import ModelFacts, OnnxModel
    from .registry import (
        CheckSpec,
        Registry,
        Result,
        check,
        current_check,
        default_registry,
        errored,
        failed,
        inconclusive,
        passed,
        skipped,
    )
    from .runtime import Predictions
    from .scorecard import CheckRecord, Scorecard
    from .vocabulary import SEVERITIES, STATUSES, Severity, Status, jsonable


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'readiness' has no attribute {name!r}")
    # Not cached in globals(): the submodule stays the single source of truth, even when a
    # test harness (pytester) drops and re-imports submodules between in-process runs.
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "SEVERITIES",
    "STATUSES",
    "Bundle",
    "BundleError",
    "CheckRecord",
    "CheckSpec",
    "Context",
    "InputSpec",
    "ModelFacts",
    "ModelLoadError",
    "ModelUnreadable",
    "OnnxModel",
    "OutputSpec",
    "Predictions",
    "ReadinessError",
    "Registry",
    "RegistryError",
    "Result",
    "Scorecard",
    "ServingConfig",
    "Severity",
    "SkipCheck",
    "Status",
    "__version__",
    "check",
    "current_check",
    "default_registry",
    "errored",
    "evaluate",
    "failed",
    "inconclusive",
    "jsonable",
    "load_bundle",
    "passed",
    "skipped",
]
