"""Scorecards built directly, with the measured/evidence shapes the checks write, for the renderer tests.

They validate against readiness/schemas/scorecard.schema.json (tested), so they
stand for what `readiness check --json` saves.
"""

from __future__ import annotations

import base64
import copy
import struct
import zlib
from typing import Any

from readiness.scorecard import CheckRecord, Scorecard

SHA = "3b5d5c3712955042212316173ccf37be800c9f3a0e8c6b7a1f2d4e5c6b7a8f90"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def encode_times(ns: list[int]) -> dict[str, Any]:
    """Per-call times as the latency checks store them (readiness.timing.encode_times)."""
    packed = struct.pack(f"<{len(ns)}q", *ns)
    return {
        "unit": "ns",
        "count": len(ns),
        "encoding": "base64(zlib(int64 little-endian))",
        "data": base64.b64encode(zlib.compress(packed, 9)).decode("ascii"),
    }


def _latency_measured(p99_upper_b64: float = 4.1) -> dict[str, Any]:
    return {
        "batch_1": {
            "samples": 612,
            "p50_ms": 0.041,
            "p50_ms_lower": 0.040,
            "p50_ms_upper": 0.042,
            "p95_ms": 0.071,
            "p95_ms_lower": 0.066,
            "p95_ms_upper": 0.075,
            "p99_ms": 0.090,
            "p99_ms_lower": 0.080,
            "p99_ms_upper": 0.110,
            "budget": {"p50_ms": 2, "p99_ms": 10},
        },
        "batch_64": {
            "samples": 320,
            "p50_ms": 1.9,
            "p50_ms_lower": 1.8,
            "p50_ms_upper": 2.0,
            "p99_ms": 3.2,
            "p99_ms_lower": 2.9,
            "p99_ms_upper": p99_upper_b64,
            "budget": {"p99_ms": 50},
        },
    }


def _check(cid: str, title: str, category: str, severity: str, status: str, message: str, **kw: Any) -> CheckRecord:
    return CheckRecord(
        id=cid,
        title=title,
        category=category,
        severity=severity,
        status=status,
        message=message,
        remediation=kw.pop("remediation", f"see `readiness explain {cid}`"),
        duration_s=kw.pop("duration_s", 0.05),
        **kw,
    )


def typical_card(*, released: bool = False, mlts: bool = True) -> Scorecard:
    """A blocked run of a realistic bundle: one failing blocker, a waiver, charts' evidence, skips."""
    checks = [
        _check("ART001", "ONNX model is valid and loads", "artifact", "blocker", "pass", "onnx.checker passed; loads"),
        _check("ART002", "Opsets supported by the runtime", "artifact", "blocker", "pass", "ai.onnx 17 <= 28"),
        _check("ART003", "Model metadata present", "artifact", "minor", "fail", "no description in the model"),
        _check(
            "ART004",
            "Artifact size within budget",
            "artifact",
            "major",
            "pass",
            "0.2 MiB <= 100 MiB",
            measured={"size_mb": 0.21, "max_model_mb": 100},
        ),
        _check("SEC001", "External data stays inside the bundle", "security", "blocker", "pass", "no external data"),
        _check(
            "SEC002",
            "No unsafe deserialization",
            "security",
            "blocker",
            "fail",
            "model.pkl is a pickle; refused without --trust",
            remediation="export the source model with skops, or pass --trust if you trust the bundle",
            evidence={"path": "model.pkl", "kind": "pickle"},
        ),
        _check("SEC003", "No custom ops or shared libraries", "security", "blocker", "pass", "none"),
        _check("SCH001", "Serving inputs match the graph", "schema", "blocker", "pass", "1 input matches"),
        _check(
            "SCH003",
            "Reference data validates against the schema",
            "schema",
            "major",
            "pass",
            "569 rows valid",
        ),
        _check("RPR001", "Deterministic inference", "reproducibility", "major", "pass", "identical outputs"),
        _check(
            "RPR003",
            "Export parity",
            "reproducibility",
            "major",
            "skip",
            "not applicable: needs [model].source",
        ),
        _check(
            "ROB002",
            "Perturbation stability",
            "robustness",
            "major",
            "pass",
            "1.2% of rows' prediction flips its label under additive noise of 1% (limit 5.0%)",
            measured={
                "rows": 569,
                "flip_rate": 0.012,
                "max_flip_rate": 0.05,
                "additive_flip_rate": 0.012,
                "multiplicative_flip_rate": 0.007,
            },
            evidence={
                "noise": 0.01,
                "perturbations": {
                    "additive": {"flip_rate": 0.012, "flipped_rows": 7, "largest_probability_change": 0.031},
                    "multiplicative": {"flip_rate": 0.007, "flipped_rows": 4, "largest_probability_change": 0.02},
                },
            },
        ),
        _check(
            "ROB005",
            "Quality on every slice",
            "robustness",
            "major",
            "fail",
            "1 slice group(s) fall short: age_band=70+: roc_auc 0.710 misses the bar 0.9",
            measured={
                "metric": "roc_auc",
                "overall": 0.97,
                "groups": 5,
                "judged_groups": 4,
                "failing_groups": 1,
                "max_gap": 0.1,
                "worst_group": "age_band=70+",
                "worst": 0.71,
                "worst_gap": 0.26,
                "min_metric": 0.9,
            },
            evidence={
                "groups": [
                    {
                        "slice": "sex",
                        "group": "F",
                        "size": 301,
                        "roc_auc": 0.98,
                        "judged": True,
                        "gap": -0.01,
                        "status": "ok",
                    },
                    {
                        "slice": "sex",
                        "group": "M",
                        "size": 268,
                        "roc_auc": 0.96,
                        "judged": True,
                        "gap": 0.01,
                        "status": "ok",
                    },
                    {
                        "slice": "age_band",
                        "group": "<40",
                        "size": 190,
                        "roc_auc": 0.99,
                        "judged": True,
                        "gap": -0.02,
                        "status": "ok",
                    },
                    {
                        "slice": "age_band",
                        "group": "70+",
                        "size": 88,
                        "roc_auc": 0.71,
                        "judged": True,
                        "gap": 0.26,
                        "status": "fail",
                    },
                    {
                        "slice": "age_band",
                        "group": "unknown",
                        "size": 7,
                        "roc_auc": 0.5,
                        "judged": False,
                        "status": "not judged: fewer than 20 rows",
                    },
                ]
            },
        ),
        _check(
            "LAT001",
            "Latency percentiles meet the SLO",
            "latency",
            "major",
            "pass",
            "every latency budget is met with confidence: batch 64 p99 3.2 ms [2.9, 4.1] vs 50 ms: within",
            measured=_latency_measured(),
            evidence={
                "confidence": 0.95,
                "raw_times": {
                    "batch_1": encode_times([38_000 + 100 * (i % 60) for i in range(600)] + [90_000, 110_000]),
                    "batch_64": encode_times([1_800_000 + 2_000 * (i % 400) for i in range(320)]),
                },
            },
        ),
        _check(
            "LAT002",
            "Throughput at max batch size",
            "latency",
            "major",
            "waived",
            "21,000 rows/s < 30,000 rows/s",
            measured={"throughput_rps": 21000.0, "target_rps": 30000},
            evidence={"waived_status": "fail"},
        ),
        _check(
            "LAT005",
            "No latency regression against the baseline",
            "latency",
            "major",
            "pass",
            "candidate within 10% of the baseline: batch 1: median x0.970 [0.950, 0.990], p95 x1.020",
            measured={
                "tolerance": 0.1,
                "batch_1": {
                    "blocks": 40,
                    "calls_per_block": 50,
                    "median_ratio": 0.97,
                    "median_ratio_lower": 0.95,
                    "median_ratio_upper": 0.99,
                    "p95_ratio": 1.02,
                    "p95_ratio_lower": 0.98,
                    "p95_ratio_upper": 1.06,
                },
            },
        ),
        _check(
            "QLT001",
            "Primary metric meets the bar",
            "quality",
            "blocker",
            "pass",
            "roc_auc 0.991 [0.984, 0.996] >= 0.90",
            measured={"roc_auc": 0.991, "roc_auc_lower": 0.984, "roc_auc_upper": 0.996, "min_metric": 0.9},
        ),
        _check(
            "QLT002",
            "No regression against the baseline",
            "quality",
            "major",
            "pass",
            "roc_auc +0.004, accuracy -0.002 vs baseline (max regression 0.01)",
            measured={
                "roc_auc": {"candidate": 0.991, "baseline": 0.987, "regression_absolute": -0.004, "within": True},
                "accuracy": {"candidate": 0.949, "baseline": 0.951, "regression_absolute": 0.002, "within": True},
            },
        ),
        _check("OPS001", "Model card complete", "operational", "minor", "pass", "owner, intended use, limitations"),
        _check(
            "OPS003",
            "Rollback target exists",
            "operational",
            "minor",
            "error",
            "crashed: KeyError 'baseline'",
            evidence={"traceback": "Traceback (most recent call last):\n  ...\nKeyError: 'baseline'"},
        ),
    ]
    waivers = [
        {
            "check": "LAT002",
            "reason": "throughput target applies from the Q3 hardware refresh",
            "owner": "platform@example.com",
            "expires": "2026-12-05",
            "days_left": 8,
            "state": "applied",
            "waived_status": "fail",
        },
        {
            "check": "ART003",
            "reason": "metadata added in the next export",
            "owner": "ml@example.com",
            "expires": "2027-06-30",
            "days_left": 215,
            "state": "unused",
            "note": "the check's status is fail; the waiver can be removed",
        },
    ]
    gate: dict[str, Any] = {
        "released": False,
        "fail_on": "major",
        "blocking": ["SEC002", "ROB005"],
        "reasons": [
            "SEC002 (blocker) failed: model.pkl is a pickle; refused without --trust",
            "ROB005 (major) failed: roc_auc on age_band=70+ is 0.71, below 0.90",
        ],
    }
    if released:
        gate = {"released": True, "fail_on": "major", "blocking": [], "reasons": []}
        for c in checks:
            if c.status in ("fail", "error"):
                c.status, c.message = "pass", "ok"
    scores: dict[str, Any] = {
        "overall": 0.5,
        "categories": {
            "artifact": 0.91,
            "security": 0.6667,
            "schema": 1.0,
            "reproducibility": 1.0,
            "robustness": 0.5,
            "latency": 0.5,
            "quality": 1.0,
            "operational": 0.5,
        },
        "mlts": {
            "sections": {"Data": 1.0, "Model": 2.5, "Infra": 3.0, "Monitor": 1.5},
            "score": 1.0,
            "band": "Not totally untested, but it is worth considering the possibility of serious holes in reliability.",
            "tests": [
                {
                    "id": "Infra 1",
                    "section": "Infra",
                    "title": "Training is reproducible",
                    "covered_by": ["RPR001"],
                    "points": 1.0,
                    "state": "automated",
                    "checks": {"RPR001": "pass"},
                },
                {
                    "id": "Monitor 7",
                    "section": "Monitor",
                    "title": "Prediction quality has not regressed",
                    "covered_by": "not covered",
                    "points": 0.5,
                    "state": "attested",
                    "checks": {},
                    "attestation": {"note": "<b>PR #123</b>", "date": "2026-11-20"},
                },
            ],
            "covered": 1,
            "total": 28,
            "note": "1 of the 28 ML Test Score tests are covered by automated checks in this run's selection.",
        },
    }
    if not mlts:
        scores["mlts"] = {"sections": {}, "score": None, "tests": []}
    return Scorecard(
        tool={"name": "readiness", "version": "0.1.0"},
        model={
            "name": "breast-cancer",
            "version": "1.0.0",
            "path": "model.onnx",
            "sha256": SHA,
            "task": "binary_classification",
            "description": "Logistic regression on the Wisconsin breast cancer data",
            "card": {"owner": "ml@example.com", "intended_use": "demo"},
        },
        gate=gate,
        scores=scores,
        checks=checks,
        waivers=waivers,
        environment={
            "python": "3.11.2",
            "onnxruntime": "1.32.0",
            "cpu": "Intel Xeon",
            "threads": 1,
            "providers": ["CPUExecutionProvider"],
        },
        bundle={"manifest": "readiness.toml", "serving": "serving.yaml"},
        run={"seed": 0, "date": "2026-11-27", "started_at": "2026-11-27T02:00:00+00:00", "duration_s": 3.2},
    )


def with_hostile_strings(card: Scorecard) -> Scorecard:
    """The same card with bundle-controlled strings replaced by markup."""
    card = copy.deepcopy(card)
    card.model["description"] = XSS
    card.model["card"] = {"owner": XSS, "limitations": XSS}
    card.model["name"] = XSS
    for c in card.checks:
        c.message = f"{c.message} {XSS}"
    card.waivers[0]["reason"] = XSS
    card.gate["reasons"] = [f"{r} {XSS}" for r in card.gate["reasons"]]
    return card


def big_card(n: int = 500) -> Scorecard:
    """A scorecard with `n` checks cycling through the typical ones (ids renumbered)."""
    base = typical_card()
    checks = []
    for i in range(n):
        c = copy.deepcopy(base.checks[i % len(base.checks)])
        c.id = f"{c.id[:3]}{i:03d}" if i < 1000 else c.id
        checks.append(c)
    base.checks = checks
    return base
