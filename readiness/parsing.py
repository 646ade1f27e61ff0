"""Bounded reading and parsing of the text files a bundle holds (TOML, YAML, JSON, pbtxt, MLmodel).

Every byte of a bundle is hostile. Before anything is parsed, the file must be a
regular file no larger than `MAX_CONFIG_BYTES`; YAML is composed by a safe loader that
counts anchors and aliases and refuses documents whose aliases would expand past
`MAX_ALIAS_EXPANSION` nodes (a "billion laughs" file is a few hundred bytes); every
parsed document is walked (iteratively) to refuse nesting deeper than `MAX_DEPTH` and
numbers out of range (`inf`, `nan`, integers beyond 64 bits). Each refusal is a
`BundleError` (exit 2) with one line; nothing here raises `RecursionError`.

`quote` is the one helper that puts bundle content into an error message: at most
`MAX_QUOTE` characters, on one line.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path
from typing import Any

from .errors import BundleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_CONFIG_BYTES = 10 * 1024 * 1024  # 10 MiB
MAX_DEPTH = 100
MAX_YAML_ANCHORS = 100
MAX_YAML_ALIASES = 100
MAX_ALIAS_EXPANSION = 100_000  # nodes aliases may add to a document once expanded
MAX_QUOTE = 200
INT_RANGE = (-(2**63), 2**64 - 1)  # what a 64-bit field can hold (int64 .. uint64)

_LIMITS_FIX = "bundle config files are limited to 10 MiB, nesting depth 100 and a few YAML anchors"


def quote(value: Any, limit: int = MAX_QUOTE) -> str:
    """`repr`-like text of bundle content for an error message: one line, at most `limit` characters."""
    text = value if isinstance(value, str) else _short_repr(value, limit)
    text = text.encode("unicode_escape", errors="backslashreplace").decode("ascii", errors="replace")
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return f"'{text}'" if isinstance(value, str) else text


def _short_repr(value: Any, limit: int) -> str:
    """repr of VALUE without building the whole repr of a huge (or alias-expanded) structure."""
    if isinstance(value, (dict, list, tuple, set)):
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value[: limit + 1]))
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile object's repr may raise anything
        return f"<{type(value).__name__}>"
    return text


def clip(text: str, limit: int = MAX_QUOTE) -> str:
    """A message from a library that may embed bundle content, cut to `limit` characters on one line."""
    return quote(str(text), limit)[1:-1]


# --------------------------------------------------------------------------- reading
def read_bytes(path: Path, key: str | None = None, *, limit: int = MAX_CONFIG_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file no larger than `limit` (never more than limit + 1 bytes are read)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise BundleError(
            path, key, f"cannot read: {exc.strerror}", "check that the file exists and is readable"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise BundleError(path, key, f"the {what} is not a regular file", "point the key at a file")
    if info.st_size > limit:
        raise BundleError(path, key, f"the {what} is {info.st_size:,} bytes, over the limit of {limit:,}", _LIMITS_FIX)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise BundleError(path, key, f"cannot read: {exc.strerror}", "check the file's permissions") from None
    if len(data) > limit:
        raise BundleError(path, key, f"the {what} is over the limit of {limit:,} bytes", _LIMITS_FIX)
    return data


def read_text(path: Path, key: str | None = None, *, limit: int = MAX_CONFIG_BYTES) -> str:
    data = read_bytes(path, key, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(path, key, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8 text") from None


# --------------------------------------------------------------------------- structure limits
def check_structure(data: Any, path: Path, key: str | None = None, *, numbers: bool = True) -> Any:
    """Refuse nesting deeper than MAX_DEPTH and (with `numbers`) inf/nan or integers beyond 64 bits.

    Iterative, so a deep document cannot exhaust the interpreter's stack; shared
    sub-structures (YAML aliases) are visited once.
    """
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    seen: set[int] = set()
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise BundleError(
                    path, key, f"nesting is deeper than {MAX_DEPTH} levels (at {clip(where, 80) or 'top'})", _LIMITS_FIX
                )
            if id(value) in seen:
                continue
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                stack.append((v, depth + 1, f"{where}.{k}" if isinstance(value, dict) else f"{where}[{k}]"))
        elif numbers and isinstance(value, float) and not math.isfinite(value):
            raise BundleError(
                path,
                key,
                f"{clip(where.lstrip('.'), 80) or 'value'} = {value!r}: numbers must be finite",
                "write a finite number",
            )
        elif numbers and isinstance(value, int) and not isinstance(value, bool):
            if not INT_RANGE[0] <= value <= INT_RANGE[1]:
                raise BundleError(
                    path,
                    key,
                    f"{clip(where.lstrip('.'), 80) or 'value'}: integer out of range (more than 64 bits)",
                    "write a smaller number",
                )
    return data


# --------------------------------------------------------------------------- TOML / JSON
def load_toml(path: Path, key: str | None = None) -> dict[str, Any]:
    text = read_text(path, key)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BundleError(
            path, key, f"invalid TOML: {clip(exc)}", "fix the TOML syntax at the position shown"
        ) from None
    except RecursionError:
        raise BundleError(path, key, f"nesting is deeper than {MAX_DEPTH} levels", _LIMITS_FIX) from None
    return check_structure(data, path, key)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def loads_json(text: str, path: Path, key: str | None = None, *, numbers: bool = True) -> Any:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise BundleError(path, key, f"nesting is deeper than {MAX_DEPTH} levels", _LIMITS_FIX) from None
    except ValueError as exc:  # JSONDecodeError, a refused constant, an integer of too many digits
        raise BundleError(path, key, f"invalid JSON: {clip(exc)}", "write valid JSON") from None
    return check_structure(data, path, key, numbers=numbers)


def load_json(path: Path, key: str | None = None, *, numbers: bool = True) -> Any:
    return loads_json(read_text(path, key), path, key, numbers=numbers)


# --------------------------------------------------------------------------- YAML
class _YamlLimit(Exception):
    pass


def _bounded_loader() -> type:
    import yaml

    class BoundedSafeLoader(yaml.SafeLoader):
        """yaml.SafeLoader that counts anchors, aliases and depth while composing (PyYAML has no limits)."""

        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._depth = 0
            self._anchors = 0
            self._aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_YAML_ALIASES:
                    raise _YamlLimit(f"more than {MAX_YAML_ALIASES} aliases")
            elif getattr(self.peek_event(), "anchor", None) is not None:
                self._anchors += 1
                if self._anchors > MAX_YAML_ANCHORS:
                    raise _YamlLimit(f"more than {MAX_YAML_ANCHORS} anchors")
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise _YamlLimit(f"nesting is deeper than {MAX_DEPTH} levels")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return BoundedSafeLoader


_LOADER: type | None = None


def yaml_loader() -> type:
    """The bounded SafeLoader class (built once: importing yaml is deferred until YAML is read)."""
    global _LOADER
    if _LOADER is None:
        _LOADER = _bounded_loader()
    return _LOADER


def _expansion(root: Any) -> int:
    """Nodes the document has once every alias is expanded, minus the distinct nodes it holds;
    raises _YamlLimit on a recursive alias or when the expansion exceeds MAX_ALIAS_EXPANSION."""
    import yaml

    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        ident = id(node)
        if done:
            on_path.discard(ident)
            total = 1
            if isinstance(node, yaml.SequenceNode):
                total += sum(size[id(child)] for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                total += sum(size[id(k)] + size[id(v)] for k, v in node.value)
            size[ident] = total
            if total > MAX_ALIAS_EXPANSION + len(size):
                raise _YamlLimit(f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes")
            continue
        if ident in size:
            continue
        if ident in on_path:
            raise _YamlLimit("a recursive alias (a node that contains itself)")
        on_path.add(ident)
        stack.append((node, True))
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, False) for child in node.value if id(child) not in size)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((child, False) for child in (k, v) if id(child) not in size)
    return size.get(id(root), 0) - len(size)


def _yaml_error(path: Path, key: str | None, exc: Exception) -> BundleError:
    if isinstance(exc, _YamlLimit):
        return BundleError(path, key, f"YAML refused: {exc}", _LIMITS_FIX)
    if isinstance(exc, RecursionError):
        return BundleError(path, key, f"YAML refused: nesting is deeper than {MAX_DEPTH} levels", _LIMITS_FIX)
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return BundleError(path, key, f"invalid YAML: {where}{clip(problem)}", "fix the YAML syntax at the line shown")


def compose_yaml(text: str, path: Path, key: str | None = None) -> list[Any]:
    """The composed nodes of every document in TEXT (nodes carry line numbers), within the limits."""
    import yaml

    loader = None
    try:
        loader = yaml_loader()(text)  # the reader refuses non-printable characters here
        nodes = []
        while loader.check_node():
            node = loader.get_node()
            _expansion(node)
            nodes.append(node)
        return nodes
    except (yaml.YAMLError, _YamlLimit, RecursionError) as exc:
        raise _yaml_error(path, key, exc) from None
    finally:
        if loader is not None:
            loader.dispose()


def construct_yaml(node: Any, path: Path, key: str | None = None, *, numbers: bool = True) -> Any:
    """The Python value of a composed node (from `compose_yaml`), structure-checked."""
    import yaml

    if node is None:
        return None
    loader = yaml_loader()("")
    try:
        data = loader.construct_document(node)
    except (yaml.YAMLError, RecursionError) as exc:
        raise _yaml_error(path, key, exc) from None
    finally:
        loader.dispose()
    return check_structure(data, path, key, numbers=numbers)


def load_yaml_documents(path: Path, key: str | None = None, *, numbers: bool = True) -> list[Any]:
    text = read_text(path, key)
    return [construct_yaml(node, path, key, numbers=numbers) for node in compose_yaml(text, path, key)]


def loads_yaml(text: str, path: Path, key: str | None = None, *, numbers: bool = True) -> Any:
    """One YAML document from TEXT (None when empty), within the limits."""
    nodes = compose_yaml(text, path, key)
    if len(nodes) > 1:
        raise BundleError(path, key, "expected one YAML document, found several", "keep one document per file")
    return construct_yaml(nodes[0], path, key, numbers=numbers) if nodes else None


def load_yaml(path: Path, key: str | None = None, *, numbers: bool = True) -> Any:
    return loads_yaml(read_text(path, key), path, key, numbers=numbers)
