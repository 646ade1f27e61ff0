"""Compare two scorecards: newly failing, fixed and changed checks, score and metric/latency deltas.

`readiness diff OLD.json NEW.json` prints this and exits 1 when something newly fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..scorecard import CheckRecord, Scorecard
from ..text import clean
from ._common import FAILING, STATUS_WORD, flatten, fmt, is_number, model_label, pct, verdict
from .markdown import cell


@dataclass
class StatusChange:
    id: str
    title: str
    old: str | None  # None: the check did not run in the old scorecard
    new: str | None  # None: the check did not run in the new scorecard
    message: str = ""


@dataclass
class Delta:
    id: str
    key: str
    old: float
    new: float

    @property
    def change(self) -> float:
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        return self.change / abs(self.old) if self.old else None


@dataclass
class Diff:
    old: Scorecard
    new: Scorecard
    newly_failing: list[StatusChange] = field(default_factory=list)
    fixed: list[StatusChange] = field(default_factory=list)
    changed: list[StatusChange] = field(default_factory=list)
    scores: list[tuple[str, Any, Any]] = field(default_factory=list)
    metrics: list[Delta] = field(default_factory=list)
    latency: list[Delta] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.newly_failing)


def compare(old: Scorecard, new: Scorecard) -> Diff:
    """What changed from `old` to `new`, check by check (matched by id)."""
    diff = Diff(old, new)
    before = {c.id: c for c in old.checks}
    after = {c.id: c for c in new.checks}
    for cid in [*after, *(i for i in before if i not in after)]:
        a, b = before.get(cid), after.get(cid)
        was, now = (a.status if a else None), (b.status if b else None)
        if was == now:
            continue
        rec = b or a
        assert rec is not None
        change = StatusChange(cid, rec.title, was, now, (b.message if b else "not run in the new scorecard"))
        if now in FAILING and was not in FAILING:
            diff.newly_failing.append(change)
        elif was in FAILING and now == "pass":
            diff.fixed.append(change)
        else:
            diff.changed.append(change)
    for cid, b in after.items():
        a = before.get(cid)
        if a is not None:
            for delta in _deltas(a, b):
                (diff.latency if b.category == "latency" else diff.metrics).append(delta)
    old_cats = old.scores.get("categories") or {}
    new_cats = new.scores.get("categories") or {}
    if old.scores.get("overall") != new.scores.get("overall"):
        diff.scores.append(("overall", old.scores.get("overall"), new.scores.get("overall")))
    for cat in [*new_cats, *(c for c in old_cats if c not in new_cats)]:
        if old_cats.get(cat) != new_cats.get(cat):
            diff.scores.append((cat, old_cats.get(cat), new_cats.get(cat)))
    old_mlts = (old.scores.get("mlts") or {}).get("score")
    new_mlts = (new.scores.get("mlts") or {}).get("score")
    if old_mlts != new_mlts:
        diff.scores.append(("ML Test Score", old_mlts, new_mlts))
    return diff


def _deltas(a: CheckRecord, b: CheckRecord) -> list[Delta]:
    old = {k: v for k, v in flatten(a.measured) if is_number(v)}
    out = []
    for key, value in flatten(b.measured):
        if key in old and is_number(value) and value != old[key] and not key.endswith("samples"):
            out.append(Delta(b.id, key, float(old[key]), float(value)))
    return out


def _status(word: str | None) -> str:
    return "not run" if word is None else STATUS_WORD.get(word, word)


def _score(value: Any, name: str) -> str:
    return fmt(value) if name == "ML Test Score" else pct(value)


def _delta_text(d: Delta) -> str:
    sign = "+" if d.change >= 0 else "-"
    rel = f", {d.relative:+.1%}" if d.relative is not None else ""
    return f"{fmt(d.old)} -> {fmt(d.new)} ({sign}{fmt(abs(d.change))}{rel})"


def _headline(diff: Diff) -> str:
    old, new = diff.old, diff.new
    return (
        f"{model_label(old)} ({verdict(old)}) -> {model_label(new)} ({verdict(new)}): "
        f"{len(diff.newly_failing)} newly failing, {len(diff.fixed)} fixed, {len(diff.changed)} changed"
    )


def render_text(diff: Diff) -> str:
    lines = [clean(_headline(diff))]
    for title, changes in (("newly failing", diff.newly_failing), ("fixed", diff.fixed), ("changed", diff.changed)):
        if changes:
            lines.append(f"{title} ({len(changes)}):")
            lines += [
                f"  {clean(c.id)} {_status(c.old)} -> {_status(c.new)}: {clean(c.title)}: {clean(c.message)}"
                for c in changes
            ]
    if diff.scores:
        lines.append("scores:")
        lines += [f"  {name}: {_score(a, name)} -> {_score(b, name)}" for name, a, b in diff.scores]
    for title, deltas in (("metrics", diff.metrics), ("latency", diff.latency)):
        if deltas:
            lines.append(f"{title}:")
            lines += [f"  {clean(d.id)} {clean(d.key)}: {_delta_text(d)}" for d in deltas]
    if len(lines) == 1:
        lines.append("no change in any check's status, score or measurement")
    return "\n".join(lines) + "\n"


def render_markdown(diff: Diff) -> str:
    mark = "❌" if diff.regressed else "✅"
    lines = [f"## {mark} readiness diff", "", cell(_headline(diff), 400), ""]
    changes = [("newly failing", c) for c in diff.newly_failing]
    changes += [("fixed", c) for c in diff.fixed] + [("changed", c) for c in diff.changed]
    if changes:
        lines += ["| check | change | was | now | message |", "|---|---|---|---|---|"]
        lines += [
            f"| **{cell(c.id)}** {cell(c.title, 60)} | {kind} | {_status(c.old)} | {_status(c.new)} | {cell(c.message)} |"
            for kind, c in changes
        ]
        lines.append("")
    if diff.scores:
        lines += ["| score | was | now |", "|---|---:|---:|"]
        lines += [f"| {cell(n)} | {_score(a, n)} | {_score(b, n)} |" for n, a, b in diff.scores]
        lines.append("")
    deltas = diff.metrics + diff.latency
    if deltas:
        lines += ["| check | measurement | change |", "|---|---|---|"]
        lines += [f"| {cell(d.id)} | {cell(d.key)} | {cell(_delta_text(d))} |" for d in deltas[:40]]
        if len(deltas) > 40:
            lines.append(f"| … | {len(deltas) - 40} more | |")
        lines.append("")
    return "\n".join(lines)
