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
    # root cause -> the checks that could not run because of it (folded under it, not blocking on their own)
    causes: dict[str, list[str]] = field(default_factory=dict)


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


def root_causes(runs: Sequence[CheckRun]) -> dict[str, str]:
    """check id -> the check that explains why it could not run, for every `error` result naming one.

    A result's `caused_by` lists candidate causes, most likely first; the cause is the first of them
    that did not pass in this run (failed, errored or was inconclusive; a waived or passing candidate
    explains nothing), followed to its own cause when it names one. Results whose candidates all
    passed, or were not run, have no cause here: they stand as findings of their own.
    """
    by_id = {run.spec.id: run for run in runs}

    def cause_of(sid: str) -> str | None:
        for candidate in by_id[sid].result.caused_by:
            other = by_id.get(candidate)
            if candidate != sid and other is not None and other.result.status in BLOCKING_STATUSES:
                return candidate
        return None

    out: dict[str, str] = {}
    for run in runs:
        if run.result.status != "error":
            continue
        sid, seen = run.spec.id, {run.spec.id}
        root = cause_of(sid)
        while root is not None and root not in seen:
            seen.add(root)
            nxt = cause_of(root) if by_id[root].result.status == "error" else None
            if nxt is None or nxt in seen:
                break
            root = nxt
        if root is not None and root != sid:
            out[sid] = root
    return out


def _names(ids: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def decide(
    runs: Sequence[CheckRun],
    *,
    fail_on: str,
    require: Sequence[str],
    waivers: Sequence[dict[str, Any]],
) -> GateDecision:
    """Released or blocked, and why: blocking checks root-cause first, consequences folded under their cause.

    A check that could not run because another check did not pass (its result's `caused_by`) is
    listed under that check in `causes` and in its reason, not as a blocking finding of its own; it
    still counts as not passed in the scores. When the cause itself does not block (its severity is
    below `fail_on`, or it is waived), a consequence that would block stands as its own finding.
    """
    decision = GateDecision(released=True, fail_on=fail_on)
    threshold = SEVERITY_RANK[fail_on]
    blocks: dict[str, tuple[int, int, str]] = {}  # id -> (order, -severity rank, reason)
    for run in runs:
        sid, status = run.spec.id, run.result.status
        if status in BLOCKING_STATUSES and SEVERITY_RANK[run.severity] >= threshold:
            word = {"fail": "failed", "error": "could not run", "inconclusive": "was inconclusive"}[status]
            order = {"fail": 0, "inconclusive": 1, "error": 2}[status]
            blocks[sid] = (order, -SEVERITY_RANK[run.severity], f"{sid} ({run.severity}) {word}: {run.result.message}")
        elif status == "skip" and any(sid == r or sid.startswith(r) for r in require):
            reason = f"{sid} is required by [policy].require but was skipped: {run.result.message}"
            blocks[sid] = (3, 0, reason)
    roots = root_causes(runs)
    for sid, root in sorted(roots.items()):
        decision.causes.setdefault(root, []).append(sid)
    folded = {sid for sid, root in roots.items() if root in blocks and sid in blocks}
    for sid in folded:
        del blocks[sid]
    # Root causes first, in `blocking` and `reasons` alike: failures, then inconclusive, then
    # checks that could not run for a reason of their own, each by severity.
    for sid, (_order, _rank, reason) in sorted(blocks.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0])):
        consequences = decision.causes.get(sid, [])
        if consequences:
            reason += f"; because of it {len(consequences)} other check(s) could not run: {_names(consequences)}"
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
    """Readiness scores: passed weight / evaluated weight (skipped checks are not evaluated).

    `overall` is taken over all checks at once; each category's score over its own checks; and
    `lowest_category` names the category with the lowest score (the first by name on a tie), which
    the reports show beside the overall figure.
    """
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
    total = sum(evaluated.values())
    overall = round(sum(passed.values()) / total, 4) if total > 0 else None
    lowest = min(categories, key=lambda cat: (categories[cat], cat)) if categories else None
    return {"overall": overall, "categories": categories, "lowest_category": lowest}
