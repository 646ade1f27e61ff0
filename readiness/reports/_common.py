"""Helpers shared by the renderers: status words and icons, ordering, number formatting.

Everything here reads a Scorecard (and nothing else), so a saved JSON scorecard
renders exactly as the run that wrote it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterator
from typing import Any

from ..scorecard import CheckRecord, Scorecard
from ..vocabulary import BLOCKING_STATUSES, SEVERITIES
from ..vocabulary import mlts_band as band_of

STATUS_WORD = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "skip": "SKIP",
    "inconclusive": "INCONCLUSIVE",
    "waived": "WAIVED",
}
# Icons accompany the status word; colour is never the only carrier of meaning.
STATUS_ICON = {
    "pass": "\u2714",  # heavy check mark
    "fail": "\u2718",  # heavy ballot x
    "error": "\u26a0",  # warning sign
    "skip": "\u2013",  # en dash
    "inconclusive": "?",
    "waived": "\u2298",  # circled division slash
}
STATUS_ORDER = ("fail", "error", "inconclusive", "waived", "pass", "skip")
FAILING = BLOCKING_STATUSES
SEVERITY_ORDER = SEVERITIES
CATEGORY_ORDER = (
    "artifact",
    "security",
    "schema",
    "reproducibility",
    "robustness",
    "latency",
    "quality",
    "operational",
    "serving",
)
WAIVER_SOON_DAYS = 14


def normalized(scorecard: Scorecard) -> Scorecard:
    """The scorecard as its JSON reads back: what `readiness report` sees, so both render alike."""
    return Scorecard.from_dict(json.loads(scorecard.to_json()))


def verdict(scorecard: Scorecard) -> str:
    return "RELEASED" if scorecard.released else "BLOCKED"


def model_label(scorecard: Scorecard) -> str:
    model = scorecard.model
    name = str(model.get("name") or "model")
    return f"{name} {model['version']}" if model.get("version") else name


def short_sha(scorecard: Scorecard) -> str:
    return str(scorecard.model.get("sha256") or "")[:12]


def category_key(category: str) -> tuple[int, str]:
    try:
        return (CATEGORY_ORDER.index(category), category)
    except ValueError:
        return (len(CATEGORY_ORDER), category)


def by_category(checks: list[CheckRecord]) -> list[tuple[str, list[CheckRecord]]]:
    groups: dict[str, list[CheckRecord]] = {}
    for record in checks:
        groups.setdefault(record.category, []).append(record)
    return [(cat, groups[cat]) for cat in sorted(groups, key=category_key)]


def counts_line(scorecard: Scorecard) -> str:
    counts = scorecard.counts()
    return ", ".join(
        f"{counts[s]} {s}" for s in ("pass", "fail", "error", "inconclusive", "waived", "skip") if counts.get(s)
    )


def pct(value: Any) -> str:
    return f"{value:.0%}" if is_number(value) else "n/a"


def lowest_category(scorecard: Scorecard) -> str | None:
    """The category with the lowest score (`scores.lowest_category`, or worked out for older scorecards)."""
    categories = {k: v for k, v in (scorecard.scores.get("categories") or {}).items() if is_number(v)}
    name = scorecard.scores.get("lowest_category")
    if name in categories:
        return str(name)
    return min(categories, key=lambda cat: (categories[cat], cat)) if categories else None


def lowest_text(scorecard: Scorecard) -> str:
    """'lowest: operational 0%', or '' when there is no category or every one is at 100%."""
    low = lowest_category(scorecard)
    if low is None:
        return ""
    score = scorecard.scores["categories"][low]
    return "" if score >= 1 else f"lowest: {low} {pct(score)}"


def score_line(scorecard: Scorecard) -> str:
    """The overall readiness with the lowest category beside it, e.g. 'readiness 86% (lowest: operational 0%)'
    (alone when every category is at 100%)."""
    text = f"readiness {pct(scorecard.scores.get('overall'))}"
    low = lowest_text(scorecard)
    return f"{text} ({low})" if low else text


def consequences_of(scorecard: Scorecard) -> dict[str, str]:
    """check id -> the root cause it is folded under (the inverse of `gate.causes`)."""
    out: dict[str, str] = {}
    for root, ids in (scorecard.gate.get("causes") or {}).items():
        for sid in ids:
            out[str(sid)] = str(root)
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any) -> str:
    """A number as a person reads it: 4 significant digits, no scientific notation for everyday sizes."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if 1e-4 <= abs(value) < 1e7:
            text = f"{value:.4g}"
            return text if "e" not in text else f"{value:.6f}".rstrip("0").rstrip(".")
        return f"{value:.3e}"
    if value is None:
        return "\u2014"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value[:12]) + (", \u2026" if len(value) > 12 else "") + "]"
    return str(value)


def flatten(data: Any, prefix: str = "", depth: int = 4) -> Iterator[tuple[str, Any]]:
    """Leaf values of nested dicts as (dotted.path, value); lists stay whole."""
    if isinstance(data, dict) and depth > 0:
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                yield from flatten(value, path, depth - 1)
            else:
                yield path, value
    elif prefix:
        yield prefix, data


def mlts_band(mlts: dict[str, Any] | None) -> str | None:
    """The paper's interpretation of the ML Test Score (the scorecard's own band wins)."""
    if not mlts:
        return None
    if mlts.get("band"):
        return str(mlts["band"])
    value = mlts.get("score")
    if not is_number(value):
        return None
    return band_of(float(value))


def run_date(scorecard: Scorecard) -> _dt.date | None:
    text = scorecard.run.get("date")
    try:
        return _dt.date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def waiver_days_left(scorecard: Scorecard, waiver: dict[str, Any]) -> int | None:
    """Days from the run's date to the waiver's expiry (from the scorecard, never today's clock)."""
    if isinstance(waiver.get("days_left"), int):
        return waiver["days_left"]
    today = run_date(scorecard)
    try:
        expires = _dt.date.fromisoformat(str(waiver.get("expires")))
    except ValueError:
        return None
    return (expires - today).days if today else None


def waiver_for(scorecard: Scorecard, check_id: str) -> dict[str, Any] | None:
    for waiver in scorecard.waivers:
        if waiver.get("check") == check_id and waiver.get("state") == "applied":
            return waiver
    for waiver in scorecard.waivers:
        if waiver.get("check") == check_id:
            return waiver
    return None


def waiver_text(waiver: dict[str, Any] | None) -> str:
    if not waiver:
        return "waived"
    return f"waived by {waiver.get('owner', '?')} until {waiver.get('expires', '?')}: {waiver.get('reason', '')}"
