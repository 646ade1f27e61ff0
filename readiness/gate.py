"""The release gate (policy + waivers) and the readiness scores (docs/reference/scorecard.md)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import Waiver
from .runner import CheckRun
from .vocabulary import BLOCKING_STATUSES, SEVERITY_RANK, SEVERITY_WEIGHTS

WEIGHTS = SEVERITY_WEIGHTS
WAIVABLE_STATUSES = BLOCKING_STATUSES


@dataclass
class GateDecision:
    released: bool
    fail_on: str
    blocking: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def apply_waivers(runs: Sequence[CheckRun], waivers: Sequence[Waiver], today: _dt.date) -> list[dict[str, Any]]:
    """Mark failing checks covered by an unexpired waiver as `waived`; report every waiver's use."""
    by_id = {r.spec.id: r for r in runs}
    report: list[dict[str, Any]] = []
    for w in waivers:
        entry: dict[str, Any] = {
            "check": w.check,
            "reason": w.reason,
            "owner": w.owner,
            "expires": w.expires.isoformat(),
            "days_left": (w.expires - today).days,
        }
        run = by_id.get(w.check)
        if w.expires < today:
            entry["state"] = "expired"
        elif run is None:
            entry["state"] = "unused"
            entry["note"] = "the check was not selected in this run"
        elif run.result.status in WAIVABLE_STATUSES:
            entry["state"] = "applied"
            entry["waived_status"] = run.result.status
            run.result.evidence.setdefault("waived_status", run.result.status)
            run.result.status = "waived"
            run.waiver = entry
        else:
            entry["state"] = "unused"
            entry["note"] = f"the check's status is {run.result.status}; the waiver can be removed"
        report.append(entry)
    return report


def decide(
    runs: Sequence[CheckRun],
    *,
    fail_on: str,
    require: Sequence[str],
    waivers: Sequence[dict[str, Any]],
) -> GateDecision:
    decision = GateDecision(released=True, fail_on=fail_on)
    threshold = SEVERITY_RANK[fail_on]
    # Root causes first, in `blocking` and `reasons` alike: failures, then inconclusive, then
    # checks that could not run (often a consequence of a failure), each by severity.
    ranked: list[tuple[int, int, str, str]] = []
    for run in runs:
        sid, status = run.spec.id, run.result.status
        if status in BLOCKING_STATUSES and SEVERITY_RANK[run.severity] >= threshold:
            word = {"fail": "failed", "error": "could not run", "inconclusive": "was inconclusive"}[status]
            order = {"fail": 0, "inconclusive": 1, "error": 2}[status]
            reason = f"{sid} ({run.severity}) {word}: {run.result.message}"
            ranked.append((order, -SEVERITY_RANK[run.severity], sid, reason))
        elif status == "skip" and any(sid == r or sid.startswith(r) for r in require):
            reason = f"{sid} is required by [policy].require but was skipped: {run.result.message}"
            ranked.append((3, 0, sid, reason))
    for *_, sid, reason in sorted(ranked, key=lambda r: r[:3]):
        decision.blocking.append(sid)
        decision.reasons.append(reason)
    for w in waivers:
        if w["state"] == "expired":
            if w["check"] not in decision.blocking:
                decision.blocking.append(w["check"])
            decision.reasons.append(
                f"the waiver for {w['check']} (owner {w['owner']}) expired on {w['expires']}: renew it with a new date or fix the check"
            )
    decision.released = not decision.blocking
    return decision


def scores(runs: Sequence[CheckRun]) -> dict[str, Any]:
    """Category score = passed weight / evaluated weight; overall = the minimum category."""
    passed: dict[str, float] = {}
    evaluated: dict[str, float] = {}
    for run in runs:
        status = run.result.status
        if status == "skip":
            continue
        weight = WEIGHTS[run.severity]
        cat = run.spec.category
        evaluated[cat] = evaluated.get(cat, 0.0) + weight
        passed[cat] = passed.get(cat, 0.0) + (weight if status == "pass" else 0.0)
    categories = {cat: round(passed[cat] / evaluated[cat], 4) for cat in sorted(evaluated) if evaluated[cat] > 0}
    overall = min(categories.values()) if categories else None
    return {"overall": overall, "categories": categories}
