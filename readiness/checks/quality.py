"""Quality checks: the metric bar (QLT001), no regression against the baseline (QLT002),
and better than a trivial predictor (QLT003)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import chunked, metrics
from ..context import Context
from ..errors import Outcome, SkipCheck
from ..registry import Result, check, errored, failed, inconclusive, passed, skipped
from ..runtime import Predictions

# Tolerance used when `max_regression` names no metric: the primary metric may regress by at
# most 0.01 absolute when it is bounded (AUC, accuracy, F1, R2, ...), or 1% relative otherwise.
DEFAULT_ABSOLUTE = 0.01
DEFAULT_RELATIVE = 0.01
UNBOUNDED = frozenset({"log_loss", "rmse", "mae"})


def _task(ctx: Context) -> str:
    task = ctx.task
    if task not in metrics.TASK_METRICS:
        raise SkipCheck("the task is unknown: set [model].task (or declare output classes in the serving config)")
    return task


def _primary(ctx: Context, task: str) -> str:
    return metrics.primary_metric(task, ctx.threshold("primary_metric"))


def _y(ctx: Context) -> np.ndarray:
    y = ctx.y_true
    if y is None:
        raise SkipCheck("no labels: set [data].target")
    return y


def _metric_table(value: Any, key: str, task: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"[policy.thresholds].{key} must be a table of metric = value, e.g. {key} = {{ roc_auc = 0.9 }}"
        )
    unknown = [name for name in value if name not in metrics.TASK_METRICS[task]]
    if unknown:
        raise metrics.UnknownMetric(unknown[0], task)
    return dict(value)


class _CannotScore(Outcome):
    """The model cannot score the reference data as the serving contract feeds it."""

    see = "SCH001/SCH002"


def _reference_predictions(ctx: Context) -> Predictions:
    try:
        return ctx.reference_predictions
    except Outcome:  # says what it means itself (a refusal by onnxruntime, an output breaking SCH004, ...)
        raise
    except Exception as exc:  # noqa: BLE001 - feeding the rows can fail in several ways
        raise _CannotScore(
            f"the model cannot score the reference data as the serving config feeds it ({type(exc).__name__}: {exc})"
        ) from exc


def _measure(ctx: Context, task: str) -> tuple[chunked.Measure, tuple[str, dict[str, Any], dict[str, Any]] | None]:
    """The metrics over every reference row, and the NaN-output finding (None when every output is finite).

    Rows in memory are measured directly; reference data larger than memory is streamed in chunks
    (`readiness.chunked`), its sample in memory serving the bootstrap of metrics without a closed form."""
    y = _y(ctx)
    pred = _reference_predictions(ctx)  # a model that cannot score them is an Outcome the runner reports
    reference = ctx.reference_data
    if not reference.sampled:
        return chunked.InMemory(task, y, pred), metrics.nonfinite_outputs(pred)
    try:
        evidence = chunked.reference_evidence(ctx, task)
    except Outcome:
        raise
    except Exception as exc:  # noqa: BLE001 - feeding the rows can fail in several ways
        raise _CannotScore(
            f"the model cannot score the reference data in chunks ({type(exc).__name__}: {exc})"
        ) from exc
    return chunked.Streamed(evidence.overall, y, pred), chunked.nonfinite_message(evidence, reference.rows)


def _scored(ctx: Context) -> str:
    reference = ctx.reference_data
    if not reference.sampled:
        return f"all {reference.rows} rows, in memory"
    task = ctx.task or ""
    by = chunked.reference_evidence(ctx, task).scored_by if task in metrics.TASK_METRICS else "this process"
    return (
        f"all {reference.rows} rows, scored in chunks by {by}; a seeded sample of {len(reference.frame)} rows "
        "in memory for the metrics without a closed-form bound"
    )


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _f4(x: float | None) -> str:
    """A metric value for a message: 4 decimals, or "n/a" when it could not be computed."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4f}"


@check(
    "QLT001",
    "Model quality meets the bar",
    category="quality",
    severity="blocker",
    requires=["session", "reference", "target"],
    mlts=["Infra 4"],
    thresholds={
        "min_metric": {},
        "primary_metric": None,
        "bootstrap_resamples": 1000,
        "confidence": 0.95,
    },
    remediation="Improve the model, or set [policy.thresholds].min_metric to the bar the product needs.",
)
def qlt001(ctx: Context) -> Result:
    """The primary metric (and every metric in `min_metric`) on the reference data meets its bar, on a confidence bound.

    Metrics are computed on the reference data with the model as served (ONNX). The
    bar comes from `[policy.thresholds].min_metric`, e.g. `{ roc_auc = 0.9 }`; for a
    lower-is-better metric (log_loss, rmse, mae) the bar is a maximum. The primary
    metric (roc_auc, accuracy, r2 by default) is set with `primary_metric`.

    The reference rows are a sample of the traffic, so each metric gets one-sided bounds
    at `confidence` (95%): DeLong's variance for ROC AUC, exact binomial bounds for
    accuracy, a seeded percentile bootstrap (`bootstrap_resamples`) for the others. A bar
    is met when the whole interval clears it (lower bound >= bar; for a maximum, upper
    bound <= bar) and missed when the whole interval misses it (upper bound < bar); an
    interval that straddles the bar is `inconclusive`: more reference rows decide it.
    So an AUC of 0.95 on 100 balanced rows (lower bound ~0.91) meets a 0.90 bar, while
    0.92 on the same rows cannot be told from 0.89. Without any bar the check is skipped
    (the values are still reported).
    """
    task = _task(ctx)
    _y(ctx)  # without labels the check is skipped first
    try:
        primary = _primary(ctx, task)
        bars = _metric_table(ctx.threshold("min_metric"), "min_metric", task)
    except ValueError as exc:
        return errored(f"cannot judge quality: {exc}")
    measure, nan = _measure(ctx, task)
    if nan is not None:
        return failed(*nan)
    names = [primary] + [n for n in bars if n != primary]
    if missing := [n for n in names if not measure.available(n)]:
        return errored(f"cannot compute {', '.join(missing)}: the model's outputs give no probabilities")
    resamples = int(ctx.threshold("bootstrap_resamples"))
    confidence = float(ctx.threshold("confidence"))
    measured: dict[str, Any] = {}
    below: list[str] = []
    met: list[str] = []
    undecided: list[str] = []
    methods: dict[str, str] = {}
    for name in names:
        value = measure.value(name)
        lo, hi, method = measure.bounds(
            name, confidence=confidence, rng=ctx.rng(f"QLT001:{name}"), n_resamples=resamples
        )
        methods[name] = method
        entry: dict[str, Any] = {"value": _r(value), "ci_lower": _r(lo), "ci_upper": _r(hi)}
        if name in bars:
            bar = float(bars[name])
            higher = metrics.HIGHER_IS_BETTER[name]
            entry["bar"] = bar
            entry["direction"] = "higher" if higher else "lower"
            worst, best = (lo, hi) if higher else (hi, lo)
            bounded = worst is not None and best is not None and math.isfinite(value)
            ok = bounded and metrics.meets(name, worst, bar)
            missed = (bounded and not metrics.meets(name, best, bar)) or not math.isfinite(value)
            entry["meets"] = True if ok else False if missed else None
            shown = f"{name} {_f4(value)} ({confidence:.0%} bounds {_ci(lo, hi)})"
            if ok:
                met.append(f"{shown} {'>=' if higher else '<='} bar {bar:g}")
            elif missed:
                below.append(f"{shown} {'<' if higher else '>'} bar {bar:g}")
            else:
                undecided.append(f"{shown} straddles bar {bar:g}")
        measured[name] = entry
    rows = measure.rows
    evidence = {
        "primary": primary,
        "rows": rows,
        "scored": _scored(ctx),
        "confidence": confidence,
        "bootstrap_resamples": resamples,
        "method": methods,
        "rule": (
            f"one-sided bounds at {confidence:.0%}: a bar is met when the bound on the bad side clears it, "
            "missed when the bound on the good side misses it, otherwise inconclusive"
        ),
        "all_metrics": {k: _r(measure.value(k)) for k in metrics.TASK_METRICS[task] if measure.available(k)},
    }
    head = measured[primary]
    summary = f"{primary} {_f4(head['value'])} ({confidence:.0%} bounds {_ci(head['ci_lower'], head['ci_upper'])})"
    if not bars:
        return skipped(
            f"no bar configured: set [policy.thresholds].min_metric, e.g. {{ {primary} = 0.9 }}; measured {summary}",
            measured,
            evidence,
        )
    if below:
        return failed("; ".join(below) + f" on {rows} reference rows", measured, evidence)
    if undecided:
        return inconclusive(
            "; ".join(undecided)
            + f" on {rows} reference rows: the data cannot tell whether the bar is met (add reference rows)",
            measured,
            evidence,
        )
    return passed("; ".join(met) + f" on {rows} reference rows", measured, evidence)


def _ci(lo: float | None, hi: float | None) -> str:
    return "n/a" if lo is None or hi is None else f"[{lo:.4f}, {hi:.4f}]"


def _tolerances(ctx: Context, task: str, primary: str) -> dict[str, dict[str, float]]:
    table = _metric_table(ctx.threshold("max_regression"), "max_regression", task)
    out: dict[str, dict[str, float]] = {}
    for name, value in table.items():
        if isinstance(value, Mapping):
            extra = set(value) - {"absolute", "relative"}
            if extra or not value:
                raise ValueError(
                    f"[policy.thresholds].max_regression.{name} takes a number (absolute) or a table with "
                    f"'absolute' and/or 'relative', e.g. {{ absolute = 0.01, relative = 0.02 }}; got {dict(value)}"
                )
            out[name] = {k: float(v) for k, v in value.items()}
        else:
            out[name] = {"absolute": float(value)}
    if not out:
        out[primary] = {"relative": DEFAULT_RELATIVE} if primary in UNBOUNDED else {"absolute": DEFAULT_ABSOLUTE}
    return out


def _baseline_measure(
    ctx: Context, base: Context, task: str, base_pred: Predictions
) -> tuple[chunked.Measure, tuple[str, dict[str, Any], dict[str, Any]] | None]:
    """The baseline's metrics over every row of the candidate's reference data (streamed when it is sampled)."""
    reference = ctx.reference_data
    y = _y(ctx)
    if not reference.sampled:
        return chunked.InMemory(task, y, base_pred), metrics.nonfinite_outputs(base_pred, "the baseline model")
    evidence = ctx.memo("qlt:baseline_stream", lambda: chunked.stream(ctx, task, predictor=base))
    nan = chunked.nonfinite_message(evidence, reference.rows, "the baseline model")
    return chunked.Streamed(evidence.overall, y, base_pred), nan


def _baseline_predictions(ctx: Context, base: Context) -> Predictions:
    ref = ctx.reference
    cols = base.feature_columns
    missing = [c for c in cols if c not in ref.columns]
    if missing:
        raise ValueError(f"the baseline model reads column(s) {missing[:5]} that the candidate's reference data lacks")
    return ctx.memo("qlt:baseline_reference_predictions", lambda: base.predict(ref[cols]))


@check(
    "QLT002",
    "No quality regression against the baseline",
    category="quality",
    severity="major",
    requires=["session", "reference", "target", "baseline"],
    mlts=["Infra 4", "Monitor 7"],
    thresholds={"max_regression": {}},
    remediation=(
        "Find why the candidate is worse than the model serving now, or widen "
        "[policy.thresholds].max_regression if the trade-off is intended."
    ),
)
def qlt002(ctx: Context) -> Result:
    """The candidate is not worse than the baseline model beyond `max_regression`.

    Both models are scored on the candidate's reference data. `max_regression` maps a
    metric to a tolerance: a number (absolute change) or `{ absolute = ..., relative = ... }`
    (relative change = change / |baseline value|), as TFMA's change thresholds; the
    check fails when any tolerance is exceeded in the metric's worse direction. When no
    metric is named, the primary metric may regress at most 0.01 absolute (1% relative
    for log_loss, rmse and mae). Without `[baseline].manifest` the check is skipped.
    """
    task = _task(ctx)
    y = _y(ctx)
    base = ctx.baseline
    if base is None:  # pragma: no cover - the runner skips first ("baseline" requirement)
        return skipped("no baseline: set [baseline].manifest")
    try:
        primary = _primary(ctx, task)
        tolerances = _tolerances(ctx, task, primary)
    except ValueError as exc:
        return errored(f"cannot compare with the baseline: {exc}")
    base_task = base.task
    if base_task is not None and base_task != task:
        return errored(f"the baseline is a {base_task} model and the candidate a {task} model; they cannot be compared")
    try:
        base_pred = _baseline_predictions(ctx, base)
    except SkipCheck:
        raise
    except Exception as exc:  # noqa: BLE001 - a baseline that cannot score is reported, not a crash
        what = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        return errored(f"cannot score the baseline on the candidate's reference data: {what}")
    pred = _reference_predictions(ctx)  # a model that cannot score them is an Outcome the runner reports
    measure, nan = _measure(ctx, task)
    if nan is not None:
        return failed(*nan)
    try:
        base_measure, nan = _baseline_measure(ctx, base, task, base_pred)
    except Exception as exc:  # noqa: BLE001 - a baseline that cannot score is reported, not a crash
        return errored(f"cannot score the baseline on the candidate's reference data: {type(exc).__name__}: {exc}")
    if nan is not None:
        return errored(nan[0].replace("so its quality", "so the comparison"), nan[1], nan[2])
    if missing := [n for n in tolerances if not (metrics.available(n, pred) and metrics.available(n, base_pred))]:
        return errored(f"cannot compare {', '.join(missing)}: a model's outputs give no probabilities")
    resamples = int(ctx.threshold("bootstrap_resamples", 1000))
    confidence = float(ctx.threshold("confidence", 0.95))
    measured: dict[str, Any] = {}
    methods: dict[str, str] = {}
    worse: list[str] = []
    for name, tol in tolerances.items():
        cand = measure.value(name)
        ref = base_measure.value(name)
        absolute, relative = metrics.regression_amount(name, cand, ref)
        entry: dict[str, Any] = {
            "candidate": _r(cand),
            "baseline": _r(ref),
            "regression_absolute": _r(absolute),
            "regression_relative": _r(relative),
            "direction": "higher" if metrics.HIGHER_IS_BETTER[name] else "lower",
            "max_absolute": tol.get("absolute"),
            "max_relative": tol.get("relative"),
        }
        over = []
        if "absolute" in tol and absolute > tol["absolute"]:
            over.append(f"{absolute:.4f} absolute > {tol['absolute']:g}")
        if "relative" in tol and relative > tol["relative"]:
            over.append(f"{relative:.2%} relative > {tol['relative']:.2%}")
        entry["within"] = not over
        lo, hi, methods[name] = metrics.paired_delta_interval(
            name, task, y, pred, base_pred, rng=ctx.rng(f"QLT002:{name}"), n_resamples=resamples, confidence=confidence
        )
        if lo is not None and hi is not None and measure.rows > len(y):  # a sample: centre on the exact change
            centre = metrics.compute(name, task, y, pred) - metrics.compute(name, task, y, base_pred)
            lo, hi = metrics.to_all_rows(lo, hi, centre=centre, exact=cand - ref, sample=len(y), rows=measure.rows)
        entry["change_ci_lower"], entry["change_ci_upper"] = _r(lo), _r(hi)
        measured[name] = entry
        if over:
            worse.append(f"{name} {_f4(cand)} vs baseline {_f4(ref)} (worse by {' and '.join(over)})")
    evidence = {
        "primary": primary,
        "rows": measure.rows,
        "scored": _scored(ctx),
        "scored_on": "the candidate's reference data",
        "baseline_manifest": ctx.manifest.baseline.manifest,
        "defaulted": not bool(ctx.threshold("max_regression")),
        "change_ci": f"{confidence:.0%} two-sided interval on candidate - baseline, same rows; informative only",
        "change_ci_method": methods,
    }
    if worse:
        return failed("; ".join(worse), measured, evidence)
    judged = "; ".join(
        f"{n} {_f4(measured[n]['candidate'])} vs baseline {_f4(measured[n]['baseline'])}"
        f" (change {confidence:.0%} CI {_ci(measured[n]['change_ci_lower'], measured[n]['change_ci_upper'])};"
        f" allowed regression: {_allowed(tolerances[n])})"
        for n in tolerances
    )
    return passed(judged, measured, evidence)


def _allowed(tol: dict[str, float]) -> str:
    parts = [f"{tol['absolute']:g} absolute"] if "absolute" in tol else []
    parts += [f"{tol['relative']:.1%} relative"] if "relative" in tol else []
    return " and ".join(parts)


@check(
    "QLT003",
    "Model beats a trivial predictor",
    category="quality",
    severity="major",
    requires=["session", "reference", "target"],
    mlts=["Model 5"],
    thresholds={"trivial_margin": 0.01},
    remediation="The model has learnt little from its features: check the training labels, features and pipeline.",
)
def qlt003(ctx: Context) -> Result:
    """The model beats a trivial predictor on the primary metric by at least `trivial_margin`.

    The trivial predictor ignores its input: for classification it predicts the class
    prior of the reference data (its label is the majority class), for regression the
    mean of the reference target (so its R2 is 0). Using the reference data's own
    prior/mean favours the trivial predictor slightly, which makes the test stricter.
    """
    task = _task(ctx)
    _y(ctx)  # without labels the check is skipped first
    try:
        primary = _primary(ctx, task)
    except ValueError as exc:
        return errored(f"cannot judge quality: {exc}")
    margin = float(ctx.threshold("trivial_margin"))
    measure, nan = _measure(ctx, task)
    if nan is not None:
        return failed(*nan)
    if not measure.available(primary):
        return errored(f"cannot compute {primary}: the model's outputs give no probabilities")
    names = [primary] + (["accuracy"] if task != "regression" and primary != "accuracy" else [])
    measured: dict[str, Any] = {}
    for name in names:
        model_value = measure.value(name)
        trivial_value = measure.trivial(name)
        gain = -metrics.regression_amount(name, model_value, trivial_value)[0]
        measured[name] = {"model": _r(model_value), "trivial": _r(trivial_value), "gain": _r(gain)}
    measured["margin"] = margin
    gain = measured[primary]["gain"]
    what = "class prior / majority class" if task != "regression" else "mean of the target"
    text = f"{primary} {_f4(measured[primary]['model'])} vs {_f4(measured[primary]['trivial'])} for a trivial predictor ({what})"
    evidence = {"primary": primary, "trivial_predictor": what, "rows": measure.rows, "scored": _scored(ctx)}
    if gain is None or gain < margin:
        return failed(f"{text}: gain {_f4(gain)} < margin {margin:g}", measured, evidence)
    return passed(f"{text}: gain {gain:.4f} >= margin {margin:g}", measured, evidence)
