"""Model-only `readiness check` over ONNX models nobody here wrote: no crash, no traceback.

    python benchmarks/onnx_zoo.py [--timeout 60] [--check-timeout 20] [--limit N] [--select ALL] [--json out.json]

The models are the ones shipped in the `onnx` wheel's backend test data
(`onnx/backend/test/data/{simple,pytorch-converted,pytorch-operator}/*/model.onnx`
and `light/*.onnx`) and the `onnxruntime.datasets` examples. Each one runs in
process through the engine (`readiness.plan(...).run()`) as a model-only bundle,
each check with `--check-timeout` and the whole model with `--timeout`. A broken or
unsupported model must come out as findings (a check `fail`/`error`), never as an
exception escaping the engine.

Reports the counts of released and blocked models, which checks blocked them, every
model whose run raised or timed out (there should be none), and the wall time of the
whole sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("simple", "pytorch-converted", "pytorch-operator", "light")


def zoo_models() -> list[tuple[str, Path]]:
    """(name, path) of every ONNX model in the onnx backend test data and in onnxruntime.datasets."""
    import onnx
    import onnxruntime.datasets

    base = Path(onnx.__file__).parent / "backend" / "test" / "data"
    models: list[tuple[str, Path]] = []
    for suite in SUITES:
        folder = base / suite
        if suite == "light":
            models += [(f"light/{p.stem}", p) for p in sorted(folder.glob("*.onnx"))]
        else:
            models += [(f"{suite}/{p.parent.name}", p) for p in sorted(folder.glob("*/model.onnx"))]
    datasets = Path(onnxruntime.datasets.__file__).parent
    models += [(f"onnxruntime.datasets/{p.name}", p) for p in sorted(datasets.glob("*.onnx"))]
    return models


def engine_probes() -> Any:
    """Two checks that exercise what a model-only run relies on, for branches without the built-in checks:
    the session loads (ZOOA001), and rows synthesised from the graph's dtypes and shapes score (ZOOA002)."""
    import numpy as np

    from readiness.registry import Registry, check, failed, passed

    reg = Registry()

    @check("ZOOA001", "loads in onnxruntime", category="probe", severity="blocker", requires=["session"])
    def loads(ctx: Any) -> Any:
        return passed(f"{len(ctx.session.get_inputs())} input(s)")

    @check("ZOOA002", "synthesised rows score", category="probe", severity="major", requires=["session"])
    def scores(ctx: Any) -> Any:
        pred = ctx.predict(ctx.sample_frame.head(8))
        values = pred.numeric() if pred.numeric() is not None else pred.labels
        try:
            finite = bool(np.all(np.isfinite(np.asarray(values, dtype=float))))
        except (TypeError, ValueError):
            finite = True  # string labels
        return passed(f"{len(pred)} rows scored") if finite else failed("non-finite outputs on synthesised rows")

    reg.add_object(loads)
    reg.add_object(scores)
    return reg


def run_one(
    path: Path,
    *,
    timeout_s: float = 300.0,
    check_timeout_s: float = 20.0,
    select: Iterable[str] | None = None,
    registry: Any = None,
) -> dict[str, Any]:
    """One model-only run in process; what escaped the engine (if anything) is recorded, not raised."""
    from readiness import Timeouts, plan

    outcome: dict[str, Any] = {"path": str(path)}
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            # the engine's own run limit ends the run (its checks stopped, the scorecard built) well
            # before the outer join gives up on it
            limits = Timeouts(run_s=timeout_s * 0.8, check_s=min(check_timeout_s, timeout_s * 0.8))
            scorecard = plan(path, select=select, registry=registry, timeouts=limits).run()
            box["scorecard"] = scorecard
        except BaseException as exc:  # noqa: BLE001 - the point is to record anything that escapes
            box["exception"] = f"{type(exc).__name__}: {exc}"
            box["traceback"] = traceback.format_exc()

    start = time.perf_counter()
    thread = threading.Thread(target=target, name=f"zoo-{path.parent.name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    outcome["duration_s"] = round(time.perf_counter() - start, 3)
    if thread.is_alive():
        outcome["outcome"] = "timeout"
        return outcome
    if "exception" in box:
        outcome.update(outcome="exception", exception=box["exception"], traceback=box["traceback"])
        return outcome
    scorecard = box["scorecard"]
    outcome["outcome"] = "released" if scorecard.released else "blocked"
    outcome["blocking"] = list(scorecard.gate.get("blocking", []))
    outcome["statuses"] = {c.id: c.status for c in scorecard.checks}
    outcome["messages"] = {c.id: c.message for c in scorecard.checks if c.status in ("fail", "error")}
    outcome["model_only"] = bool(scorecard.bundle.get("model_only"))
    return outcome


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    outcomes = Counter(r["outcome"] for r in results.values())
    blocking = Counter(cid for r in results.values() for cid in r.get("blocking", []))
    statuses: dict[str, Counter[str]] = {}
    for r in results.values():
        for cid, status in r.get("statuses", {}).items():
            statuses.setdefault(cid, Counter())[status] += 1
    return {
        "models": len(results),
        "outcomes": dict(outcomes),
        "blocked_by": dict(blocking.most_common()),
        "statuses_by_check": {cid: dict(c) for cid, c in sorted(statuses.items())},
        "escaped": {
            name: r.get("exception", "timeout")
            for name, r in results.items()
            if r["outcome"] in ("exception", "timeout")
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per model (whole run)")
    parser.add_argument("--check-timeout", type=float, default=20.0, help="seconds per check")
    parser.add_argument("--limit", type=int, default=None, help="only the first N models")
    parser.add_argument("--select", default=None, help="comma-separated check ids or prefixes (default: all)")
    parser.add_argument(
        "--probes", action="store_true", help="run the engine probes (ZOOA*) instead of the installed checks"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every model's outcome here")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the first 2 models, ART and SCH checks")
    args = parser.parse_args(argv)
    if args.smoke:
        args.limit, args.select = 2, args.select or "ART,SCH"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    models = zoo_models()[: args.limit]
    select = [s for s in args.select.split(",") if s] if args.select else None
    registry = engine_probes() if args.probes else None
    results: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    for i, (name, path) in enumerate(models, 1):
        result = run_one(
            path, timeout_s=args.timeout, check_timeout_s=args.check_timeout, select=select, registry=registry
        )
        results[name] = result
        extra = ",".join(result.get("blocking", [])) or result.get("exception", "")
        print(f"[{i}/{len(models)}] {name}: {result['outcome']} ({result['duration_s']:.2f}s) {extra}", file=sys.stderr)
    wall = time.perf_counter() - start
    summary = summarise(results)
    summary["wall_s"] = round(wall, 2)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "models": results}, indent=2, default=str))
    return 1 if summary["escaped"] else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # a check that timed out may still be running inside onnxruntime in a daemon thread; leave without
    # waiting for it (interpreter shutdown would abort in the native code)
    os._exit(code)
