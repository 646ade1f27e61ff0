"""Robustness checks: fuzzing, perturbation stability, missing values, out-of-range inputs, slices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import chunked, fuzz
from .. import metrics as mx
from ..registry import Result, check, failed, inconclusive, passed, skipped

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
    timeout = float(ctx.check_timeout_s)
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
            f"the search's time budget is capped at half of the check time limit ({timeout:g} s; "
            "--check-timeout, lowered by [checks].timeout_s)"
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


def _spread(values: np.ndarray) -> tuple[float, str]:
    """(interquartile range, "interquartile range"), or the standard deviation when the IQR is 0."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return 0.0, "interquartile range"
    q1, q3 = np.percentile(values, [25, 75])
    if q3 > q1:
        return float(q3 - q1), "interquartile range"
    return float(np.std(values)), "standard deviation"


def _regression_scale(ctx: Context, base_values: np.ndarray) -> tuple[float, str]:
    """The spread a regression flip is measured against: the reference target's, else the predictions'."""
    y = ctx.y_true
    if y is not None:
        try:
            spread, what = _spread(np.asarray(y, dtype=np.float64))
        except (TypeError, ValueError):
            spread = 0.0
        if spread > 0:
            return spread, f"the reference target's {what}"
    spread, what = _spread(np.asarray(base_values, dtype=np.float64).ravel())
    return spread, f"the predictions' {what}"


def _perturb(frame: pd.DataFrame, cols: list[str], stds: dict[str, float], kind: str, noise: float, rng: Any) -> Any:
    noisy = frame.copy()
    for col in cols:
        x = frame[col].to_numpy(dtype=np.float64)
        if kind == "additive":
            y = x + rng.normal(0.0, noise * stds[col], len(x)) if stds[col] > 0 else x
        else:
            y = x * (1.0 + rng.uniform(-noise, noise, len(x)))
        noisy[col] = y
    return noisy


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
    thresholds={
        "perturbation_noise": 0.01,
        "perturbation_max_flip_rate": 0.05,
        "perturbation_regression_flip": 0.1,
        "perturbation_confidence": 0.95,
        "perturbation_max_rows": 16000,
    },
)
def perturbation(ctx: Context) -> Result:
    """Small noise on numeric features flips at most a bounded share of predictions, judged on a confidence bound.

    Two seeded perturbations of the reference rows (or synthesised rows): additive Gaussian
    noise of `perturbation_noise` (1%) of each numeric feature's standard deviation, and a
    multiplicative factor uniform in ±`perturbation_noise`, as Giskard's scan does. Values
    stay within the schema's bounds. Only numeric scalar columns are perturbed. A row flips
    when its label changes; for regression, when its prediction moves by more than
    `perturbation_regression_flip` (0.1) times the interquartile range of the reference
    target (without a target: of the predictions).

    The flip share is judged on an exact (Clopper-Pearson) binomial interval, as LAT001
    judges latency: pass when its upper bound is within `perturbation_max_flip_rate` (5%),
    fail when its lower bound exceeds it. Otherwise more rows are drawn (the same rows
    resampled, with fresh noise), doubling the sample up to `perturbation_max_rows` (16000)
    per perturbation, then `inconclusive`. Each look is at `perturbation_confidence` (95%)
    split over the planned looks (Bonferroni), so the verdict does not hang on the seed.
    """
    from ..stats import bonferroni, judge_share, planned_sizes, share_interval

    noise = float(ctx.threshold("perturbation_noise"))
    max_rate = float(ctx.threshold("perturbation_max_flip_rate"))
    fraction = float(ctx.threshold("perturbation_regression_flip"))
    confidence = float(ctx.threshold("perturbation_confidence"))
    cap = int(ctx.threshold("perturbation_max_rows"))
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
    unscaled = _unscaled_columns(ctx, cols)
    base = ctx.reference_predictions.take(index) if from_reference else ctx.predict(base_frame)
    regression = base.labels is None
    if regression:
        ref_values = np.asarray(base.values, dtype=np.float64).reshape(len(base), -1)
        spread, spread_name = _regression_scale(ctx, ref_values)
        tolerance = fraction * spread
        what = f"moves by more than {fraction:g} x {spread_name} ({tolerance:.4g})"
    else:
        what = "flips its label"
    stds = {col: float(np.nanstd(base_frame[col].to_numpy(dtype=np.float64))) for col in cols}
    sizes = planned_sizes(len(base_frame), max(cap, len(base_frame)))
    kinds = ("additive", "multiplicative")
    per_look = bonferroni(confidence, len(sizes) * len(kinds))
    results: dict[str, Any] = {}
    verdicts: dict[str, str] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    for kind in kinds:
        flipped, scored, largest = 0, 0, 0.0
        verdict, interval = "undecided", None
        examples[kind] = []
        for look, size in enumerate(sizes):
            rows = np.arange(len(base_frame)) if look == 0 else rng.integers(0, len(base_frame), size - scored)
            noisy = _perturb(base_frame.iloc[rows].reset_index(drop=True), cols, stds, kind, noise, rng)
            for col in cols:
                noisy[col] = _clip_to_schema(ctx, col, noisy[col].to_numpy(dtype=np.float64))
            pred = ctx.predict(noisy)
            before = base.take(rows)
            if regression:
                after = np.asarray(pred.values, dtype=np.float64).reshape(len(rows), -1)
                moved = np.abs(after - ref_values[rows]).max(axis=1)
                flips = ~(moved <= tolerance)
                largest = max(largest, float(np.nanmax(moved)) if len(moved) else 0.0)
            else:
                flips = np.asarray(pred.labels).astype(str) != np.asarray(before.labels).astype(str)
                if pred.probabilities is not None and before.probabilities is not None:
                    diff = np.abs(
                        np.asarray(pred.probabilities, np.float64) - np.asarray(before.probabilities, np.float64)
                    )
                    largest = max(largest, float(np.nanmax(diff)) if diff.size else 0.0)
            for i in np.flatnonzero(flips)[: 5 - len(examples[kind])]:
                examples[kind].append(
                    {
                        "row": int(index[rows[i]]),
                        "before": fuzz.jsonable(before.values[i] if regression else before.labels[i]),
                        "after": fuzz.jsonable(pred.values[i] if regression else pred.labels[i]),
                    }
                )
            flipped += int(flips.sum())
            scored += len(rows)
            interval = share_interval(flipped, scored, per_look)
            verdict = judge_share(interval, max_rate)
            if verdict != "undecided":
                break
        assert interval is not None
        verdicts[kind] = verdict
        results[kind] = {
            "rows": scored,
            "flipped_rows": flipped,
            "flip_rate": round(interval.point, 6),
            "flip_rate_lower": round(interval.lower, 6),
            "flip_rate_upper": round(interval.upper, 6),
            "verdict": verdict,
            "largest_output_change" if regression else "largest_probability_change": round(largest, 6),
        }
    worst = max(kinds, key=lambda k: (verdicts[k] == "fail", verdicts[k] == "undecided", results[k]["flip_rate_upper"]))
    w = results[worst]
    measured: dict[str, Any] = {
        "rows": w["rows"],
        "flip_rate": w["flip_rate"],
        "flip_rate_lower": w["flip_rate_lower"],
        "flip_rate_upper": w["flip_rate_upper"],
        "max_flip_rate": max_rate,
        **{f"{k}_flip_rate": v["flip_rate"] for k, v in results.items()},
    }
    evidence: dict[str, Any] = {
        "noise": noise,
        "perturbations": results,
        "perturbed_columns": len(cols),
        "rows_from": "reference data" if from_reference else _synthesised_from(ctx),
        "flip": what,
        "rule": (
            f"exact binomial bounds at {confidence:.0%} (Bonferroni over {len(sizes) * len(kinds)} looks: "
            f"{per_look:.4f} each); rows resampled with fresh noise, doubling up to {sizes[-1]} per perturbation"
        ),
    }
    if regression:
        evidence["flip_threshold"] = {"fraction": fraction, "spread": round(spread, 6), "of": spread_name}
    if left:
        evidence["not_perturbed"] = left[:50]
    if examples[worst]:
        evidence["flipped_examples"] = examples[worst]
    share = (
        f"{w['flip_rate']:.1%} of {w['rows']} rows' prediction {what} under {worst} noise of {noise:.0%} "
        f"({confidence:.0%} bounds {w['flip_rate_lower']:.1%}-{w['flip_rate_upper']:.1%}; limit {max_rate:.1%})"
    )
    if unscaled:
        evidence["unscaled_columns"] = unscaled[:50]
        return skipped(
            f"measured only: {share}; the rows were synthesised and the graph states no scale for "
            f"{len(unscaled)} input column(s) (e.g. {unscaled[0]}), so noise relative to them judges nothing: "
            "add reference data or a schema with bounds",
            measured,
            evidence,
        )
    if regression and not from_reference:
        return skipped(
            f"measured only: {share}; without reference data the predictions' spread on invented rows says "
            "nothing about what a large move is: add reference data with its target",
            measured,
            evidence,
        )
    if verdicts[worst] == "fail":
        evidence["rerun"] = _rerun(ctx, "ROB002")
        return failed(share, measured, evidence)
    if any(v == "undecided" for v in verdicts.values()):
        return inconclusive(
            f"{share}: the bounds still straddle the limit after {w['rows']} rows "
            "(raise perturbation_max_rows to decide)",
            measured,
            evidence,
        )
    return passed(
        f"at most {w['flip_rate_upper']:.1%} of rows' prediction {what} under {worst} noise of {noise:.0%} "
        f"({confidence:.0%} upper bound; measured {w['flip_rate']:.1%} of {w['rows']} rows; limit {max_rate:.1%})",
        measured,
        evidence,
    )


def _synthesised_from(ctx: Context) -> str:
    if ctx.bundle.schema is not None:
        return "rows synthesised from the schema's bounds (no reference data)"
    return "rows synthesised on the scales the graph states (no reference data)"


def _unscaled_columns(ctx: Context, cols: list[str]) -> list[str]:
    from .. import synth

    return synth.unscaled_columns(ctx, cols)


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
def _round(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _slice_groups(column: pd.Series, max_groups: int) -> tuple[pd.Series, str | None]:
    """Group keys for a slice column: its values, or quartile bins for a many-valued numeric column."""
    import pandas as pd

    if column.dtype.kind in "fiu" and column.nunique(dropna=True) > max_groups:
        binned = pd.qcut(column, 4, duplicates="drop").astype(str)
        return binned.where(column.notna(), "<missing>"), "binned into quartiles (more than 20 distinct values)"
    return column.astype(object).where(column.notna(), "<missing>").astype(str), None


def _slice_measures(
    ctx: Context, task: str, y: Any, pred: Any, streamed: chunked.Evidence | None, notes: list[str]
) -> list[tuple[str, str, chunked.Measure]]:
    """(slice column, group, its metrics) for every group of every `[data].slices` column: from the rows in
    memory, or from the statistics streamed over every row (the sample's rows of the group for the bootstrap)."""
    ref = ctx.reference
    out: list[tuple[str, str, chunked.Measure]] = []
    for col in ctx.manifest.data.slices:
        if streamed is None:
            groups, note = _slice_groups(ref[col], 20)
        else:
            cut, note = chunked.slice_cutter(ref[col])
            groups = cut(ref[col])
        if note:
            notes.append(f"{col}: {note}")
        keys = sorted(set(groups.tolist())) if streamed is None else sorted(k for c, k in streamed.groups if c == col)
        for key in keys:
            mask = (groups == key).to_numpy()
            if streamed is None:
                out.append((col, key, chunked.InMemory(task, y[mask], pred.take(mask))))
            else:
                out.append((col, key, chunked.Streamed(streamed.groups[(col, key)], y[mask], pred.take(mask))))
    return out


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
    thresholds={
        "min_metric": {},
        "slice_min_size": 30,
        "slice_max_gap": 0.1,
        "confidence": 0.95,
        "bootstrap_resamples": 1000,
    },
)
def slices(ctx: Context) -> Result:
    """The primary metric on every group of every `[data].slices` column meets the bar, and the worst is near the whole.

    Groups smaller than `slice_min_size` rows (or where the metric is undefined, e.g. one
    class only) are reported but not judged. Each judged group must meet `min_metric` for
    the primary metric when one is set, and be at most `slice_max_gap` worse than the
    metric on the whole reference data. A numeric slice column with more than 20 distinct
    values is cut into quartiles.

    A group is a sample of that group's traffic: each gets one-sided bounds at `confidence`
    (95%; DeLong for ROC AUC, exact binomial for accuracy, a seeded bootstrap otherwise). A
    group that falls short is a `fail` when even its bound on the good side falls short, and
    `inconclusive` (more rows decide) when only its measured value does.
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
    reference = ctx.reference_data
    streamed = chunked.reference_evidence(ctx, task) if reference.sampled else None
    if streamed is not None:
        nan = chunked.nonfinite_message(streamed, reference.rows)
        whole: chunked.Measure = chunked.Streamed(streamed.overall, y, pred)
    else:
        nan = mx.nonfinite_outputs(pred)
        whole = chunked.InMemory(task, y, pred)
    if nan is not None:
        return failed(*nan)
    overall = whole.value(metric)
    table: list[dict[str, Any]] = []
    notes: list[str] = []
    problems: list[str] = []
    unsure: list[str] = []
    confidence = float(ctx.threshold("confidence"))
    resamples = int(ctx.threshold("bootstrap_resamples"))
    worst: dict[str, Any] | None = None
    for col, key, measure in _slice_measures(ctx, task, y, pred, streamed, notes):
        size = measure.rows
        entry: dict[str, Any] = {"slice": col, "group": key, "size": size}
        value = float("nan")
        if size:
            try:
                value = measure.value(metric)
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
            lo, hi, _method = measure.bounds(
                metric, confidence=confidence, rng=ctx.rng(f"ROB005:{col}={key}"), n_resamples=resamples
            )
            entry["ci_lower"], entry["ci_upper"] = _round(lo), _round(hi)
            best = (hi if higher else lo) if lo is not None and hi is not None else value
            best_gap = (overall - best) if higher else (best - overall)
            reasons, sure = [], False
            if bar is not None and (value < bar if higher else value > bar):
                reasons.append(f"{metric} {value:.3f} misses the bar {bar}")
                sure |= best < bar if higher else best > bar
            if gap > max_gap:
                reasons.append(f"{gap:.3f} worse than the whole ({overall:.3f}; limit {max_gap})")
                sure |= best_gap > max_gap
            entry["status"] = "ok" if not reasons else "fail" if sure else "inconclusive"
            if reasons:
                text = f"{col}={key}: " + " and ".join(reasons)
                if sure:
                    problems.append(text)
                else:
                    unsure.append(text + f" ({confidence:.0%} bounds {_round(lo)}-{_round(hi)} do not exclude it)")
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
    measured["undecided_groups"] = len(unsure)
    if problems:
        return failed(f"{len(problems)} slice group(s) fall short: " + "; ".join(problems[:3]), measured, evidence)
    if unsure:
        return inconclusive(
            f"{len(unsure)} slice group(s) fall short on their measured value, but too few rows to be sure: "
            + "; ".join(unsure[:3]),
            measured,
            evidence,
        )
    if not judged:
        return skipped(f"no slice group has {min_size} rows or more to judge", measured, evidence)
    return passed(
        f"all {len(judged)} judged group(s) meet the bar; the worst ({measured['worst_group']}, "
        f"{metric} {measured['worst']:.3f}) is within {max_gap} of the whole ({overall:.3f})",
        measured,
        evidence,
    )
