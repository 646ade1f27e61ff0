"""The Markdown summary for a pull-request comment or `$GITHUB_STEP_SUMMARY`.

The verdict, the scores, and a table of the failing and waived checks; short
enough (under 60 lines for a typical run) to read in a comment.
"""

from __future__ import annotations

import re

from ..scorecard import Scorecard
from ._common import (
    FAILING,
    SEVERITY_ORDER,
    STATUS_WORD,
    WAIVER_SOON_DAYS,
    by_category,
    consequences_of,
    counts_line,
    fmt,
    is_number,
    mlts_band,
    model_label,
    normalized,
    pct,
    score_line,
    short_sha,
    verdict,
    waiver_days_left,
    waiver_for,
)

MAX_ROWS = 25
MAX_REASONS = 5
MAX_CELL = 160
MARK = {"pass": "✅", "fail": "❌", "error": "⚠️", "inconclusive": "❔", "waived": "⏸️", "skip": "⏭️"}


def cell(text: object, limit: int = MAX_CELL) -> str:
    """Text safe inside a Markdown table cell: one line, no pipes or HTML, bounded length."""
    value = re.sub(r"\s+", " ", str(text)).strip()
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("|", "\\|")


def render(scorecard: Scorecard) -> str:
    card = normalized(scorecard)
    word = verdict(card)
    lines = [
        f"## {'✅' if card.released else '❌'} {word}: {cell(model_label(card))}",
        "",
        f"**{score_line(card).capitalize()}** · {card.gate.get('fail_on', 'major')} "
        f"and above block · {counts_line(card) or 'no checks ran'} · model `{short_sha(card)}`",
        "",
    ]
    mlts = card.scores.get("mlts") or {}
    if is_number(mlts.get("score")):
        band = mlts_band(mlts)
        lines += [f"**ML Test Score {fmt(mlts['score'])}**" + (f": {cell(band)}" if band else ""), ""]
    categories = card.scores.get("categories") or {}
    if categories:
        names = [name for name, _ in by_category(card.checks) if name in categories]
        names += [n for n in categories if n not in names]
        lines += [
            "| " + " | ".join(cell(n) for n in names) + " |",
            "|" + "---:|" * len(names),
            "| " + " | ".join(pct(categories[n]) for n in names) + " |",
            "",
        ]
    if not card.released and card.gate.get("reasons"):
        lines.append("**Why blocked:**")
        reasons = card.gate["reasons"]
        lines += [f"- {cell(r, 200)}" for r in reasons[:MAX_REASONS]]
        if len(reasons) > MAX_REASONS:
            lines.append(f"- … and {len(reasons) - MAX_REASONS} more (in the table below)")
        lines.append("")
    folded = consequences_of(card)
    rows = [c for c in card.checks if c.status in (*FAILING, "waived")]
    blocking = set(card.gate.get("blocking", []))
    rows.sort(
        key=lambda c: (
            c.id not in blocking,
            c.id in folded,
            c.status == "waived",
            SEVERITY_ORDER.index(c.severity) if c.severity in SEVERITY_ORDER else 9,
        )
    )
    if rows:
        lines += [
            "### Failing and waived checks",
            "",
            "| check | status | severity | finding | fix or waiver |",
            "|---|---|---|---|---|",
        ]
        for c in rows[:MAX_ROWS]:
            if c.status == "waived":
                w = waiver_for(card, c.id) or {}
                days = waiver_days_left(card, w)
                soon = " ⚠️ expires soon" if days is not None and 0 <= days < WAIVER_SOON_DAYS else ""
                extra = f"waived by {w.get('owner', '?')} until {w.get('expires', '?')}{soon}: {w.get('reason', '')}"
            else:
                extra = c.remediation
            block = " **blocks**" if c.id in blocking else ""
            if c.id in folded:
                block = f" (because {cell(folded[c.id])} did not pass)"
            if c.id in card.gate.get("causes", {}):
                block += f" · {len(card.gate['causes'][c.id])} check(s) could not run because of it"
            lines.append(
                f"| **{cell(c.id)}** {cell(c.title, 60)} | {MARK.get(c.status, '')} {STATUS_WORD.get(c.status, c.status)}{block}"
                f" | {cell(c.severity)} | {cell(c.message)} | {cell(extra)} |"
            )
        if len(rows) > MAX_ROWS:
            lines.append(f"| … | {len(rows) - MAX_ROWS} more in the HTML or JSON scorecard | | | |")
        lines.append("")
    else:
        lines += ["No check failed.", ""]
    expired = [w for w in card.waivers if w.get("state") == "expired"]
    for w in expired[:MAX_REASONS]:
        lines.append(
            f"- ❌ waiver for **{cell(w.get('check'))}** expired on {cell(w.get('expires'))} (owner {cell(w.get('owner'))})"
        )
    if expired:
        lines.append("")
    tool = card.tool
    lines.append(
        f"<sub>{cell(tool.get('name', 'readiness'))} {cell(tool.get('version', ''))} · seed {cell(card.run.get('seed', '?'))} · {cell(card.run.get('date', ''))}</sub>"
    )
    return "\n".join(lines) + "\n"
