"""The check registry: `@check`, results, and discovery through entry points.

Built-in checks and third-party checks register the same way: a package names a
module (or a function) under the entry point group `readiness.checks`; loading it
collects every function decorated with `@check`. Nothing here knows a check by name.
"""

from __future__ import annotations

import contextlib
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from .errors import RegistryError
from .vocabulary import SEVERITIES, STATUSES

if TYPE_CHECKING:
    from .context import Context

ENTRY_POINT_GROUP = "readiness.checks"
ID_PATTERN = re.compile(r"^[A-Z]{2,8}[0-9]{3}$")
CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
# What a `requires` name needs, and the manifest key that would provide it.
REQUIREMENTS: dict[str, str] = {
    "session": "a model that loads in onnxruntime (see ART001)",
    "serving": "[serving].config",
    "schema": "[data].schema",
    "reference": "[data].reference",
    "target": "[data].target",
    "source": "[model].source",
    "baseline": "[baseline].manifest",
    "slices": "[data].slices",
    "slo": "[slo] in the serving config",
}


@dataclass
class Result:
    """What a check found. `measured` holds numbers; `evidence` what a reader needs to reproduce it."""

    status: str
    message: str
    measured: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    # Ids of the checks whose failure would explain this one (an `error` that could not run because
    # of, e.g., SCH001), most likely first. The gate folds the result under the first of them that
    # did not pass, instead of listing it as a finding of its own.
    caused_by: list[str] = field(default_factory=list)
    # This finding's own severity when it is less grave than the check's (e.g. SCH001's minor output-shape
    # drift); the gate and the scores use the lower of the two. None: the check's severity.
    severity: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {', '.join(STATUSES)}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}; expected one of {', '.join(SEVERITIES)}")


def passed(
    message: str,
    measured: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Result:
    return Result("pass", message, dict(measured or {}), dict(evidence or {}))


def failed(
    message: str,
    measured: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Result:
    return Result("fail", message, dict(measured or {}), dict(evidence or {}))


def skipped(
    message: str,
    measured: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Result:
    return Result("skip", message, dict(measured or {}), dict(evidence or {}))


def inconclusive(
    message: str,
    measured: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> Result:
    return Result("inconclusive", message, dict(measured or {}), dict(evidence or {}))


def errored(
    message: str,
    measured: Mapping[str, Any] | None = None,
    evidence: Mapping[str, Any] | None = None,
    *,
    caused_by: Iterable[str] = (),
) -> Result:
    """The check could not run. `caused_by` names the checks whose failure explains it (e.g. ["SCH001"])."""
    return Result("error", message, dict(measured or {}), dict(evidence or {}), list(caused_by))


CheckFunc = Callable[["Context"], Result]

_CURRENT: ContextVar[CheckSpec | None] = ContextVar("readiness_current_check", default=None)


def current_check() -> CheckSpec | None:
    """The check running in this thread (the runner sets it), or None outside a check."""
    return _CURRENT.get()


@contextlib.contextmanager
def checking(spec: CheckSpec) -> Iterator[None]:
    """Mark `spec` as the running check for the duration of the block (`ctx.threshold` reads it)."""
    token = _CURRENT.set(spec)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@dataclass(frozen=True)
class CheckSpec:
    """A check's metadata and its function."""

    id: str
    title: str
    category: str
    severity: str
    func: CheckFunc
    requires: tuple[str, ...] = ()
    mlts: tuple[str, ...] = ()
    remediation: str = ""
    description: str = ""
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    exclusive: bool = False  # timing-sensitive: runs alone, after every other check
    origin: str = ""  # module the check came from


def check(
    id: str,
    title: str,
    *,
    category: str,
    severity: str,
    requires: Iterable[str] = (),
    mlts: Iterable[str] = (),
    remediation: str = "",
    thresholds: Mapping[str, Any] | None = None,
    exclusive: bool = False,
) -> Callable[[CheckFunc], CheckFunc]:
    """Mark a function `f(ctx) -> Result` as a readiness check.

    The function's docstring is its explanation (`readiness explain ID`): the first
    line is the one-line summary. `thresholds` declares the named numbers the check
    reads from `[policy.thresholds]`, with their defaults.
    """

    def decorate(func: CheckFunc) -> CheckFunc:
        spec = CheckSpec(
            id=id,
            title=title,
            category=category,
            severity=severity,
            func=func,
            requires=tuple(requires),
            mlts=tuple(mlts),
            remediation=remediation,
            description=func.__doc__ or "",
            thresholds=dict(thresholds or {}),
            exclusive=exclusive,
            origin=getattr(func, "__module__", ""),
        )
        _validate(spec)
        func.__readiness_check__ = spec  # type: ignore[attr-defined]
        return func

    return decorate


def _validate(spec: CheckSpec) -> None:
    where = f"check {spec.id!r} in {spec.origin or '?'}"
    if not isinstance(spec.id, str) or not ID_PATTERN.match(spec.id):
        raise RegistryError(f"{where}: malformed id; ids are 2-8 capital letters then 3 digits, e.g. 'ACME001'")
    if spec.severity not in SEVERITIES:
        raise RegistryError(f"{where}: severity {spec.severity!r} is not one of {', '.join(SEVERITIES)}")
    if not CATEGORY_PATTERN.match(spec.category or ""):
        raise RegistryError(f"{where}: category {spec.category!r} must be a lower-case word")
    if not spec.title:
        raise RegistryError(f"{where}: a title is required")
    unknown = [r for r in spec.requires if r not in REQUIREMENTS]
    if unknown:
        raise RegistryError(f"{where}: unknown requirement(s) {unknown}; known: {', '.join(REQUIREMENTS)}")


class Registry:
    """An ordered set of checks, keyed by id."""

    def __init__(self) -> None:
        self._checks: dict[str, CheckSpec] = {}

    def add(self, spec: CheckSpec) -> None:
        _validate(spec)
        existing = self._checks.get(spec.id)
        if existing is not None and existing.func is not spec.func:
            raise RegistryError(f"duplicate check id {spec.id!r}: defined in {existing.origin} and in {spec.origin}")
        for other in self._checks.values():
            if other.id != spec.id:
                _same_threshold_defaults(other, spec)
        self._checks[spec.id] = spec

    def add_object(self, obj: Any, origin: str = "") -> int:
        """Register a decorated function, a module of them, or an iterable of either."""
        count = 0
        if isinstance(obj, types.ModuleType):
            for value in vars(obj).values():
                spec = getattr(value, "__readiness_check__", None)
                if isinstance(spec, CheckSpec) and getattr(value, "__module__", None) == obj.__name__:
                    self.add(spec)
                    count += 1
        elif isinstance(getattr(obj, "__readiness_check__", None), CheckSpec):
            self.add(obj.__readiness_check__)
            count = 1
        elif isinstance(obj, CheckSpec):
            self.add(obj)
            count = 1
        elif isinstance(obj, (list, tuple)):
            count = sum(self.add_object(item, origin) for item in obj)
        else:
            raise RegistryError(f"entry point {origin or obj!r} is not a check, a module of checks, or a list of them")
        return count

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        seen: set[tuple[str, str]] = set()
        for ep in sorted(metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
            if (ep.name, ep.value) in seen:
                continue
            seen.add((ep.name, ep.value))
            try:
                obj = ep.load()
            except RegistryError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken plugin must be named, not crash
                raise RegistryError(
                    f"plugin {ep.name!r} ({ep.value}) in group {group!r} failed to load: {type(exc).__name__}: {exc}"
                ) from exc
            self.add_object(obj, origin=f"{ep.name} = {ep.value}")

    def __iter__(self):
        return iter(sorted(self._checks.values(), key=lambda s: s.id))

    def __len__(self) -> int:
        return len(self._checks)

    def __contains__(self, check_id: str) -> bool:
        return check_id in self._checks

    def get(self, check_id: str) -> CheckSpec:
        return self._checks[check_id]

    def thresholds(self) -> dict[str, Any]:
        """Every threshold name some check declares, with its default.

        A name two checks share (QLT001 and ROB005 both read `min_metric`) has one meaning,
        so it must be declared with the same default; `add` refuses a conflicting one."""
        out: dict[str, Any] = {}
        owner: dict[str, CheckSpec] = {}
        for spec in self:
            for name, default in spec.thresholds.items():
                if name in owner:
                    _same_threshold_defaults(owner[name], spec)
                    continue
                out[name], owner[name] = default, spec
        return out

    def declaring(self, name: str) -> list[str]:
        """Ids of the checks that declare threshold `name`."""
        return [spec.id for spec in self if name in spec.thresholds]

    def threshold_problems(self, configured: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """What is wrong with a manifest's `[policy.thresholds]`: (key, problem, fix) per problem.

        A key is either a threshold name some check declares, or a check id whose table
        sets thresholds for that check only (`[policy.thresholds.QLT001] min_metric = ...`)."""
        import difflib

        known = self.thresholds()
        problems: list[tuple[str, str, str]] = []
        for key, value in configured.items():
            if ID_PATTERN.match(key):
                if key not in self._checks:
                    problems.append((key, "no installed check has this id", "use an id from `readiness list-checks`"))
                    continue
                declared = self._checks[key].thresholds
                if not isinstance(value, Mapping):
                    problems.append((key, "a check's thresholds are a table", f"write [policy.thresholds.{key}]"))
                    continue
                for name in value:
                    if name not in declared:
                        listed = ", ".join(sorted(declared)) or "none"
                        problems.append((f"{key}.{name}", f"{key} declares no such threshold; it reads: {listed}", ""))
                continue
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                problems.append(
                    (
                        key,
                        f"unknown threshold; {hint}known: {', '.join(sorted(known))}",
                        "remove it or use a known name",
                    )
                )
        return problems


def _same_threshold_defaults(a: CheckSpec, b: CheckSpec) -> None:
    """Two checks sharing a threshold name must mean the same number: same default, or a clear error."""
    for name in set(a.thresholds) & set(b.thresholds):
        da, db = a.thresholds[name], b.thresholds[name]
        if da != db or type(da) is not type(db):
            first, second = sorted((a, b), key=lambda s: s.id)
            raise RegistryError(
                f"threshold {name!r} is declared by {first.id} ({first.origin or '?'}) with default "
                f"{first.thresholds[name]!r} and by {second.id} ({second.origin or '?'}) with default "
                f"{second.thresholds[name]!r}; a shared threshold must have one default, "
                "so declare it identically or give one check a name of its own"
            )


def default_registry() -> Registry:
    """A registry holding every check installed in this environment."""
    registry = Registry()
    registry.load_entry_points()
    return registry


def select_checks(registry: Registry, select: Iterable[str], ignore: Iterable[str]) -> list[CheckSpec]:
    """ruff-style selection: the most specific matching selector wins; on a tie, ignore wins."""
    select, ignore = list(select), list(ignore)
    for selector in select + ignore:
        if selector != "ALL" and not any(spec.id.startswith(selector) for spec in registry):
            raise ValueError(selector)
    chosen: list[CheckSpec] = []
    for spec in registry:
        s, i = _best_match(spec.id, select), _best_match(spec.id, ignore)
        if s >= 0 and s > i:
            chosen.append(spec)
    return chosen


def _best_match(check_id: str, selectors: list[str]) -> int:
    """Length of the most specific selector matching `check_id` (ALL counts 0), or -1."""
    lengths = [0 if s == "ALL" else len(s) for s in selectors if s == "ALL" or check_id.startswith(s)]
    return max(lengths) if lengths else -1
