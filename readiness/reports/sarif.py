"""SARIF 2.1.0 for GitHub code scanning and other static-analysis dashboards.

Every check that ran is a rule (id, short and full description, help with the
remediation); every failing, erroring, inconclusive or waived check is a
result located at the bundle's manifest. SEC rules carry `security-severity`
so GitHub ranks them as security alerts; waived results carry a suppression
with the waiver's justification. Every string from the bundle passes through
`readiness.text.clean` (SARIF viewers show messages as lines of text).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..scorecard import CheckRecord, Scorecard
from ..text import NAME_CHARS, clean
from ._common import FAILING, model_label, normalized, verdict, waiver_for

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"blocker": "error", "major": "error", "minor": "warning", "info": "note"}
SECURITY_SEVERITY = {"blocker": "9.0", "major": "7.0", "minor": "4.0", "info": "1.0"}
REPORTED = (*FAILING, "waived")


def _rule_name(title: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", title)) or "Check"


def _rule(c: CheckRecord) -> dict[str, Any]:
    help_text = (
        clean(c.remediation)
        if c.remediation
        else f"Run `readiness explain {c.id}` for what this check verifies and how to fix it."
    )
    props: dict[str, Any] = {"tags": ["readiness", c.category], "readiness.severity": c.severity}
    if c.id.startswith("SEC"):
        if "security" not in props["tags"]:
            props["tags"].append("security")
        props["security-severity"] = SECURITY_SEVERITY.get(c.severity, "5.0")
    return {
        "id": c.id,
        "name": _rule_name(c.title),
        "shortDescription": {"text": clean(c.title)},
        "fullDescription": {"text": f"{clean(c.title)} ({clean(c.category)} check, {c.severity} severity)."},
        "help": {
            "text": f"{help_text} Details: `readiness explain {c.id}`.",
            "markdown": f"**Fix:** {help_text}\n\nDetails: `readiness explain {c.id}`",
        },
        "defaultConfiguration": {"level": LEVEL.get(c.severity, "warning")},
        "properties": props,
    }


def _result(card: Scorecard, c: CheckRecord, index: int, uri: str) -> dict[str, Any]:
    word = {"fail": "failed", "error": "could not run", "inconclusive": "was inconclusive", "waived": "failed (waived)"}
    text = f"{c.id} {word.get(c.status, c.status)}: {clean(c.message)}"
    if c.remediation:
        text += f" Fix: {clean(c.remediation)}"
    fingerprint = hashlib.sha256(f"{c.id}\0{clean(card.model.get('name'), None)}\0{uri}".encode()).hexdigest()[:32]
    result: dict[str, Any] = {
        "ruleId": c.id,
        "ruleIndex": index,
        "level": LEVEL.get(c.severity, "warning"),
        "kind": "fail",
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": 1},
                }
            }
        ],
        "partialFingerprints": {"readinessCheck/v1": fingerprint},
        "properties": {"status": c.status, "severity": c.severity, "category": c.category},
    }
    if c.status == "waived":
        w = waiver_for(card, c.id) or {}
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": clean(
                    f"{w.get('reason', 'waived')} (owner {w.get('owner', '?')}, expires {w.get('expires', '?')})"
                ),
            }
        ]
    return result


def render(scorecard: Scorecard) -> str:
    card = normalized(scorecard)
    uri = clean(card.bundle.get("manifest_uri") or card.bundle.get("manifest") or "readiness.toml")
    rules, results = [], []
    for index, c in enumerate(card.checks):
        rules.append(_rule(c))
        if c.status in REPORTED:
            results.append(_result(card, c, index, uri))
    tool = card.tool
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": str(tool.get("name", "readiness")),
                        "version": str(tool.get("version", "")),
                        "semanticVersion": str(tool.get("version", "")),
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"readiness/{clean(card.model.get('name') or 'model', NAME_CHARS)}/"},
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "properties": {
                            "verdict": verdict(card),
                            "model": clean(model_label(card)),
                            "readiness": card.scores.get("overall"),
                            "blocking": list(card.gate.get("blocking", [])),
                        },
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
