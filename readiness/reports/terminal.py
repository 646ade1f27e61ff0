"""The terminal summary: a rich table when on a terminal, plain lines otherwise."""

from __future__ import annotations

from typing import TextIO

from ..scorecard import CheckRecord, Scorecard
from ._common import STATUS_WORD, consequences_of, score_line

STATUS_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "error": "bold magenta",
    "skip": "dim",
    "inconclusive": "yellow",
    "waived": "cyan",
}


MAX_REASONS = 5


def verdict_line(scorecard: Scorecard) -> str:
    model = scorecard.model
    name = f"{model.get('name')}" + (f" {model['version']}" if model.get("version") else "")
    counts = scorecard.counts()
    summary = ", ".join(
        f"{counts[s]} {s}" for s in ("pass", "fail", "error", "inconclusive", "waived", "skip") if counts.get(s)
    )
    score = score_line(scorecard)
    verdict = "RELEASED" if scorecard.released else "BLOCKED"
    return f"{verdict}: {name} ({summary}; {score})"


def mlts_line(scorecard: Scorecard) -> str | None:
    """The ML Test Score in one line: final score, section sums, band."""
    mlts = scorecard.scores.get("mlts")
    if not isinstance(mlts, dict) or "score" not in mlts:
        return None
    sections = ", ".join(f"{name} {value:g}" for name, value in (mlts.get("sections") or {}).items())
    return f"ML Test Score {mlts['score']:g} ({sections}): {mlts.get('band', '')}"


def plain(scorecard: Scorecard, out: TextIO, *, quiet: bool = False) -> None:
    if not quiet:
        folded = consequences_of(scorecard)
        for c in scorecard.checks:
            out.write(f"{c.id:<8} {STATUS_WORD[c.status]:<12} {c.severity:<7} {c.title}: {_message(c, folded)}\n")
    out.write(verdict_line(scorecard) + "\n")
    if not quiet and (line := mlts_line(scorecard)):
        out.write(line + "\n")
    for line in _notes(scorecard):
        out.write(f"  - {line}\n")


def _message(check: CheckRecord, folded: dict[str, str]) -> str:
    """A check's message; one that could not run because of another check says so first."""
    root = folded.get(check.id)
    return f"(because {root} did not pass) {check.message}" if root else check.message


def _notes(scorecard: Scorecard) -> list[str]:
    """Why the gate blocked, and waivers worth a look (unused ones can be removed)."""
    lines = list(scorecard.gate.get("reasons", [])) if not scorecard.released else []
    if len(lines) > MAX_REASONS:  # root causes come first (see gate.decide); the rest are usually consequences
        rest = [reason.split(" ", 1)[0] for reason in lines[MAX_REASONS:]]
        lines = lines[:MAX_REASONS] + [f"and {len(rest)} more blocking: {', '.join(rest)} (details in the scorecard)"]
    for w in scorecard.waivers:
        if w.get("state") == "unused":
            lines.append(f"waiver for {w['check']} is unused: {w.get('note', '')}")
    lines.extend(scorecard.bundle.get("notes", []))  # e.g. "model-only run: ..." (readiness/formats)
    return lines


def rich_table(scorecard: Scorecard, console: object) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="readiness scorecard", show_lines=False)
    for col in ("id", "status", "severity", "check", "message"):
        table.add_column(col, overflow="fold")
    folded = consequences_of(scorecard)
    for c in scorecard.checks:
        table.add_row(
            c.id,
            Text(STATUS_WORD[c.status], style=STATUS_STYLE[c.status]),
            c.severity,
            c.title,
            _message(c, folded),
        )
    console.print(table)  # type: ignore[attr-defined]
    style = "bold green" if scorecard.released else "bold red"
    console.print(Text(verdict_line(scorecard), style=style))  # type: ignore[attr-defined]
    if line := mlts_line(scorecard):
        console.print(line, markup=False, highlight=False)  # type: ignore[attr-defined]
    for line in _notes(scorecard):
        console.print(f"  - {line}", markup=False, highlight=False)  # type: ignore[attr-defined]
