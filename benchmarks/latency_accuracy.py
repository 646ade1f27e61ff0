"""Does LAT001 measure what a plain onnxruntime timing loop measures? And what does the check cost?

    python benchmarks/latency_accuracy.py [--rounds 5]

In one run on this machine, for the breast-cancer example at batch 1 and 64:
- "ours": LAT001's p50 and p99 (order-statistic point estimates from its evidence);
- "independent": a plain loop written here without readiness' timing code: an
  onnxruntime session with the same options (1 intra-op thread, 1 inter-op thread,
  sequential, spinning off, ORT_ENABLE_ALL, CPUExecutionProvider), the same rows
  from reference.csv, 500 warm-up calls, then as many calls as LAT001 took at that
  batch size, each timed with perf_counter_ns (gc paused, as in LAT001),
  percentiles by numpy "inverted_cdf".
The two alternate for --rounds rounds so machine drift hits both; the ratios
ours/independent are medians over the rounds. On a busy shared machine drift
between rounds dominates, so an interleaved control also times LAT001's timing path
(its session, pre-built batches and timed loop) against the independent loop in
alternating chunks, where drift cancels. The check's overhead is LAT001's
duration divided by the sum of its timed calls (all batch sizes).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BATCHES = (1, 64)


def build_example(tmp: Path) -> Path:
    spec = importlib.util.spec_from_file_location("train", ROOT / "examples" / "breast-cancer" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    train.build(tmp / "example")
    return tmp / "example"


def ours(bundle: Path) -> tuple[dict[int, dict[str, float]], float, float]:
    from readiness import evaluate
    from readiness.timing import decode_times

    card, _ = evaluate(bundle, select=["LAT001"])
    rec = card.checks[0]
    if rec.status not in ("pass", "fail", "inconclusive"):
        sys.exit(f"LAT001 did not measure: {rec.status}: {rec.message}")
    out: dict[int, dict[str, float]] = {}
    timed_s = 0.0
    for b in BATCHES:
        times = decode_times(rec.evidence["raw_times"][f"batch_{b}"])
        timed_s += times.sum() / 1e9
        out[b] = {
            "p50": float(np.quantile(times, 0.50, method="inverted_cdf")) / 1e6,
            "p99": float(np.quantile(times, 0.99, method="inverted_cdf")) / 1e6,
            "n": len(times),
        }
        row = rec.measured[f"batch_{b}"]
        assert row["samples"] == len(times)
    return out, rec.duration_s, timed_s


def independent(bundle: Path, calls: dict[int, int]) -> dict[int, dict[str, float]]:
    import onnxruntime as ort
    import pandas as pd

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(bundle / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    x = pd.read_csv(bundle / "reference.csv").drop(columns=["label"]).select_dtypes("number").to_numpy(dtype=np.float32)
    out: dict[int, dict[str, float]] = {}
    for b in BATCHES:
        feeds = [{"input": x[(i * b + np.arange(b)) % len(x)]} for i in range(8)]
        for i in range(500):
            sess.run(None, feeds[i % 8])
        times = np.empty(calls[b], dtype=np.int64)
        gc.collect()
        gc.disable()
        try:
            for i in range(calls[b]):
                f = feeds[i % 8]
                t0 = time.perf_counter_ns()
                sess.run(None, f)
                times[i] = time.perf_counter_ns() - t0
        finally:
            gc.enable()
        out[b] = {
            "p50": float(np.quantile(times, 0.50, method="inverted_cdf")) / 1e6,
            "p99": float(np.quantile(times, 0.99, method="inverted_cdf")) / 1e6,
            "n": calls[b],
        }
    return out


def interleaved_control(bundle: Path, chunks: int = 20, calls: int = 1000) -> dict[int, tuple[float, float]]:
    """Ratios of p50s and of p99s, LAT001's timing path (its session, batches and timed loop) over
    the independent loop, alternating in chunks of `calls` calls: machine drift cancels, so this
    isolates any difference in how the two measure."""
    import onnxruntime as ort
    import pandas as pd

    from readiness.bundle import load_bundle
    from readiness.context import Context
    from readiness.timing import RequestRows, _timed_calls

    ctx = Context(load_bundle(bundle))
    mine_session = ctx.new_session()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(bundle / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    x = pd.read_csv(bundle / "reference.csv").drop(columns=["label"]).select_dtypes("number").to_numpy(dtype=np.float32)
    out = {}
    for b in BATCHES:
        mine_batches = RequestRows(ctx.sample_frame, ctx.inputs, b)
        feeds = [{"input": x[(i * b + np.arange(b)) % len(x)]} for i in range(8)]
        _timed_calls(mine_session, mine_batches, 500, None)
        for i in range(500):
            sess.run(None, feeds[i % 8])
        mine, theirs = [], []
        for _ in range(chunks):
            mine += _timed_calls(mine_session, mine_batches, calls, None)
            times = []
            gc.disable()
            for i in range(calls):
                f = feeds[i % 8]
                t0 = time.perf_counter_ns()
                sess.run(None, f)
                times.append(time.perf_counter_ns() - t0)
            gc.enable()
            theirs += times
        p99 = [float(np.quantile(t, 0.99, method="inverted_cdf")) for t in (mine, theirs)]
        out[b] = (float(np.median(mine) / np.median(theirs)), p99[0] / p99[1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: one round, a short interleaved control")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 1
    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_example(Path(tmp))
        ratios: dict[tuple[int, str], list[float]] = {(b, q): [] for b in BATCHES for q in ("p50", "p99")}
        overheads: list[float] = []
        print("round  batch  ours p50/p99 ms (n)          independent p50/p99 ms (n)")
        for r in range(args.rounds):
            mine, duration_s, timed_s = ours(bundle)
            theirs = independent(bundle, {b: mine[b]["n"] for b in BATCHES})
            overheads.append(duration_s / timed_s)
            for b in BATCHES:
                m, t = mine[b], theirs[b]
                print(
                    f"{r:5d}  {b:5d}  {m['p50']:.4f}/{m['p99']:.4f} ({m['n']})"
                    f"{'':8s}{t['p50']:.4f}/{t['p99']:.4f} ({t['n']})"
                )
                for q in ("p50", "p99"):
                    ratios[(b, q)].append(m[q] / t[q])
        print()
        print("ratio ours/independent (median over rounds; target 0.95-1.05):")
        for (b, q), values in ratios.items():
            print(
                f"  batch {b:3d} {q}: {statistics.median(values):.3f}  (rounds: {', '.join(f'{v:.3f}' for v in values)})"
            )
        control = interleaved_control(bundle, chunks=2, calls=100) if args.smoke else interleaved_control(bundle)
        print(
            "interleaved control (LAT001's session, batches and loop vs the independent loop, alternating "
            "chunks of 1000 calls), ratio p50/p99: "
            + ", ".join(f"batch {b}: {v[0]:.3f}/{v[1]:.3f}" for b, v in control.items())
        )
        print(
            f"LAT001 overhead: total time / sum of timed calls = {statistics.median(overheads):.1f}x "
            f"(rounds: {', '.join(f'{v:.1f}' for v in overheads)})"
        )


if __name__ == "__main__":
    main()
