"""readiness: decide whether a trained ML model is ready for production.

Public API::

    from readiness import check, passed, failed, skipped, inconclusive, Context, Result
    scorecard = readiness.plan("path/to/bundle", seed=0).run()

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
    "Context": "context",
    "evaluate": "engine",
    "plan": "engine",
    "Plan": "engine",
    "Timeouts": "cancel",
    "Outcome": "errors",
    "BundleError": "errors",
    "ModelLoadError": "errors",
    "ReadinessError": "errors",
    "RegistryError": "errors",
    "SkipCheck": "errors",
    "CheckSpec": "registry",
    "Registry": "registry",
    "Result": "registry",
    "check": "registry",
    "errored": "registry",
    "failed": "registry",
    "inconclusive": "registry",
    "passed": "registry",
    "skipped": "registry",
    "CheckRecord": "scorecard",
    "Scorecard": "scorecard",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .bundle import Bundle, load_bundle
    from .cancel import Timeouts
    from .context import Context
    from .engine import Plan, evaluate, plan
    from .errors import BundleError, ModelLoadError, Outcome, ReadinessError, RegistryError, SkipCheck
    from .registry import CheckSpec, Registry, Result, check, errored, failed, inconclusive, passed, skipped
    from .scorecard import CheckRecord, Scorecard


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
    "Bundle",
    "BundleError",
    "CheckRecord",
    "CheckSpec",
    "Context",
    "ModelLoadError",
    "Outcome",
    "Plan",
    "ReadinessError",
    "Registry",
    "RegistryError",
    "Result",
    "Scorecard",
    "SkipCheck",
    "Timeouts",
    "__version__",
    "check",
    "errored",
    "evaluate",
    "failed",
    "inconclusive",
    "load_bundle",
    "passed",
    "plan",
    "skipped",
]
