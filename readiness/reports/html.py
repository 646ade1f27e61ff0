"""The self-contained HTML scorecard: one file, no network, no JavaScript, readable on a phone.

The verdict, the model, the scores and the blocking findings come first; every
check follows, grouped by category, each a `<details>` element with its
measured values, evidence and charts (inline SVG drawn by `_svg`). Every string
reaches the page through jinja2 with autoescape on, and the finished page passes
through `readiness.text.clean_block`, so a bidi override from the bundle shows as
the visible escape `\\u202e` instead of reordering the text around it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jinja2
from markupsafe import Markup

from ..scorecard import CheckRecord, Scorecard
from ..text import clean_block
from . import _svg
from ._common import (
    FAILING,
    STATUS_ICON,
    STATUS_WORD,
    WAIVER_SOON_DAYS,
    by_category,
    category_key,
    consequences_of,
    counts_line,
    flatten,
    fmt,
    is_number,
    lowest_text,
    mlts_band,
    model_label,
    normalized,
    pct,
    short_sha,
    verdict,
    waiver_days_left,
    waiver_for,
    waiver_text,
)

EVIDENCE_CHARS = 4000
MEASURED_ROWS = 60
LONG_STRING = 1500
BANNER_REASONS = 3  # the verdict banner stays short on a phone; every finding is listed in full below
REASON_CHARS = 140


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("readiness.reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render(scorecard: Scorecard) -> str:
    """The HTML scorecard (the same bytes for a run and for its saved JSON)."""
    card = normalized(scorecard)
    return clean_block(_environment().get_template("scorecard.html.j2").render(v=_view(card)))


def _view(card: Scorecard) -> dict[str, Any]:
    blocking_ids = list(card.gate.get("blocking", []))
    records = {c.id: c for c in card.checks}
    categories = card.scores.get("categories", {}) or {}
    groups = []
    for name, checks in by_category(card.checks):
        counts: dict[str, int] = {}
        for c in checks:
            counts[c.status] = counts.get(c.status, 0) + 1
        groups.append(
            {
                "name": name,
                "score": pct(categories.get(name)),
                "counts": ", ".join(f"{n} {s}" for s, n in counts.items()),
                "checks": [_check(card, c) for c in checks],
            }
        )
    return {
        "verdict": verdict(card),
        "verdict_icon": STATUS_ICON["pass"] if card.released else STATUS_ICON["fail"],
        "released": card.released,
        "fail_on": card.gate.get("fail_on", "major"),
        "reasons_short": [_banner_reason(card, str(r)) for r in card.gate.get("reasons", [])[:BANNER_REASONS]],
        "reasons_more": max(len(card.gate.get("reasons", [])) - BANNER_REASONS, 0),
        "model_label": model_label(card),
        "task": card.model.get("task"),
        "sha256": card.model.get("sha256", ""),
        "sha_short": short_sha(card),
        "description": card.model.get("description"),
        "counts": counts_line(card) or "no checks ran",
        "overall": pct(card.scores.get("overall")),
        "lowest": lowest_text(card),
        "categories": [
            {
                "name": name,
                "score": pct(value),
                "width": round(100 * value) if is_number(value) else 0,
            }
            for name, value in sorted(categories.items(), key=lambda kv: category_key(kv[0]))
        ],
        "mlts": _mlts(card.scores.get("mlts")),
        "blocking": [_check(card, records[i], charts=False) for i in blocking_ids if i in records],
        "groups": groups,
        "waivers": [_waiver(card, w) for w in card.waivers],
        "card": [(k, fmt(v)) for k, v in flatten(card.model.get("card") or {})],
        "environment": [(k, fmt(v)) for k, v in flatten(card.environment)]
        + [(f"run.{k}", fmt(v)) for k, v in card.run.items() if k != "selected"],
        "footer": _footer(card),
        "serving": _serving(card),
    }


def _serving(card: Scorecard) -> dict[str, Any] | None:
    """The live endpoint's summary: which server, latency under load against the SLO, errors, parity.

    Read from the serving category's records by the shape of their measurements (a load record has
    `error_rate`, a parity record `label_agreement`), so a saved scorecard renders the same way."""
    records = [c for c in card.checks if c.category == "serving"]
    endpoint = card.environment.get("endpoint") if isinstance(card.environment, dict) else None
    if not records or not isinstance(endpoint, dict):
        return None
    load = next((c for c in records if is_number((c.measured or {}).get("error_rate"))), None)
    parity = next((c for c in records if is_number((c.measured or {}).get("label_agreement"))), None)
    out: dict[str, Any] = {
        "endpoint": [(k, fmt(v)) for k, v in flatten(endpoint)],
        "checks": [
            {
                "id": c.id,
                "status": c.status,
                "word": STATUS_WORD.get(c.status, c.status.upper()),
                "icon": STATUS_ICON.get(c.status, "?"),
                "title": c.title,
            }
            for c in records
        ],  # fmt: skip
        "chart": None,
        "load": None,
        "parity": None,
    }
    if load is not None:
        m = load.measured
        try:
            svg = _svg.latency_chart(m, load.evidence or {})
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError):
            svg = None
        out["chart"] = Markup(svg) if svg else None
        out["load"] = (
            f"{fmt(m.get('requests'))} requests at {fmt(m.get('rps'))} rps for {fmt(m.get('duration_s'))} s; "
            f"error rate {_rate(m.get('error_rate'))} (bounds {_rate(m.get('error_rate_lower'))}"
            f"\u2013{_rate(m.get('error_rate_upper'))}) against a maximum of {_rate(m.get('max_error_rate'))}"
        )
    if parity is not None:
        m = parity.measured
        out["parity"] = (
            f"{fmt(m.get('rows'))} reference rows: {fmt(m.get('rows_differing'))} differ from the offline model; "
            f"largest difference {fmt(m.get('max_abs_diff'))}; label agreement {fmt(m.get('label_agreement'))}"
        )
    return out


def _check(card: Scorecard, c: CheckRecord, *, charts: bool = True) -> dict[str, Any]:
    measured = list(flatten(c.measured, depth=3))
    rows = [(k, fmt(v)) for k, v in measured[:MEASURED_ROWS]]
    if len(measured) > MEASURED_ROWS:
        rows.append(("\u2026", f"{len(measured) - MEASURED_ROWS} more in the JSON scorecard"))
    evidence = ""
    if c.evidence:
        evidence = json.dumps(_readable(c.evidence), indent=1, ensure_ascii=False)
        if len(evidence) > EVIDENCE_CHARS:
            evidence = evidence[:EVIDENCE_CHARS] + "\n\u2026 (truncated; the JSON scorecard holds all of it)"
    waiver = waiver_text(waiver_for(card, c.id)) if c.status == "waived" else ""
    return {
        "id": c.id,
        "title": c.title,
        "severity": c.severity,
        "status": c.status,
        "word": STATUS_WORD.get(c.status, c.status.upper()),
        "icon": STATUS_ICON.get(c.status, "?"),
        "message": c.message,
        "remediation": c.remediation,
        "measured": rows,
        "evidence": evidence,
        "charts": [Markup(svg) for svg in _svg.charts_for(c.id, c.category, c.measured, c.evidence)] if charts else [],
        "waiver": waiver,
        "cause": consequences_of(card).get(c.id),
        "consequences": list((card.gate.get("causes") or {}).get(c.id, [])),
        "mlts": ", ".join(c.mlts),
        "duration": f"{c.duration_s:.2f} s" if is_number(c.duration_s) else "",
        "failing": c.status in FAILING,
    }


def _banner_reason(card: Scorecard, reason: str) -> str:
    """A gate reason for the banner: clipped, but keeping how many checks it made impossible to run."""
    sid = reason.split(" ", 1)[0]
    folded = (card.gate.get("causes") or {}).get(sid)
    if not folded:
        return _clip(reason, REASON_CHARS)
    head = reason.split("; because of it ", 1)[0]
    return _clip(head, REASON_CHARS) + f" (and {len(folded)} check(s) could not run because of it)"


def _rate(value: Any) -> str:
    return f"{value:.2%}" if is_number(value) else "n/a"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _readable(value: Any) -> Any:
    """Evidence as a person reads it: encoded timing blobs and very long strings summarised."""
    if isinstance(value, dict):
        if value.get("encoding") == _svg.RAW_ENCODING and "data" in value:
            return {**value, "data": f"({value.get('count', '?')} timings; in the JSON scorecard)"}
        return {k: _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    if isinstance(value, str) and len(value) > LONG_STRING:
        return value[:LONG_STRING] + f"\u2026 ({len(value)} characters in the JSON scorecard)"
    return value


def _mlts(mlts: Any) -> dict[str, Any] | None:
    if not isinstance(mlts, dict) or not is_number(mlts.get("score")):
        return None
    sections = mlts.get("sections") or {}
    tests = []
    for t in mlts.get("tests") or []:
        if not isinstance(t, dict):
            continue
        checks = t.get("checks")
        if isinstance(checks, dict) and checks:
            covered = ", ".join(f"{cid} ({STATUS_WORD.get(str(st), st)})" for cid, st in checks.items())
        elif isinstance(checks, list) and checks:
            covered = ", ".join(map(str, checks))
        elif isinstance(t.get("covered_by"), list) and t["covered_by"]:
            covered = ", ".join(map(str, t["covered_by"]))
        else:
            covered = "not covered"
        attestation = t.get("attestation")
        if isinstance(attestation, dict) and attestation:
            covered += "; attested: " + ", ".join(f"{k} {v}" for k, v in attestation.items())
        tests.append(
            {
                "name": " ".join(str(t[k]) for k in ("id", "title", "name") if t.get(k)) or "?",
                "state": str(t.get("state", "")),
                "points": fmt(t.get("points", t.get("score"))),
                "covered": covered,
            }
        )
    return {
        "score": fmt(mlts["score"]),
        "band": mlts_band(mlts),
        "note": str(mlts.get("note") or ""),
        "sections": [
            (name, fmt(value.get("score") if isinstance(value, dict) else value)) for name, value in sections.items()
        ],
        "tests": tests,
    }


def _waiver(card: Scorecard, w: dict[str, Any]) -> dict[str, Any]:
    days = waiver_days_left(card, w)
    soon = days is not None and 0 <= days < WAIVER_SOON_DAYS and w.get("state") != "expired"
    if w.get("state") == "expired":
        text = "EXPIRED"
    elif days is None:
        text = ""
    else:
        text = f"expires in {days} day{'s' if days != 1 else ''}"
    return {
        "check": w.get("check", "?"),
        "state": w.get("state", "?"),
        "owner": w.get("owner", "?"),
        "expires": w.get("expires", "?"),
        "reason": w.get("reason", ""),
        "note": w.get("note", ""),
        "soon": soon,
        "days_text": text,
    }


def _footer(card: Scorecard) -> str:
    tool = card.tool
    run = card.run
    parts = [f"{tool.get('name', 'readiness')} {tool.get('version', '')}".strip()]
    if run.get("started_at"):
        parts.append(f"run started {run['started_at']}")
    if "seed" in run:
        parts.append(f"seed {run['seed']}")
    parts.append(f"scorecard schema {card.schema_version}")
    return " \u00b7 ".join(parts)
