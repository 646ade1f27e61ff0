"""The ML Test Score (Breck, Cai, Nielsen, Salib and Sculley, IEEE Big Data 2017).

The rubric has 28 tests in four sections of seven: Data, Model, Infrastructure
and Monitoring. This module is the single source of truth for the test ids that
checks name in `@check(mlts=[...])` (e.g. ``"Data 1"``, ``"Model 5"``,
``"Infra 7"``, ``"Monitor 2"``), for the titles, and for the scoring:

- a test scores 1 when at least one automated check covering it ran in this run
  and every covering check that ran passed;
- 0.5 when the manifest's `[attestations]` records a manual test of it (a link or
  a note, and a date), and no covering check failed in this run;
- 0 otherwise (a covering check failed, or nothing covered it).

Section score = the sum over its seven tests; the final score = the minimum over
the four sections, read against the paper's interpretation bands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .vocabulary import MLTS_BANDS, mlts_band

SECTIONS: tuple[str, ...] = ("Data", "Model", "Infra", "Monitor")
SECTION_TITLES: dict[str, str] = {
    "Data": "Tests for features and data",
    "Model": "Tests for model development",
    "Infra": "Tests for ML infrastructure",
    "Monitor": "Monitoring tests for ML",
}


@dataclass(frozen=True)
class MLTest:
    id: str  # "Data 1"
    section: str  # "Data"
    number: int  # 1..7
    title: str


_TITLES: dict[str, tuple[str, ...]] = {
    "Data": (
        "Feature expectations are captured in a schema",
        "All features are beneficial",
        "No feature's cost is too much",
        "Features adhere to meta-level requirements",
        "The data pipeline has appropriate privacy controls",
        "New features can be added quickly",
        "All input feature code is tested",
    ),
    "Model": (
        "Model specs are reviewed and submitted",
        "Offline and online metrics correlate",
        "All hyperparameters have been tuned",
        "The impact of model staleness is known",
        "A simpler model is not better",
        "Model quality is sufficient on important data slices",
        "The model is tested for considerations of inclusion",
    ),
    "Infra": (
        "Training is reproducible",
        "Model specs are unit tested",
        "The ML pipeline is integration tested",
        "Model quality is validated before serving",
        "The model is debuggable",
        "Models are canaried before serving",
        "Serving models can be rolled back",
    ),
    "Monitor": (
        "Dependency changes result in notification",
        "Data invariants hold for inputs",
        "Training and serving are not skewed",
        "Models are not too stale",
        "Models are numerically stable",
        "Computing performance has not regressed",
        "Prediction quality has not regressed",
    ),
}

TESTS: tuple[MLTest, ...] = tuple(
    MLTest(f"{section} {i}", section, i, title)
    for section in SECTIONS
    for i, title in enumerate(_TITLES[section], start=1)
)
TEST_IDS: frozenset[str] = frozenset(t.id for t in TESTS)
BY_ID: dict[str, MLTest] = {t.id: t for t in TESTS}

BANDS = MLTS_BANDS  # the paper's interpretation of the final score (readiness.vocabulary)

_ALIASES = {
    "data": "Data",
    "features": "Data",
    "model": "Model",
    "infra": "Infra",
    "infrastructure": "Infra",
    "monitor": "Monitor",
    "monitoring": "Monitor",
}
_TAG = re.compile(r"^\s*([A-Za-z]+)\s*[- ]?\s*([1-7])\s*$")


def normalize(tag: str) -> str | None:
    """The canonical id ("Infra 1") of a tag such as "infra 1", "Infrastructure 1", "Monitoring 7",
    or of a test's exact title (case-insensitive); None when it names no test."""
    if not isinstance(tag, str):
        return None
    m = _TAG.match(tag)
    if m:
        section = _ALIASES.get(m.group(1).lower())
        return f"{section} {m.group(2)}" if section else None
    folded = tag.strip().rstrip(".").casefold()
    for test in TESTS:
        if test.title.casefold() == folded:
            return test.id
    return None


def unknown_tags(tags: Iterable[str]) -> list[str]:
    """The tags that name no ML Test Score test (validate `@check(mlts=...)` against this)."""
    return [t for t in tags if normalize(t) is None]


def band(final: float) -> str:
    """The paper's interpretation of a final ML Test Score."""
    return mlts_band(final)


def _get(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name)


def _attestation(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        data = dict(value)
    elif hasattr(value, "model_dump"):
        data = value.model_dump(exclude_none=True)
    else:
        data = {"note": str(value)}
    if "date" in data and hasattr(data["date"], "isoformat"):
        data["date"] = data["date"].isoformat()
    return {k: v for k, v in data.items() if v is not None}


def score(records: Sequence[Any], attestations: Mapping[str, Any]) -> dict[str, Any]:
    """The ML Test Score of a run: per-test detail, section sums, the final score and its band.

    `records` are check results (scorecard CheckRecords or dicts with id, status, mlts);
    `attestations` maps a test id or title to its manual evidence.
    """
    covering: dict[str, list[tuple[str, str]]] = {t.id: [] for t in TESTS}
    unknown: dict[str, list[str]] = {}
    for record in records:
        for tag in _get(record, "mlts") or ():
            tid = normalize(tag)
            if tid is None:
                unknown.setdefault(_get(record, "id"), []).append(tag)
            else:
                covering[tid].append((_get(record, "id"), _get(record, "status")))
    attested: dict[str, dict[str, Any]] = {}
    for key, value in (attestations or {}).items():
        tid = normalize(key)
        if tid is not None:
            attested[tid] = _attestation(value)

    tests: list[dict[str, Any]] = []
    sections: dict[str, float] = {s: 0.0 for s in SECTIONS}
    for test in TESTS:
        checks = covering[test.id]
        ran = [(cid, st) for cid, st in checks if st != "skip"]
        bad = [cid for cid, st in ran if st != "pass"]
        entry: dict[str, Any] = {
            "id": test.id,
            "section": test.section,
            "title": test.title,
            "covered_by": [cid for cid, _ in checks] or "not covered",
        }
        if ran and not bad:
            points, state = 1.0, "automated"
        elif bad:
            points, state = 0.0, "failed"
            entry["failing"] = bad
        elif test.id in attested:
            points, state = 0.5, "attested"
        else:
            points, state = 0.0, "not run" if checks else "not covered"
        if test.id in attested:
            entry["attestation"] = attested[test.id]
        entry["points"] = points
        entry["state"] = state
        entry["checks"] = {cid: st for cid, st in checks}
        sections[test.section] += points
        tests.append(entry)
    final = min(sections.values())
    automated = sorted({t.id for t in TESTS if covering[t.id]}, key=lambda i: (SECTIONS.index(BY_ID[i].section), i))
    out: dict[str, Any] = {
        "sections": sections,
        "score": final,
        "band": band(final),
        "tests": tests,
        "covered": len(automated),
        "total": len(TESTS),
        "note": (
            f"{len(automated)} of the {len(TESTS)} ML Test Score tests are covered by automated checks in this run's "
            "selection; the others can count 0.5 through [attestations]."
        ),
    }
    if unknown:
        out["unknown_tags"] = unknown
    return out


def describe(tag: str) -> str:
    """A tag with its test's title, e.g. "Infra 7 (Serving models can be rolled back)"."""
    tid = normalize(tag)
    return f"{tid} ({BY_ID[tid].title})" if tid else f"{tag} (names no ML Test Score test)"
