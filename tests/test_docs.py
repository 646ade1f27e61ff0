"""The project documents itself: docs/ builds strictly, the check reference is generated from the
checks' own metadata and is current, the public API type-checks, and nothing points outside the repo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import gen_checks  # noqa: E402


def test_the_check_reference_is_generated_from_the_checks_and_current():
    committed = gen_checks.PAGE.read_text(encoding="utf-8")
    assert committed == gen_checks.render(), "docs/reference/checks.md is out of date: run python docs/gen_checks.py"


def test_the_check_reference_holds_each_checks_metadata():
    from readiness.registry import default_registry

    page = gen_checks.render()
    for spec in default_registry():
        if not spec.origin.startswith("readiness."):
            continue
        assert f"### {spec.id}\n\n**{spec.title}**" in page
        assert spec.remediation in page
        for name in spec.thresholds:
            assert f"| `{name}` |" in page, (spec.id, name)
        first_line = spec.description.strip().splitlines()[0]
        assert first_line in page


@pytest.mark.xdist_group("docs")
def test_mkdocs_builds_strictly_offline(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "site" / "reference" / "checks" / "index.html").read_text(encoding="utf-8")
    assert "ART001" in page and "ACME001" not in page
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in html  # the site fetches nothing when read offline


@pytest.mark.xdist_group("docs")
def test_the_public_api_type_checks():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, "mypy (files in [tool.mypy] of pyproject.toml):\n" + proc.stdout + proc.stderr


def test_the_readme_is_short_and_its_doc_links_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links, "the README links into docs/"
    for link in links:
        assert (ROOT / link).is_file(), link


def _repository_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    return [ROOT / line for line in out.stdout.splitlines() if line]


def test_nothing_in_the_repository_refers_to_a_design_document_outside_it():
    needle = "DES" + "IGN.md"
    offenders = []
    for path in _repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if needle in text or "shared " + "folder" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _keys(model, prefix: str) -> set[str]:
    """Every key path of a pydantic model, e.g. "model.path", "checks.timeout_s"."""
    from pydantic import BaseModel

    from readiness.config import _inner_model

    keys = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        keys.add(f"{prefix}{key}")
        inner = _inner_model(field.annotation)
        if isinstance(inner, type) and issubclass(inner, BaseModel) and inner is not model:
            keys |= _keys(inner, f"{prefix}{key}.")
    return keys


def test_every_manifest_key_is_documented():
    from readiness.config import Attestation, Manifest

    page = (ROOT / "docs" / "reference" / "manifest.md").read_text(encoding="utf-8")
    attestation = {f"attestations.{k}" for k in _keys(Attestation, "")}
    missing = []
    for key in sorted(_keys(Manifest, "") - attestation):
        *section, name = key.split(".")
        if not section:
            documented = f"## `[{name}]`" in page or f"## `[[{name}]]`" in page
        else:
            documented = f"| `{name}` |" in page
        if not documented:
            missing.append(key)
    assert missing == [], "document these keys in docs/reference/manifest.md"


def test_every_serving_config_key_is_documented():
    from readiness.config import ServingConfig

    page = (ROOT / "docs" / "reference" / "serving-config.md").read_text(encoding="utf-8")
    missing = [key for key in sorted(_keys(ServingConfig, "")) if f"`{key.split('.')[-1]}`" not in page]
    missing = [key for key in missing if f"## `{key}`" not in page]
    assert missing == [], "document these keys in docs/reference/serving-config.md"
