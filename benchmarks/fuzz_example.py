"""ROB001 (schema-driven fuzzing) on the example bundle: its time, and how reliably it finds a planted defect.

    python benchmarks/fuzz_example.py [--seeds 10] [--repeat 3]

In one run on this machine:
1. ROB001's duration on the clean breast-cancer example with the default budget
   (median of --repeat runs, each in a fresh context), and the share of the whole
   `readiness check --select ROB` engine time it takes.
2. The example's model with a planted defect (probabilities are NaN exactly when
   `area_error` is 0: inside the schema's bounds, never 0 in the reference data):
   for each of --seeds seeds, whether ROB001 with the default budget finds it and
   whether its counterexample row has `area_error` = 0; and, for comparison, how
   often the seeded hypothesis search alone (edge cases switched off) finds it.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

DEFECT_COLUMN = "area_error"


def _build(out: Path) -> Path:
    spec = importlib.util.spec_from_file_location("train", ROOT / "examples" / "breast-cancer" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    train.build(out)
    return out


def _plant_defect(clean: Path, out: Path) -> Path:
    import shutil

    import onnx
    import pandas as pd
    from builders import with_nan_at_zero

    shutil.copytree(clean, out)
    columns = [c for c in pd.read_csv(clean / "reference.csv").columns if c != "label"]
    assert not (pd.read_csv(clean / "reference.csv")[DEFECT_COLUMN] == 0).any(), "the reference must hold no 0"
    model = onnx.load(str(clean / "model.onnx"))
    onnx.save(with_nan_at_zero(model, columns.index(DEFECT_COLUMN)), str(out / "model.onnx"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: one seed, one repeat")
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.repeat = 1, 1

    from readiness import evaluate, fuzz
    from readiness.bundle import load_bundle
    from readiness.context import Context

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        clean = _build(tmp / "example")
        broken = _plant_defect(clean, tmp / "example-nan-at-zero")
        evaluate(clean, select=["ROB001"])  # warm-up: imports, pandera's check registry

        durations, shares, examples = [], [], []
        for _ in range(args.repeat):
            card, _ = evaluate(clean, select=["ROB"], seed=0)
            rob001 = card.check("ROB001")
            assert rob001.status == "pass", rob001.message
            durations.append(rob001.duration_s)
            shares.append(rob001.duration_s / card.run["duration_s"])
            examples.append(rob001.measured["search_examples"])
        print(
            f"ROB001 on the clean example (default budget {rob001.evidence['budget']}): "
            f"{statistics.median(durations):.2f} s (median of {args.repeat}; min {min(durations):.2f}, "
            f"max {max(durations):.2f}), {statistics.median(shares):.0%} of `--select ROB` engine time; "
            f"{rob001.measured['edge_cases']} edge cases + {examples[-1]} searched rows"
        )

        found, at_zero, times = 0, 0, []
        for seed in range(args.seeds):
            card, _ = evaluate(broken, select=["ROB001"], seed=seed)
            rec = card.check("ROB001")
            times.append(rec.duration_s)
            if rec.status == "fail":
                found += 1
                at_zero += rec.evidence["counterexample"]["row"][DEFECT_COLUMN] == 0
        print(
            f"NaN-at-zero defect ({DEFECT_COLUMN} = 0), default ROB001: found in {found}/{args.seeds} seeds, "
            f"counterexample row at {DEFECT_COLUMN} = 0 in {at_zero}/{args.seeds}; "
            f"median {statistics.median(times):.2f} s per run"
        )

        bundle = load_bundle(broken)
        search_found, search_examples, search_times = 0, [], []
        for seed in range(args.seeds):
            ctx = Context(bundle, seed=seed)
            start = time.perf_counter()
            report = fuzz.run(ctx, edges=False)
            search_times.append(time.perf_counter() - start)
            if report.failed:
                search_found += 1
                search_examples.append(report.search_examples)
        detail = f", after a median of {statistics.median(search_examples):.0f} examples" if search_examples else ""
        print(
            f"  for comparison, the hypothesis search alone (no edge cases): found in {search_found}/{args.seeds} "
            f"seeds{detail}; median {statistics.median(search_times):.2f} s per run"
        )
    import os

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
