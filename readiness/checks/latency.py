"""Latency and resource checks (LAT001-LAT005), judged on confidence bounds.

Every check here is `exclusive`: the runner runs it alone, after all other checks,
so no other work competes with the timed calls.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np

from readiness import stats, timing
from readiness.registry import Result, check, failed, inconclusive, passed, skipped
from readiness.runtime import ProviderUnavailable

PERCENTILES: dict[str, float] = {"p50_ms": 0.50, "p90_ms": 0.90, "p95_ms": 0.95, "p99_ms": 0.99}
MLTS = ["Monitor 6"]  # computing performance has not regressed


def _ms(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 4)


def _confidence(ctx: Any) -> float:
    c = float(ctx.threshold("latency_confidence"))
    if not 0.5 < c < 1:
        raise ValueError(f"[policy.thresholds].latency_confidence must be in (0.5, 1), got {c}")
    return c


def _budgets(ctx: Any) -> dict[int, dict[str, float]]:
    """batch size -> {"p99_ms": budget, ...} from the serving config's slo.latency."""
    out: dict[int, dict[str, float]] = {}
    if ctx.serving is None:
        return out
    for entry in ctx.serving.slo.latency:
        for key in PERCENTILES:
            value = getattr(entry, key)
            if value is not None:
                out.setdefault(entry.batch_size, {})[key] = float(value)
    return out


def _describe(times_ns: np.ndarray, keys: list[str], confidence: float) -> dict[str, Any]:
    row: dict[str, Any] = {"samples": int(times_ns.size)}
    for key in keys:
        iv = stats.quantile_interval(times_ns, PERCENTILES[key], confidence)
        row[key] = _ms(iv.point)
        row[f"{key}_lower"] = _ms(iv.lower)
        row[f"{key}_upper"] = _ms(iv.upper)
    return row


def _rows_note(measured: dict[str, Any], r: Any) -> str:
    """How many distinct request rows the timed calls were drawn from, e.g. 'timed on 200 of 200 request rows'."""
    counts = [row.get("distinct_rows", 0) for row in measured.values() if isinstance(row, dict)]
    total = next(iter(r.timers.values())).rows.n if r.timers else 0
    return f"timed on up to {max(counts, default=0)} distinct of {total} request rows"


def look_schedule(required: int, looks: int, first: int = 30, floor: int = 0) -> list[int]:
    """Sample counts at which LAT001 looks, planned before sampling: an early small look (enough
    to fail a clearly slow model), then at least the count an upper bound needs (and at least
    `floor`, the calls that fill the minimum measuring time), doubling at each later look."""
    if looks <= 1:
        return [max(first, required, floor)]
    base = max(2 * first, required, floor)
    return [first] + [base * 2**k for k in range(looks - 1)]


@check(
    "LAT001",
    "Latency percentiles meet the SLO",
    category="latency",
    severity="major",
    requires=["session"],
    mlts=MLTS,
    remediation="Make the model cheaper (fewer/smaller trees or layers, quantisation), serve smaller batches, "
    "or renegotiate the budget in slo.latency; see `measured` for each percentile's bounds.",
    thresholds={
        "latency_confidence": 0.95,
        "latency_max_looks": 4,
        "latency_time_cap_s": 20.0,
        "latency_min_time_s": 1.0,
        "latency_max_samples": 20_000,
        "latency_warmup_cap_s": 5.0,
    },
    exclusive=True,
)
def latency_percentiles(ctx: Any) -> Result:
    """Latency percentiles at each batch size meet the SLO, judged on order-statistic confidence bounds.

    For each batch size and each percentile in `slo.latency`, every call is timed on
    its own (after a separate warm-up), each on the next batch of request rows drawn
    from the whole reference data (seeded order, reshuffled per pass; `measured` says
    how many distinct rows were timed) and a distribution-free binomial confidence
    interval is put on the percentile. The check passes when the upper bound is within
    the budget and fails when the lower bound exceeds it; otherwise it samples more,
    looking again at pre-planned sample counts, up to `latency_time_cap_s` per batch
    size, and then reports `inconclusive`. Every deciding look measures for at least
    `latency_min_time_s` (up to `latency_max_samples` calls), so a percentile is not
    read off a few milliseconds of a shared machine's life. Repeated looks are paid for with a
    Bonferroni correction: each of the `latency_max_looks` looks uses confidence
    1 - (1 - latency_confidence) / latency_max_looks, so the chance that any look
    decides wrongly stays within 1 - latency_confidence. p99 at 95% needs at least
    299 samples (MLPerf LoadGen's early-stopping rule). Without a budget the
    percentiles are measured and reported, and the check is skipped.
    """
    confidence = _confidence(ctx)
    max_looks = max(1, int(ctx.threshold("latency_max_looks")))
    cap_s = float(ctx.threshold("latency_time_cap_s"))
    min_time_s = float(ctx.threshold("latency_min_time_s"))
    max_samples = int(ctx.threshold("latency_max_samples"))
    r = timing.rig(ctx, float(ctx.threshold("latency_warmup_cap_s")))
    budgets = _budgets(ctx)
    measured: dict[str, Any] = {}
    evidence: dict[str, Any] = {
        "session": r.describe(),
        "confidence": confidence,
        "method": "order-statistic (binomial) one-sided bounds; Bonferroni over planned looks",
        "warmup": {},
        "looks": {},
        "raw_times": {},
        "request_rows": {},  # per batch size: distinct request rows timed, of how many
    }

    if not budgets:
        sizes = sorted({1, ctx.max_batch_size})
        keys = ["p50_ms", "p95_ms", "p99_ms"]
        need = stats.min_samples(PERCENTILES["p99_ms"], confidence)
        for b in sizes:
            t = r.timer(b)
            floor = int(min(max_samples, min_time_s * 1e9 / max(t.per_call_ns, 1.0)))
            t.sample_until(max(need, floor), time.perf_counter_ns() + int(cap_s * 1e9))
            measured[f"batch_{b}"] = {**_describe(t.array, keys, confidence), "distinct_rows": t.rows.distinct_rows}
            evidence["warmup"][f"batch_{b}"] = t.warmup
            evidence["request_rows"][f"batch_{b}"] = t.rows.describe()
            evidence["raw_times"][f"batch_{b}"] = timing.encode_times(t.array)
        return skipped(
            "no latency budget in the serving config (slo.latency); percentiles measured and reported only"
            f" ({_rows_note(measured, r)})",
            measured,
            evidence,
        )

    per_look = stats.bonferroni(confidence, max_looks)
    evidence["per_look_confidence"] = per_look
    verdicts: dict[str, str] = {}
    lines: list[str] = []
    for b, budget in sorted(budgets.items()):
        name = f"batch_{b}"
        t = r.timer(b)
        keys = list(budget)
        required = max(stats.min_samples(PERCENTILES[k], per_look) for k in keys)
        deadline = time.perf_counter_ns() + int(cap_s * 1e9)  # (the warm-up just ran a full gc)
        decisions: dict[str, str] = dict.fromkeys(keys, "undecided")
        decided_at: dict[str, int] = {}
        looks = 0
        floor = int(min(max_samples, min_time_s * 1e9 / max(t.per_call_ns, 1.0)))
        for target in look_schedule(required, max_looks, floor=floor):
            t.sample_until(min(target, max(max_samples, required)), deadline)
            looks += 1
            arr = t.array
            for k in keys:
                if decisions[k] == "undecided":  # a decision, once taken, stands (sequential test)
                    decisions[k] = stats.judge(stats.quantile_interval(arr, PERCENTILES[k], per_look), budget[k] * 1e6)
                    if decisions[k] != "undecided":
                        decided_at[k] = int(arr.size)
            done = all(d != "undecided" for d in decisions.values()) or "fail" in decisions.values()
            if done or time.perf_counter_ns() >= deadline:
                break
        row = _describe(t.array, keys, per_look)
        row["budget"] = dict(budget)
        row["distinct_rows"] = t.rows.distinct_rows
        evidence["request_rows"][name] = t.rows.describe()
        measured[name] = row
        evidence["looks"][name] = {"looks": looks, "decisions": decisions, "decided_at_samples": decided_at}
        evidence["warmup"][name] = t.warmup
        evidence["raw_times"][name] = timing.encode_times(t.array)
        for k, d in decisions.items():
            verdicts[f"{name}.{k}"] = d
            lines.append(
                f"batch {b} {k[:-3]} {row[k]} ms [{row[f'{k}_lower']}, {row[f'{k}_upper']}] vs {budget[k]} ms: "
                + {"pass": "within", "fail": "over", "undecided": "undecided"}[d]
            )
    summary = "; ".join(lines) + f" ({_rows_note(measured, r)})"
    if any(d == "fail" for d in verdicts.values()):
        over = [k for k, d in verdicts.items() if d == "fail"]
        return failed(f"latency over budget with confidence at {', '.join(over)}: {summary}", measured, evidence)
    if any(d == "undecided" for d in verdicts.values()):
        open_ = [k for k, d in verdicts.items() if d == "undecided"]
        return inconclusive(
            f"could not decide {', '.join(open_)} within the sampling cap of {cap_s:g} s per batch size "
            f"(the confidence interval straddles the budget): {summary}",
            measured,
            evidence,
        )
    return passed(f"every latency budget is met with confidence: {summary}", measured, evidence)


@check(
    "LAT002",
    "Throughput at max_batch_size meets the SLO",
    category="latency",
    severity="major",
    requires=["session"],
    mlts=MLTS,
    remediation="Raise max_batch_size, use more intra-op threads, or make the model cheaper.",
    thresholds={
        "latency_confidence": 0.95,
        "latency_throughput_samples": 200,
        "latency_time_cap_s": 20.0,
        "latency_warmup_cap_s": 5.0,
    },
    exclusive=True,
)
def throughput(ctx: Any) -> Result:
    """Single-stream throughput (rows per second) at max_batch_size meets slo.throughput_rps.

    Throughput is max_batch_size divided by the mean per-call latency; a percentile
    bootstrap (seeded) over the means of 50 contiguous chunks of calls gives its bounds. Passes when the lower
    bound meets the target, fails when the upper bound misses it, else inconclusive.
    """
    confidence = _confidence(ctx)
    b = ctx.max_batch_size
    r = timing.rig(ctx, float(ctx.threshold("latency_warmup_cap_s")))
    t = r.timer(b)
    cap_s = float(ctx.threshold("latency_time_cap_s"))
    gc.collect()
    t.sample_until(int(ctx.threshold("latency_throughput_samples")), time.perf_counter_ns() + int(cap_s * 1e9))
    arr = t.array.astype(np.float64)
    # means of contiguous chunks: a burst of machine noise stays inside one chunk, so the
    # bootstrap over chunk means sees it as what it is (correlated), not as many independent draws
    chunks = min(50, arr.size)
    usable = arr[: arr.size - arr.size % chunks]
    chunk_means = usable.reshape(chunks, -1).mean(axis=1)
    low_ns, high_ns = stats.mean_bounds(chunk_means, confidence, ctx.rng("LAT002"), resamples=2000)
    rps = b * 1e9 / usable.mean()
    lower = b * 1e9 / high_ns
    upper = b * 1e9 / low_ns
    target = ctx.serving.slo.throughput_rps if ctx.serving else None
    measured = {
        "batch_size": b,
        "samples": int(arr.size),
        "throughput_rps": round(rps, 1),
        "throughput_rps_lower": round(lower, 1),
        "throughput_rps_upper": round(upper, 1),
        "mean_ms": _ms(arr.mean()),
        "target_rps": target,
    }
    evidence = {
        "session": r.describe(),
        "confidence": confidence,
        "method": f"percentile bootstrap (2000, seeded) over the means of {chunks} contiguous chunks of calls",
        "chunk_mean_ms": [round(x / 1e6, 6) for x in chunk_means],
    }
    text = f"{rps:.0f} rows/s [{lower:.0f}, {upper:.0f}] at batch {b}"
    if target is None:
        return skipped(f"no throughput target (slo.throughput_rps); measured {text}", measured, evidence)
    if lower >= target:
        return passed(f"{text} meets {target:g} rows/s", measured, evidence)
    if upper < target:
        return failed(f"{text} is below {target:g} rows/s with confidence", measured, evidence)
    return inconclusive(f"{text} straddles the target of {target:g} rows/s", measured, evidence)


def _probe(ctx: Any) -> dict[str, Any]:
    # at least as many runs as an order-statistic bound on the median needs (5 at 95%)
    runs = max(int(ctx.threshold("latency_probe_runs")), stats.min_samples(0.5, _confidence(ctx)))
    return timing.probe_fresh_processes(ctx, runs)


def _median_bounds(values: list[float], confidence: float) -> tuple[float, float | None, float | None]:
    iv = stats.quantile_interval(values, 0.5, confidence)
    return iv.point, iv.lower, iv.upper


@check(
    "LAT003",
    "Session load time within max_load_ms",
    category="latency",
    severity="minor",
    requires=["session"],
    mlts=MLTS,
    remediation="Shrink the model or lower the graph optimisation level; or raise resources.max_load_ms.",
    thresholds={"latency_probe_runs": 5, "latency_confidence": 0.95},
    exclusive=True,
)
def load_time(ctx: Any) -> Result:
    """Session creation plus first inference, in fresh processes, is within resources.max_load_ms.

    Each of `latency_probe_runs` fresh Python processes (`python -I`, importing only
    numpy and onnxruntime, imports not timed) creates a session configured like the
    serving one and answers one request of max_batch_size rows. Creation and first
    inference are timed apart; their sum (the time until the first answer) is judged
    by its median, with order-statistic bounds (with 5 runs: the fastest and slowest).
    """
    confidence = _confidence(ctx)
    probe = _probe(ctx)
    runs = probe["runs"]
    create = [x["create_ms"] for x in runs]
    first = [x["first_inference_ms"] for x in runs]
    total = [c + f for c, f in zip(create, first, strict=True)]
    med, lo, hi = _median_bounds(total, confidence)
    budget = ctx.serving.resources.max_load_ms if ctx.serving else None
    measured = {
        "runs": len(runs),
        "create_ms_median": round(float(np.median(create)), 3),
        "create_ms_max": round(max(create), 3),
        "first_inference_ms_median": round(float(np.median(first)), 3),
        "first_inference_ms_max": round(max(first), 3),
        "load_ms_median": round(med, 3),
        "load_ms_lower": None if lo is None else round(lo, 3),
        "load_ms_upper": None if hi is None else round(hi, 3),
        "load_ms_max": round(max(total), 3),
        "budget_ms": budget,
    }
    evidence = {"probe": probe, "confidence": confidence}
    text = f"load (creation + first inference) median {med:.1f} ms, max {max(total):.1f} ms over {len(runs)} runs"
    if budget is None:
        return skipped(f"no load-time budget (resources.max_load_ms); measured {text}", measured, evidence)
    verdict = stats.judge(stats.quantile_interval(total, 0.5, confidence), budget)
    if verdict == "pass":
        return passed(f"{text}, within {budget:g} ms", measured, evidence)
    if verdict == "fail":
        return failed(f"{text}, over {budget:g} ms with confidence", measured, evidence)
    return inconclusive(f"{text}: the runs straddle {budget:g} ms", measured, evidence)


@check(
    "LAT004",
    "Peak memory of a serving process within max_memory_mb",
    category="latency",
    severity="major",
    requires=["session"],
    mlts=MLTS,
    remediation="Reduce the model size, the batch size or the memory arena; or raise resources.max_memory_mb.",
    thresholds={"latency_probe_runs": 5},
    exclusive=True,
)
def peak_memory(ctx: Any) -> Result:
    """Peak resident memory of a fresh process that loads the model and serves the largest batch.

    Measured with `getrusage` (ru_maxrss) in the same fresh processes as LAT003: the
    whole process (Python, numpy, onnxruntime, the session, max_batch_size requests),
    since that is what the serving container must hold. Fails when any run exceeds
    resources.max_memory_mb (MiB); the import-only peak is reported for reference.
    """
    probe = _probe(ctx)
    runs = probe["runs"]
    peaks = [x["peak_rss_mb"] for x in runs]
    imported = [x["imported_peak_mb"] for x in runs]
    budget = ctx.serving.resources.max_memory_mb if ctx.serving else None
    measured = {
        "runs": len(runs),
        "peak_rss_mb_median": round(float(np.median(peaks)), 1),
        "peak_rss_mb_max": round(max(peaks), 1),
        "imports_only_mb_median": round(float(np.median(imported)), 1),
        "model_mb_median": round(float(np.median(np.subtract(peaks, imported))), 1),
        "batch_size": probe["batch_size"],
        "budget_mb": budget,
    }
    text = f"peak RSS {max(peaks):.0f} MiB (median {np.median(peaks):.0f}) serving batch {probe['batch_size']}"
    evidence = {"probe": probe}
    if budget is None:
        return skipped(f"no memory budget (resources.max_memory_mb); measured {text}", measured, evidence)
    if max(peaks) <= budget:
        return passed(f"{text}, within {budget:g} MiB", measured, evidence)
    return failed(f"{text}, over {budget:g} MiB", measured, evidence)


def _regression_batch_sizes(ctx: Any) -> list[int]:
    sizes = sorted(_budgets(ctx))
    return sizes or [1]


@check(
    "LAT005",
    "No latency regression against the baseline",
    category="latency",
    severity="major",
    requires=["session", "baseline"],
    mlts=MLTS,
    remediation="Find what made the candidate slower (bigger model, more trees, an unfused op) or accept the "
    "regression by raising [policy.thresholds].latency_regression_tolerance.",
    thresholds={
        "latency_regression_tolerance": 0.10,
        "latency_regression_blocks": 40,
        "latency_confidence": 0.95,
        "latency_warmup_cap_s": 5.0,
    },
    exclusive=True,
)
def regression(ctx: Any) -> Result:
    """The candidate is not slower than the baseline model, timed interleaved in the same run.

    Both models are warmed up, then timed in `latency_regression_blocks` randomised
    block pairs (seeded): each pair runs the two models one after the other, in random
    order, so slow phases of a shared machine hit both alike. Each pair gives a ratio
    candidate/baseline of its block medians and of its block p95s; the median of those
    ratios over the pairs gets distribution-free order-statistic bounds. Fails when
    either lower bound exceeds 1 + `latency_regression_tolerance` (slower with
    confidence); passes when the median ratio's upper bound is within it; otherwise
    inconclusive.
    """
    base_ctx = ctx.baseline
    confidence = _confidence(ctx)
    tolerance = float(ctx.threshold("latency_regression_tolerance"))
    # at least as many block pairs as a two-sided bound on their median needs (5 at 95%)
    n_blocks = max(stats.min_samples(0.5, confidence), int(ctx.threshold("latency_regression_blocks")))
    warm_cap = float(ctx.threshold("latency_warmup_cap_s"))
    cand = timing.rig(ctx, warm_cap)
    try:
        base = timing.rig(base_ctx, warm_cap)
    except ProviderUnavailable as exc:
        return skipped(f"baseline model: {exc}; nothing was measured on another provider")
    rng = ctx.rng("LAT005")
    limit = 1.0 + tolerance
    measured: dict[str, Any] = {"tolerance": tolerance}
    evidence: dict[str, Any] = {
        "confidence": confidence,
        "method": "interleaved randomised block pairs; median over pairs of per-pair ratios, order-statistic bounds",
        "candidate_session": cand.describe(),
        "baseline_session": base.describe(),
        "raw_times": {},
    }
    verdicts: dict[int, str] = {}
    for b in _regression_batch_sizes(ctx):
        tc, tb = cand.timer(b), base.timer(b)
        slower = max(tc.per_call_ns, tb.per_call_ns, 1.0)  # from the warm-up
        per_block = int(np.clip(2_000_000 // slower, 5, 50))  # blocks of about 2 ms, 5 to 50 calls
        c_times = np.empty((n_blocks, per_block), dtype=np.int64)
        b_times = np.empty((n_blocks, per_block), dtype=np.int64)
        order = []
        gc.collect()
        for i in range(n_blocks):
            first_is_candidate = bool(rng.integers(2))
            order.append("cb" if first_is_candidate else "bc")
            for who in order[-1]:
                timer = tc if who == "c" else tb
                times = timing._timed_calls(timer.session, timer.rows, per_block, None)
                (c_times if who == "c" else b_times)[i] = times
        stat = _paired_ratios(c_times, b_times, confidence)
        row = {"blocks": n_blocks, "calls_per_block": per_block, **stat}
        measured[f"batch_{b}"] = row
        evidence["raw_times"][f"batch_{b}"] = {
            "candidate": timing.encode_times(c_times.ravel()),
            "baseline": timing.encode_times(b_times.ravel()),
            "block_order": "".join("c" if o == "cb" else "b" for o in order),
        }
        if stat["median_ratio_lower"] > limit or stat["p95_ratio_lower"] > limit:
            verdicts[b] = "fail"
        elif stat["median_ratio_upper"] <= limit:
            verdicts[b] = "pass"
        else:
            verdicts[b] = "undecided"
    summary = "; ".join(
        f"batch {b}: median x{measured[f'batch_{b}']['median_ratio']:.3f} "
        f"[{measured[f'batch_{b}']['median_ratio_lower']:.3f}, {measured[f'batch_{b}']['median_ratio_upper']:.3f}], "
        f"p95 x{measured[f'batch_{b}']['p95_ratio']:.3f}"
        for b in verdicts
    )
    if "fail" in verdicts.values():
        return failed(f"candidate slower than the baseline by more than {tolerance:.0%}: {summary}", measured, evidence)
    if "undecided" in verdicts.values():
        return inconclusive(
            f"cannot tell whether the candidate is within {tolerance:.0%}: {summary}", measured, evidence
        )
    return passed(f"candidate within {tolerance:.0%} of the baseline: {summary}", measured, evidence)


def _paired_ratios(c: np.ndarray, b: np.ndarray, confidence: float) -> dict[str, float]:
    """Per block pair, the ratio candidate/baseline of the block medians and of the block p95s; the
    median of each over the pairs, with order-statistic (binomial) bounds. A burst of machine noise
    spoils a few pairs, not the median over pairs."""
    med = np.median(c, axis=1) / np.median(b, axis=1)
    p95 = np.quantile(c, 0.95, axis=1, method="inverted_cdf") / np.quantile(b, 0.95, axis=1, method="inverted_cdf")
    m = stats.quantile_interval(med, 0.5, confidence)
    t = stats.quantile_interval(p95, 0.5, confidence)

    def r(x: float | None) -> float:
        return round(float(x), 4) if x is not None else float("nan")

    return {
        "median_ratio": r(m.point),
        "median_ratio_lower": r(m.lower),
        "median_ratio_upper": r(m.upper),
        "p95_ratio": r(t.point),
        "p95_ratio_lower": r(t.lower),
        "p95_ratio_upper": r(t.upper),
        "pooled_median_ratio": r(np.median(c) / np.median(b)),
        "candidate_median_ms": _ms(float(np.median(c))),
        "baseline_median_ms": _ms(float(np.median(b))),
    }
