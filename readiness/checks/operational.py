"""Operational readiness: model card (OPS001), monitoring declaration (OPS002), rollback target (OPS003)."""

from __future__ import annotations

from typing import Any

from .. import metrics
from ..bundle import sha256_file
from ..context import Context
from ..errors import SkipCheck
from ..placeholders import is_placeholder, model_only
from ..registry import Result, check, failed, passed

CARD_FIELDS = ("owner", "intended_use", "limitations")
ALL_METRICS = frozenset(name for names in metrics.TASK_METRICS.values() for name in names)


def _blank(value: Any) -> bool:
    """Absent, empty, or a template placeholder ("...", "TODO", "TBD"): counts as missing."""
    return is_placeholder(value)


@check(
    "OPS001",
    "Model card is complete",
    category="operational",
    severity="minor",
    remediation=(
        'Add a [card] table to the manifest with owner, intended_use and limitations, e.g. owner = "team@example.com".'
    ),
)
def ops001(ctx: Context) -> Result:
    """The manifest's model card (`[card]`) names an owner, the intended use and the limitations.

    A reader deciding whether the model may be used for something needs to know who
    answers for it, what it is for and where it is known not to work. Placeholders
    (`"..."`, `"TODO"`, `"TBD"`, empty strings) count as missing. A model-only run has no
    manifest to hold a card: the check is skipped there.
    """
    if model_only(ctx):
        raise SkipCheck("model-only run: no manifest, so no [card] (owner, intended_use, limitations) to judge")
    card = ctx.manifest.card
    missing = [name for name in CARD_FIELDS if _blank(getattr(card, name, None))]
    present = {name: getattr(card, name) for name in CARD_FIELDS if name not in missing}
    measured = {"fields_present": len(present), "fields_required": len(CARD_FIELDS)}
    evidence = {"card": present, "missing": missing}
    if missing:
        keys = ", ".join(f"[card].{m}" for m in missing)
        return failed(f"missing {keys}", measured, evidence)
    return passed(f"owner, intended use and limitations recorded (owner {card.owner})", measured, evidence)


def _features(ctx: Context) -> list[str] | None:
    try:
        return [c for c in ctx.feature_columns if c != ctx.bundle.target]
    except Exception:  # noqa: BLE001 - deriving inputs needs a loadable model; the check still judges the rest
        return None


@check(
    "OPS002",
    "Monitoring is declared",
    category="operational",
    severity="minor",
    remediation=(
        'Add a [monitoring] table: owner, alert_metric (e.g. "roc_auc") and drift thresholds per feature '
        "or a default, e.g. drift = { default = 0.1 }."
    ),
)
def ops002(ctx: Context) -> Result:
    """Monitoring is declared: an owner, the metric to alert on, and drift thresholds for every feature.

    `[monitoring].drift` maps feature names to a drift threshold (PSI or similar);
    `default` covers the features not named. A feature name that the model does not
    read is reported (a typo would leave the real feature unwatched). Placeholders count as
    missing, and an `alert_metric` that is a metric of another task (roc_auc on a regression
    model) is a finding; a name readiness does not know (a business metric) is accepted. A
    model-only run has no manifest to declare monitoring in: the check is skipped there.
    """
    if model_only(ctx):
        raise SkipCheck("model-only run: no manifest, so no [monitoring] (owner, alert_metric, drift) to judge")
    mon = ctx.manifest.monitoring
    problems: list[str] = []
    if _blank(mon.owner):
        problems.append("no owner ([monitoring].owner)")
    if _blank(mon.alert_metric):
        problems.append("no metric to alert on ([monitoring].alert_metric)")
    drift = dict(mon.drift)
    bad_values = {k: v for k, v in drift.items() if not v > 0}
    if bad_values:
        problems.append(f"drift thresholds must be positive: {bad_values}")
    features = _features(ctx)
    per_feature = {k: v for k, v in drift.items() if k != "default"}
    unknown = sorted(k for k in per_feature if features is not None and k not in features)
    uncovered: list[str] = []
    if not drift:
        problems.append("no drift thresholds ([monitoring].drift, e.g. { default = 0.1 })")
    elif "default" not in drift:
        if features is None:
            problems.append(
                "no default drift threshold, and the model's features could not be listed to check coverage"
            )
        else:
            uncovered = [f for f in features if f not in per_feature]
            if uncovered:
                problems.append(
                    f"{len(uncovered)} feature(s) have no drift threshold and there is no default: {uncovered[:5]}"
                )
    if unknown:
        problems.append(f"drift thresholds name column(s) the model does not read: {unknown[:5]}")
    task_metrics = metrics.TASK_METRICS.get(ctx.task or "", ()) if features is not None else ()
    alert = (mon.alert_metric or "").strip()
    if task_metrics and not _blank(alert) and alert in ALL_METRICS and alert not in task_metrics:
        problems.append(
            f"[monitoring].alert_metric {alert!r} is not a metric of a {ctx.task.replace('_', ' ')} model "
            f"(use one of {', '.join(task_metrics)})"
        )
    measured = {
        "drift_thresholds": len(drift),
        "features": None if features is None else len(features),
        "features_uncovered": len(uncovered),
    }
    evidence: dict[str, Any] = {
        "owner": mon.owner,
        "alert_metric": mon.alert_metric,
        "drift": drift,
        "alert_metric_computed_by_readiness": bool(mon.alert_metric in task_metrics),
    }
    if problems:
        return failed("; ".join(problems), measured, evidence)
    return passed(
        f"owner {mon.owner}, alerts on {mon.alert_metric}, "
        f"drift thresholds for {'every feature (default ' + str(drift['default']) + ')' if 'default' in drift else 'each feature'}",
        measured,
        evidence,
    )


@check(
    "OPS003",
    "A rollback target exists",
    category="operational",
    severity="minor",
    requires=["baseline"],
    mlts=["Infra 7"],
    remediation=(
        "Point [baseline].manifest at the bundle of the model serving now, and keep that bundle loadable, "
        "so a bad release can be rolled back to it."
    ),
)
def ops003(ctx: Context) -> Result:
    """A rollback target exists: the baseline bundle's model loads and scores in the declared runtime.

    The baseline (`[baseline].manifest`) is what a bad release would be rolled back to;
    this check loads its model and runs it on a few request rows. Without a baseline the
    check is skipped.
    """
    base = ctx.baseline
    path = base.bundle.model_path
    evidence: dict[str, Any] = {"baseline_manifest": ctx.manifest.baseline.manifest, "model": str(path.name)}
    if not path.is_file():
        return failed(f"the rollback target's model {path} does not exist", evidence=evidence)
    sha = sha256_file(path)
    same = sha == sha256_file(ctx.bundle.model_path)
    evidence.update({"sha256": sha, "same_as_candidate": same})
    try:
        session = base.new_session()
        base.predict(base.sample_frame.head(8), session=session)
    except Exception as exc:  # noqa: BLE001 - any failure to load or run means no usable rollback target
        return failed(f"the rollback target cannot serve: {type(exc).__name__}: {exc}", evidence=evidence)
    note = " (it is the same artifact as the candidate)" if same else ""
    return passed(f"rollback target {path.name} loads and scores{note}", {"loads": True}, evidence)
