"""Robustness checks: fuzzing, perturbation stability, missing values, out-of-range inputs, slices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import fuzz
from .. import metrics as mx
from ..registry import Result, check, failed, passed, skipped

if TYPE_CHECKING:
    import pandas as pd

    from ..context import Context

MAX_PERTURB_ROWS = 2000
MAX_PROBE_ROWS = 32


def _spec_for(ctx: Context, column: str) -> Any:
    """The serving input spec that carries `column`."""
    for spec in ctx.inputs:
        if column in (spec.features if spec.features is not None else [spec.name]):
            return spec
    return None


def _rerun(ctx: Context, check_id: str) -> str:
    import shlex

    target = ctx.bundle.model_path if ctx.bundle.format == "model-only" else ctx.bundle.root
    return f"readiness check {shlex.quote(str(target))} --select {check_id} --seed {ctx.seed}"


# --------------------------------------------------------------------------- ROB001
@check(
    "ROB001",
    "Schema-driven fuzzing",
    category="robustness",
    severity="major",
    requires=["session"],
    mlts=["Infra 2", "Monitor 5"],
    remediation=(
        "Make the model (or the preprocessing exported with it) handle the counterexample: guard divisions, "
        "logs and square roots against 0 and tiny values, or narrow the schema's bounds to what the model "
        "accepts and reject the rest at the server."
    ),
    thresholds={"fuzz_max_examples": 200, "fuzz_max_seconds": 30.0},
)
def fuzzing(ctx: Context) -> Result:
    """Schema-valid inputs (edge values first, then a seeded hypothesis search) never error and give outputs within contract.

    Edge cases come first: each column at its bounds, at zero and at the smallest positive
    float32 where allowed, at each allowed category, with the other columns at typical values.
    Then hypothesis searches rows drawn from pandera's per-column strategies (the schema's checks
    compiled to hypothesis strategies, as `schema.strategy()` uses them) with the run's seed, for
    `fuzz_max_examples` rows (`fuzz_max_seconds` caps the time), and shrinks what it finds. Where
    pandera cannot express a check, rows come from the column bounds, filtered by that check.
    Without a schema, rows come from the ranges of the reference data or of rows synthesised from
    the graph's inputs. An input whose request row is a whole tensor (rank >= 3, a scalar, no
    batch axis) is fuzzed element-wise: the typical row first, then the tensor filled with (or
    one element set to) each edge value of its dtype, then seeded random tensors within the
    synthesised range; string inputs get the empty, a long and a non-ASCII string. A failure
    shows the counterexample row (tensors summarised: shape, dtype, edge value or min/max), the
    output and a command that reproduces it with onnxruntime alone.
    """
    if ctx.bundle.reference is not None:
        # Rows the model already refuses (a contract mismatch, SCH001) are not a fuzzing finding:
        # scoring the shared reference predictions first lets that surface as the contract error it is.
        ctx.reference_predictions  # noqa: B018
    max_examples = int(ctx.threshold("fuzz_max_examples"))
    max_seconds = float(ctx.threshold("fuzz_max_seconds"))
    timeout = float(ctx.manifest.checks.timeout_s)
    capped = max_seconds > timeout / 2
    if capped:  # a slow model (large tensors) ends its search with a verdict rather than a check timeout
        max_seconds = timeout / 2
    report = ctx.memo(
        ("rob:fuzz", max_examples, max_seconds),
        lambda: fuzz.run(ctx, max_examples=max_examples, max_seconds=max_seconds),
    )
    measured = {
        "edge_cases": report.edge_cases,
        "edge_failures": len(report.edge_failures),
        "search_examples": report.search_examples,
    }
    evidence: dict[str, Any] = {
        "generator": report.generator,
        "bounds_from": report.domain_source,
        "budget": {"max_examples": max_examples, "max_seconds": max_seconds},
        "search": report.search_stopped,
        "duration_s": round(report.seconds, 3),
    }
    if report.notes:
        evidence["notes"] = list(report.notes)
    if capped:
        evidence.setdefault("notes", []).append(
            f"the search's time budget is capped at half of [checks].timeout_s ({timeout:g} s)"
        )
    if not report.failed:
        return passed(
            f"{report.edge_cases} edge cases and {report.search_examples} rows from a seeded "
            f"{'random' if report.generator == 'random tensors' else 'hypothesis'} search scored without error, "
            f"with finite outputs within contract ({report.search_stopped})",
            measured,
            evidence,
        )
    ce = report.counterexample
    assert ce is not None
    where = " (found by search)"
    if ce.phase == "edge" and ce.column is None:
        where = " with every input at its typical value"
    elif ce.phase == "edge":
        value = ce.to_dict()["value"]  # long strings shortened
        where = f" with {ce.where + ' of ' if ce.where else ''}{ce.column} = {value!r} (edge case)"
    evidence["counterexample"] = ce.to_dict()
    evidence["reproduce"] = report.reproduce
    evidence["rerun"] = _rerun(ctx, "ROB001")
    if report.edge_failures:
        evidence["edge_failures"] = [
            {k: v for k, v in f.to_dict().items() if k in ("case", "column", "value", "where")} | {"problem": f.problem}
            for f in report.edge_failures[:20]
        ]
    valid = (
        "a schema-valid input"
        if ctx.bundle.schema is not None
        else "an input within the reference data's ranges"
        if ctx.bundle.reference is not None
        else "an input within the graph's contract"
    )
    return failed(f"{valid} breaks the model{where}: {ce.problem}", measured, evidence)


# --------------------------------------------------------------------------- ROB002
def _numeric_scalar_columns(ctx: Context, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(columns to perturb, columns left alone): float columns, and integer ones fed to a float input."""
    chosen, skipped_cols = [], []
    for col in frame.columns:
        kind = frame[col].dtype.kind
        spec = _spec_for(ctx, col)
        float_input = spec is not None and spec.dtype.startswith("float")
        if kind == "f" or (kind in "iu" and float_input):
            chosen.append(col)
        else:
            skipped_cols.append(col)
    return chosen, skipped_cols


def _clip_to_schema(ctx: Context, col: str, values: np.ndarray) -> np.ndarray:
    schema = ctx.bundle.schema
    if schema is None or col not in schema.columns:
        return values
    dom = fuzz.schema_domain(schema.columns[col], col)
    return np.clip(values, dom.low if dom.low is not None else -np.inf, dom.high if dom.high is not None else np.inf)


@check(
    "ROB002",
    "Perturbation stability",
    category="robustness",
    severity="major",
    requires=["session"],
    mlts=["Infra 2"],
    remediation=(
        "The model's decisions hinge on differences smaller than measurement noise: regularise it, smooth "
        "step-like features (binning, monotonic constraints), or retrain with noise augmentation."
    ),
    thresholds={"perturbation_noise": 0.01, "perturbation_max_flip_rate": 0.05},
)
def perturbation(ctx: Context) -> Result:
    """Small noise on numeric features flips at most a bounded share of predictions.

    Two seeded perturbations of the reference rows (or synthesised rows): additive Gaussian
    noise of `perturbation_noise` (1%) of each numeric feature's standard deviation, and a
    multiplicative factor uniform in ±`perturbation_noise`, as Giskard's scan does. Values
    stay within the schema's bounds. Only numeric scalar columns are perturbed. Fails when
    the share of rows whose label flips (regression: whose prediction moves by more than 10%
    of the predictions' standard deviation) exceeds `perturbation_max_flip_rate`.
    """
    noise = float(ctx.threshold("perturbation_noise"))
    max_rate = float(ctx.threshold("perturbation_max_flip_rate"))
    from_reference = ctx.bundle.reference is not None
    frame = ctx.features if from_reference else ctx.sample_frame
    rng = ctx.rng("ROB002")
    index = np.arange(len(frame))
    if len(frame) > MAX_PERTURB_ROWS:
        index = np.sort(rng.choice(len(frame), MAX_PERTURB_ROWS, replace=False))
    base_frame = frame.iloc[index].reset_index(drop=True)
    cols, left = _numeric_scalar_columns(ctx, base_frame)
    if not cols:
        return skipped("no numeric scalar feature to perturb", evidence={"not_perturbed": left})
    base = ctx.reference_predictions.take(index) if from_reference else ctx.predict(base_frame)
    regression = base.labels is None
    if regression:
        ref_values = np.asarray(base.values, dtype=np.float64)
        tolerance = 0.1 * float(np.nanstd(ref_values)) if len(ref_values) > 1 else 0.0
    results: dict[str, Any] = {}
    worst_rate, worst_kind = -1.0, ""
    examples: list[dict[str, Any]] = []
    for kind in ("additive", "multiplicative"):
        noisy = base_frame.copy()
        for col in cols:
            x = base_frame[col].to_numpy(dtype=np.float64)
            if kind == "additive":
                std = float(np.nanstd(x))
                y = x + rng.normal(0.0, noise * std, len(x)) if std > 0 else x
            else:
                y = x * (1.0 + rng.uniform(-noise, noise, len(x)))
            noisy[col] = _clip_to_schema(ctx, col, y)
        pred = ctx.predict(noisy)
        if regression:
            moved = np.abs(np.asarray(pred.values, dtype=np.float64) - ref_values)
            flips = ~(moved <= tolerance)
            largest = float(np.nanmax(moved)) if len(moved) else 0.0
            change_key = "largest_output_change"
        else:
            flips = np.asarray(pred.labels).astype(str) != np.asarray(base.labels).astype(str)
            largest = 0.0
            if pred.probabilities is not None and base.probabilities is not None:
                diff = np.abs(np.asarray(pred.probabilities, np.float64) - np.asarray(base.probabilities, np.float64))
                largest = float(np.nanmax(diff)) if diff.size else 0.0
            change_key = "largest_probability_change"
        rate = float(flips.mean()) if len(flips) else 0.0
        results[kind] = {"flip_rate": round(rate, 6), "flipped_rows": int(flips.sum()), change_key: round(largest, 6)}
        if rate > worst_rate:
            worst_rate, worst_kind = rate, kind
            examples = [
                {
                    "row": int(index[i]),
                    "before": fuzz.jsonable(base.labels[i] if not regression else base.values[i]),
                    "after": fuzz.jsonable(pred.labels[i] if not regression else pred.values[i]),
                }
                for i in np.flatnonzero(flips)[:5]
            ]
    measured = {
        "rows": len(base_frame),
        "flip_rate": round(worst_rate, 6),
        "max_flip_rate": max_rate,
        **{f"{k}_flip_rate": v["flip_rate"] for k, v in results.items()},
    }
    evidence: dict[str, Any] = {
        "noise": noise,
        "perturbations": results,
        "perturbed_columns": len(cols),
        "rows_from": "reference data" if from_reference else "rows synthesised (no reference data)",
    }
    if left:
        evidence["not_perturbed"] = left[:50]
    what = "moves by more than 10% of the predictions' spread" if regression else "flips its label"
    if worst_rate > max_rate:
        evidence["flipped_examples"] = examples
        evidence["rerun"] = _rerun(ctx, "ROB002")
        return failed(
            f"{worst_rate:.1%} of rows' prediction {what} under {worst_kind} noise of {noise:.0%} "
            f"(limit {max_rate:.1%})",
            measured,
            evidence,
        )
    return passed(
        f"at most {worst_rate:.1%} of rows' prediction {what} under {noise:.0%} noise (limit {max_rate:.1%})",
        measured,
        evidence,
    )


# --------------------------------------------------------------------------- ROB003 / ROB004 helpers
def _probe_rows(ctx: Context) -> pd.DataFrame:
    sample = ctx.sample_frame
    n = min(MAX_PROBE_ROWS, len(sample))
    index = np.sort(ctx.rng("probe_rows").choice(len(sample), n, replace=False))
    return sample.iloc[index].reset_index(drop=True)


@check(
    "ROB003",
    "Missing values are handled",
    category="robustness",
    severity="major",
    requires=["schema", "session"],
    mlts=["Infra 2", "Monitor 5"],
    remediation=(
        "Impute nulls inside the exported model (e.g. a SimpleImputer in the pipeline), make the column "
        "non-nullable in the schema, or declare `on_null: reject` for the input in the serving config."
    ),
)
def missing_values(ctx: Context) -> Result:
    """Nulls in the schema's nullable columns score without error and without NaN outputs.

    Each nullable feature column is set to null in a sample of rows (NaN for numbers, None
    otherwise). A column whose serving input declares `on_null: reject` passes: the server
    rejects those requests before the model sees them (what the model would do is recorded).
    """
    schema = ctx.bundle.schema
    nullable = [c for c in ctx.feature_columns if c in schema.columns and schema.columns[c].nullable]
    if not nullable:
        return passed(
            "no model feature is nullable in the schema: a null is invalid input (see ROB004)",
            {"nullable_columns": 0},
        )
    rows = _probe_rows(ctx)
    table, failing = [], []
    reproduce = None
    for col in nullable:
        frame = rows.copy()
        frame[col] = np.nan if frame[col].dtype.kind in "fiub" else None
        result = fuzz.probe(ctx, frame)
        bad = [i for i, p in enumerate(result.problems) if p]
        spec = _spec_for(ctx, col)
        rejects = spec is not None and spec.on_null == "reject"
        entry: dict[str, Any] = {"column": col, "rows": len(frame), "rows_with_problems": len(bad)}
        if bad:
            entry["problem"] = result.problems[bad[0]]
            entry["output"] = result.outputs[bad[0]]
        entry["status"] = "rejected by the server (on_null: reject)" if rejects else ("fail" if bad else "ok")
        table.append(entry)
        if bad and not rejects:
            failing.append(col)
            reproduce = reproduce or fuzz.reproduce_command(ctx, frame.iloc[bad[0] : bad[0] + 1])
    measured = {"nullable_columns": len(nullable), "failing_columns": len(failing)}
    evidence: dict[str, Any] = {"columns": table}
    if failing:
        evidence["reproduce"] = reproduce
        evidence["rerun"] = _rerun(ctx, "ROB003")
        first = next(e for e in table if e["column"] == failing[0])
        return failed(
            f"a null in nullable column(s) {', '.join(failing[:5])} breaks the model: {first['problem']}",
            measured,
            evidence,
        )
    return passed(f"nulls in {len(nullable)} nullable column(s) are handled", measured, evidence)


def _invalid_values(dom: fuzz.Domain) -> list[tuple[str, Any]]:
    """(what, value) just outside a column's domain: x10 beyond the bounds, negative, unseen categories."""
    out: list[tuple[str, Any]] = []
    if dom.allowed is not None:
        if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in dom.allowed):
            out.append(("unseen category", max(dom.allowed) + 1))
        elif dom.kind != "bool":
            out.append(("unseen category", "__unseen__"))
        return out
    if dom.kind not in ("float", "int"):
        return out
    if dom.high is not None:
        high = float(dom.high)
        value = high * 10 if high > 0 else high + 10 * max(1.0, abs(high - (dom.low or 0.0)))
        out.append(("above the upper bound (x10)", value))
    if dom.low is not None:
        low = float(dom.low)
        if low >= 0:
            value = -max(1.0, abs(float(dom.high))) if dom.high is not None else -1.0
            out.append(("negative where the bound is non-negative", value))
        else:
            out.append(("below the lower bound (x10)", low * 10))
    if dom.kind == "int":
        out = [(what, int(round(v))) for what, v in out]
    return out


@check(
    "ROB004",
    "Out-of-range and unseen inputs",
    category="robustness",
    severity="minor",
    requires=["schema", "session"],
    mlts=["Monitor 2", "Monitor 5"],
    remediation=(
        "Declare `on_invalid: reject` for the input in the serving config (and have the server validate "
        "requests against the schema), or make the model clip/ignore out-of-range and unseen values."
    ),
)
def out_of_range(ctx: Context) -> Result:
    """Values beyond the schema's bounds and unseen categories give finite outputs, or are rejected as declared.

    For every bounded numeric feature: ten times its bound and a negative value where the
    bound is non-negative; for every enumerated one: a category the schema does not allow;
    each in a typical row. An input whose serving config declares `on_invalid: reject` passes
    (the server rejects such requests); `on_invalid: score` (the default) means the model
    must cope: no error, finite outputs within contract.
    """
    doms, _ = fuzz.domains(ctx)
    cases = []
    base = {d.name: d.typical for d in doms}
    for dom in doms:
        for what, value in _invalid_values(dom):
            row = dict(base)
            row[dom.name] = value
            cases.append((dom.name, what, value, row))
    if not cases:
        return skipped("the schema bounds no numeric feature and enumerates no category: nothing is out of range")
    frame = fuzz.request_frame(ctx, [row for *_, row in cases])
    result = fuzz.probe(ctx, frame)
    table, failing, rejected = [], [], 0
    reproduce = None
    for i, (col, what, value, _row) in enumerate(cases):
        spec = _spec_for(ctx, col)
        rejects = spec is not None and spec.on_invalid == "reject"
        problem = result.problems[i]
        status = "rejected by the server (on_invalid: reject)" if rejects else ("fail" if problem else "ok")
        entry = {"column": col, "case": what, "value": fuzz.jsonable(value), "status": status}
        if problem:
            entry["problem"], entry["output"] = problem, result.outputs[i]
        if rejects:
            rejected += 1
        if problem and not rejects:
            failing.append(entry)
            reproduce = reproduce or fuzz.reproduce_command(ctx, frame.iloc[i : i + 1])
        table.append(entry)
    table.sort(key=lambda e: e["status"] != "fail")
    measured = {"cases": len(cases), "failures": len(failing), "rejected_by_server": rejected}
    evidence: dict[str, Any] = {"cases": table[:100]}
    if failing:
        evidence["reproduce"] = reproduce
        evidence["rerun"] = _rerun(ctx, "ROB004")
        first = failing[0]
        cols = sorted({e["column"] for e in failing})
        return failed(
            f"{len(failing)} out-of-range input(s) in {', '.join(cols[:5])}{'...' if len(cols) > 5 else ''} are scored "
            f"(on_invalid: score) but break the model, e.g. {first['column']} = {first['value']!r}: {first['problem']}",
            measured,
            evidence,
        )
    return passed(
        f"{len(cases)} out-of-range and unseen inputs give finite outputs within contract"
        + (f" or are rejected by the server ({rejected})" if rejected else ""),
        measured,
        evidence,
    )


# --------------------------------------------------------------------------- ROB005
def _slice_groups(column: pd.Series, max_groups: int) -> tuple[pd.Series, str | None]:
    """Group keys for a slice column: its values, or quartile bins for a many-valued numeric column."""
    import pandas as pd

    if column.dtype.kind in "fiu" and column.nunique(dropna=True) > max_groups:
        binned = pd.qcut(column, 4, duplicates="drop").astype(str)
        return binned.where(column.notna(), "<missing>"), "binned into quartiles (more than 20 distinct values)"
    return column.astype(object).where(column.notna(), "<missing>").astype(str), None


@check(
    "ROB005",
    "Quality on every slice",
    category="robustness",
    severity="major",
    requires=["reference", "target", "slices", "session"],
    mlts=["Model 6", "Model 7"],
    remediation=(
        "Collect more training data for the weak groups, reweight them, or add features that explain them; "
        "if a group is out of scope, say so in the model card and exclude it at serving time."
    ),
    thresholds={"min_metric": {}, "slice_min_size": 30, "slice_max_gap": 0.1},
)
def slices(ctx: Context) -> Result:
    """The primary metric on every group of every `[data].slices` column meets the bar, and the worst is near the whole.

    Groups smaller than `slice_min_size` rows (or where the metric is undefined, e.g. one
    class only) are reported but not judged. Each judged group must meet `min_metric` for
    the primary metric when one is set, and be at most `slice_max_gap` worse than the
    metric on the whole reference data. A numeric slice column with more than 20 distinct
    values is cut into quartiles.
    """
    task = ctx.task
    if task is None:
        return skipped("the task is unknown: set [model].task")
    minimum = ctx.threshold("min_metric") or {}
    if not isinstance(minimum, dict):  # a bare number is a bar for the primary metric
        minimum = {mx.PRIMARY[task]: float(minimum)}
    metric = next((m for m in minimum if m in mx.TASK_METRICS[task]), mx.PRIMARY[task])
    bar = minimum.get(metric)
    min_size = int(ctx.threshold("slice_min_size"))
    max_gap = float(ctx.threshold("slice_max_gap"))
    higher = mx.HIGHER_IS_BETTER[metric]
    y = ctx.y_true
    pred = ctx.reference_predictions
    overall = mx.compute(metric, task, y, pred)
    ref = ctx.reference
    table: list[dict[str, Any]] = []
    notes: list[str] = []
    problems: list[str] = []
    worst: dict[str, Any] | None = None
    for col in ctx.manifest.data.slices:
        groups, note = _slice_groups(ref[col], 20)
        if note:
            notes.append(f"{col}: {note}")
        for key in sorted(set(groups.tolist())):
            mask = (groups == key).to_numpy()
            size = int(mask.sum())
            entry: dict[str, Any] = {"slice": col, "group": key, "size": size}
            value = float("nan")
            if size:
                try:
                    value = mx.compute(metric, task, y[mask], pred.take(mask))
                except (ValueError, ZeroDivisionError):
                    value = float("nan")
            entry[metric] = None if not np.isfinite(value) else round(value, 6)
            if size < min_size:
                entry["judged"] = False
                entry["status"] = f"not judged: fewer than {min_size} rows"
            elif not np.isfinite(value):
                entry["judged"] = False
                entry["status"] = f"not judged: {metric} is undefined on this group"
            else:
                entry["judged"] = True
                gap = (overall - value) if higher else (value - overall)
                entry["gap"] = round(gap, 6)
                reasons = []
                if bar is not None and (value < bar if higher else value > bar):
                    reasons.append(f"{metric} {value:.3f} misses the bar {bar}")
                if gap > max_gap:
                    reasons.append(f"{gap:.3f} worse than the whole ({overall:.3f}; limit {max_gap})")
                entry["status"] = "fail" if reasons else "ok"
                if reasons:
                    problems.append(f"{col}={key}: " + " and ".join(reasons))
                if worst is None or gap > worst["gap"]:
                    worst = entry
            table.append(entry)
    judged = [e for e in table if e["judged"]]
    measured: dict[str, Any] = {
        "metric": metric,
        "overall": round(overall, 6),
        "groups": len(table),
        "judged_groups": len(judged),
        "failing_groups": len(problems),
        "max_gap": max_gap,
    }
    if worst is not None:
        measured["worst_group"] = f"{worst['slice']}={worst['group']}"
        measured["worst"] = worst[metric]
        measured["worst_gap"] = worst["gap"]
    if bar is not None:
        measured["min_metric"] = bar
    evidence: dict[str, Any] = {"groups": table}
    if notes:
        evidence["notes"] = notes
    if problems:
        return failed(f"{len(problems)} slice group(s) fall short: " + "; ".join(problems[:3]), measured, evidence)
    if not judged:
        return skipped(f"no slice group has {min_size} rows or more to judge", measured, evidence)
    return passed(
        f"all {len(judged)} judged group(s) meet the bar; the worst ({measured['worst_group']}, "
        f"{metric} {measured['worst']:.3f}) is within {max_gap} of the whole ({overall:.3f})",
        measured,
        evidence,
    )
