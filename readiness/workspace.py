"""The workspace root, and the one rule that confines every path a bundle names to it.

The root is `--root DIR` when given, else the nearest enclosing git work tree of the
bundle (a directory holding a `.git` directory or file; git itself is never run), else
the bundle's own directory. A path the bundle names (a manifest key, a file an MLflow,
Triton or KServe config points at, the model) must resolve, after following symlinks,
inside the root; otherwise loading stops with a `BundleError` (exit 2) naming the key
and the root, and the file is never opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BundleError
from .parsing import quote

ROOT_FIX = "keep every file the bundle names inside the workspace root, or pass --root DIR to widen it"


def find_root(start: str | os.PathLike[str], explicit: str | os.PathLike[str] | None = None) -> Path:
    """The workspace root for a bundle at START (a directory or a file in it)."""
    if explicit is not None:
        root = Path(explicit)
        if not root.is_dir():
            raise BundleError(root, "--root", "is not a directory", "pass an existing directory as --root")
        return root.resolve()
    here = Path(start).absolute()
    if not here.is_dir():
        here = here.parent
    here = Path(os.path.normpath(here))
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate.resolve()
    return here.resolve()


def inside(path: Path, root: Path) -> bool:
    """True when PATH, with every symlink followed, lies inside ROOT (an already-resolved directory)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a path too long
        return False
    return resolved == root or root in resolved.parents


def confine(
    value: str | os.PathLike[str],
    *,
    base: Path,
    root: Path,
    file: str | os.PathLike[str] | None,
    key: str,
    what: str = "workspace root",
) -> Path:
    """The path VALUE (relative to BASE, or absolute) once checked to resolve inside ROOT.

    Nothing is opened: only the path's components are resolved. Raises BundleError
    naming FILE, KEY and ROOT when the path escapes.
    """
    raw = os.fspath(value)
    if "\x00" in raw:
        raise BundleError(file, key, f"{quote(raw)} holds a NUL character", "write a plain file path")
    path = Path(raw)
    path = path if path.is_absolute() else base / path
    if not inside(path, root):
        raise BundleError(
            file,
            key,
            f"{quote(raw)} resolves outside the {what} {root}; it was not opened",
            ROOT_FIX if what == "workspace root" else f"keep the file inside {root}",
        )
    return path


def require_file(path: Path, raw: str, file: str | os.PathLike[str] | None, key: str) -> Path:
    """PATH must be an existing, readable regular file (checked only after `confine`)."""
    if not path.exists():
        raise BundleError(
            file,
            key,
            f"file {quote(raw)} does not exist (looked for {path})",
            "fix the path; relative paths resolve against the manifest's directory",
        )
    if not path.is_file():
        raise BundleError(file, key, f"{quote(raw)} is not a file", "point the key at a file")
    if not os.access(path, os.R_OK):
        raise BundleError(file, key, f"{quote(raw)} is not readable", "check the file's permissions")
    return path
