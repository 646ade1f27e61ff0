"""JUnit XML: one `testcase` per check, so CI systems list and count the checks as tests.

`classname` is the category and `name` the check id and title; `fail` and
`inconclusive` become `<failure>`, `error` becomes `<error>`, and `skip` and
`waived` become `<skipped>` with the reason; `time` is the check's duration.
Every string passes through `readiness.text.clean`, so the file is well-formed XML
for any code point a bundle holds (U+0000, U+FFFE, lone surrogates are escaped visibly).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from ..scorecard import Scorecard
from ..text import clean
from ._common import model_label, normalized, verdict, waiver_for, waiver_text


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _time(value: object) -> str:
    return f"{float(value):.6f}" if _number(value) else "0"


def _clean(text: object) -> str:
    """One line of valid XML 1.0 character data (ElementTree escapes markup characters itself)."""
    return clean(text)


def render(scorecard: Scorecard) -> str:
    card = normalized(scorecard)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    suite = ET.Element("testsuite", name=_clean(f"readiness: {model_label(card)}"))
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("verdict", verdict(card)),
        ("readiness", card.scores.get("overall")),
        ("model.sha256", card.model.get("sha256", "")),
        ("fail_on", card.gate.get("fail_on", "")),
    ):
        ET.SubElement(props, "property", name=key, value=_clean("" if value is None else value))
    total = 0.0
    for c in card.checks:
        case = ET.SubElement(
            suite, "testcase", classname=_clean(c.category), name=_clean(f"{c.id} {c.title}"), time=_time(c.duration_s)
        )
        total += float(c.duration_s) if _number(c.duration_s) else 0.0
        body = _clean(c.message) + (f"\n\nFix: {_clean(c.remediation)}" if c.remediation else "")
        if c.status in ("fail", "inconclusive"):
            counts["failures"] += 1
            el = ET.SubElement(case, "failure", message=_clean(c.message), type=f"{c.status}:{c.severity}")
            el.text = body
        elif c.status == "error":
            counts["errors"] += 1
            el = ET.SubElement(case, "error", message=_clean(c.message), type=f"error:{c.severity}")
            el.text = body
        elif c.status == "skip":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_clean(c.message))
        elif c.status == "waived":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_clean(f"{waiver_text(waiver_for(card, c.id))} ({c.message})"))
    suite.set("tests", str(len(card.checks)))
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", _time(total))
    root = ET.Element("testsuites", name="readiness", tests=str(len(card.checks)), time=_time(total))
    for key, value in counts.items():
        root.set(key, str(value))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
