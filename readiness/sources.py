"""What kind of source model (`[model].source`) a bundle holds, and whether it is safe to load.

Classification is static: nothing here deserialises a model. Loading lives with
the checks that need it and must call `assert_loadable` first.
"""

from __future__ import annotations

from pathlib import Path

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
# Modules whose types a .skops file may instantiate without --trust.
SKOPS_TRUSTED_MODULES = ("sklearn", "numpy", "scipy", "xgboost", "lightgbm", "builtins", "collections")


def source_kind(path: Path) -> str:
    """One of: skops, xgboost, lightgbm, pickle, onnx, unknown."""
    suffix = path.suffix.lower()
    name = path.name.lower()
    if suffix == ".skops":
        return "skops"
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if suffix == ".ubj" or (suffix == ".json" and "lgb" not in name):
        return "xgboost"
    if suffix == ".txt":
        return "lightgbm"
    if suffix == ".onnx":
        return "onnx"
    return "unknown"


def _trusted_type(type_name: str) -> bool:
    root = type_name.split(".", 1)[0]
    return root in SKOPS_TRUSTED_MODULES


def skops_untrusted_types(path: Path) -> tuple[list[str], list[str]]:
    """(allowed, refused) type names a .skops file needs beyond skops' own defaults."""
    import skops.io as sio

    needed = sio.get_untrusted_types(file=path)
    allowed = [t for t in needed if _trusted_type(t)]
    refused = [t for t in needed if not _trusted_type(t)]
    return allowed, refused


class UnsafeSource(Exception):
    """Loading the source would execute code the user has not trusted."""


def assert_loadable(path: Path, trust: bool) -> None:
    """Raise UnsafeSource unless `path` can be loaded without running untrusted code."""
    kind = source_kind(path)
    if trust:
        return
    if kind == "pickle":
        raise UnsafeSource(
            f"{path.name} is a pickle; loading it can run arbitrary code. Pass --trust only if you trust its author, or save it with skops"
        )
    if kind == "skops":
        _, refused = skops_untrusted_types(path)
        if refused:
            raise UnsafeSource(
                f"{path.name} needs type(s) outside the trusted modules ({', '.join(SKOPS_TRUSTED_MODULES)}): {', '.join(refused)}; pass --trust to allow them"
            )
