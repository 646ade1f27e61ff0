"""The check registry: the @check decorator, entry points, ruff-style selection."""

from __future__ import annotations

import types
from importlib import metadata

import pytest

from readiness import Registry, RegistryError, check, passed
from readiness.registry import default_registry, select_checks


def _make(check_id: str, **kw):
    @check(
        check_id,
        f"title of {check_id}",
        category=kw.pop("category", "quality"),
        severity=kw.pop("severity", "major"),
        **kw,
    )
    def func(ctx):
        return passed("ok")

    return func


def test_malformed_ids_fail_loudly_at_registration():
    for bad in ["rpr001", "R1", "RPR01", "RPR0001", "RPR-001", ""]:
        with pytest.raises(RegistryError, match="malformed id"):
            _make(bad)


def test_bad_severity_category_and_requirement_are_rejected():
    with pytest.raises(RegistryError, match="severity"):
        _make("ACME001", severity="critical")
    with pytest.raises(RegistryError, match="category"):
        _make("ACME001", category="Not A Word")
    with pytest.raises(RegistryError, match="unknown requirement"):
        _make("ACME001", requires=["gpu"])


def test_duplicate_ids_fail_loudly_naming_both_origins():
    reg = Registry()
    reg.add_object(_make("ACME001"))
    with pytest.raises(RegistryError, match="duplicate check id 'ACME001'"):
        reg.add_object(_make("ACME001"))


def test_module_registration_collects_only_its_own_decorated_functions():
    module = types.ModuleType("acme_checks")
    first, second = _make("ACME001"), _make("ACME002")
    first.__module__ = second.__module__ = "acme_checks"
    module.first, module.second, module.helper = first, second, len
    reg = Registry()
    assert reg.add_object(module) == 2
    assert [s.id for s in reg] == ["ACME001", "ACME002"]


def test_builtin_checks_come_from_the_entry_point_group():
    groups = {ep.value for ep in metadata.entry_points(group="readiness.checks")}
    assert "readiness.checks.artifact" in groups
    reg = default_registry()
    origins = {spec.origin for spec in reg}
    assert all(origin.startswith("readiness.checks.") for origin in origins)


def test_select_and_ignore_are_ruff_style():
    reg = Registry()
    for cid in ["ART001", "ART002", "SEC001", "RPR001", "RPR004"]:
        reg.add_object(_make(cid))

    def ids(select, ignore=()):
        return [s.id for s in select_checks(reg, select, ignore)]

    assert ids(["ALL"]) == ["ART001", "ART002", "RPR001", "RPR004", "SEC001"]
    assert ids(["ART", "SEC"]) == ["ART001", "ART002", "SEC001"]
    assert ids(["ALL"], ["RPR"]) == ["ART001", "ART002", "SEC001"]
    # the more specific selector wins: select RPR004 inside an ignored prefix
    assert ids(["ALL", "RPR004"], ["RPR"]) == ["ART001", "ART002", "RPR004", "SEC001"]
    with pytest.raises(ValueError):
        ids(["XYZ"])
