"""Time `readiness check` on the example bundle and on a 200,000-row reference set.

    python benchmarks/check_example.py [--rows 200000] [--select ALL]

Reports, for each bundle, in one run on this machine: wall time of the whole
command (median of --repeat runs), split into the engine's own time (the
scorecard's run.duration_s: loading the bundle and running the checks) and the
rest (start-up: interpreter and imports), and the child's peak resident memory
(its own ru_maxrss, from wait4).
The example is built afresh into a temporary directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY_IMPORTS = "import pandas, onnx, onnxruntime, pandera.pandas, scipy.stats"


def _child(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one child process (its own rusage, via wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read() if proc.stderr else ""
    if code not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({code}):\n{stderr}")
    return wall, usage.ru_maxrss / 1024, code


def _build(tmp: Path, rows: int) -> tuple[Path, Path]:
    spec = importlib.util.spec_from_file_location("train", ROOT / "examples" / "breast-cancer" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    small = tmp / "example"
    train.build(small)
    big = tmp / "example-200k"
    shutil.copytree(small, big)
    import numpy as np
    import pandas as pd

    ref = pd.read_csv(small / "reference.csv")
    rng = np.random.default_rng(0)
    sample = ref.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    # numeric features only: the example also carries a string slice column (size_band)
    features = [c for c in ref.columns if c != "label" and pd.api.types.is_numeric_dtype(ref[c])]
    # jitter inside the schema's bounds (1% of each feature's spread) so rows are not exact copies
    noise = rng.normal(scale=0.01, size=(rows, len(features))) * ref[features].std().to_numpy()
    sample[features] = (sample[features].to_numpy() + noise).clip(
        ref[features].min().to_numpy(), ref[features].max().to_numpy()
    )
    sample.to_csv(big / "reference.csv", index=False, float_format="%.8g")
    return small, big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--select", default="ALL")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (1,000 rows, one run, ART and SCH checks)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeat, args.select = 1_000, 1, "ART,SCH"
    if args.build_into:
        _build(args.build_into, args.rows)
        return
    exe = [sys.executable, "-m", "readiness.cli"]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        # built in a child so that this process stays small: a forked child's ru_maxrss
        # starts from its parent's high-water mark on Linux
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--build-into", str(tmp)], check=True)
        small, big = tmp / "example", tmp / "example-200k"
        imports = sorted(_child([sys.executable, "-c", HEAVY_IMPORTS])[0] for _ in range(args.repeat))[args.repeat // 2]
        print(
            f"importing pandas, onnx, onnxruntime, pandera, scipy alone: {imports:.2f} s (lazily imported inside the engine's time)"
        )
        for name, bundle in (("example", small), (f"example, {args.rows:,} reference rows", big)):
            out = tmp / f"{bundle.name}.json"
            runs = []
            for _ in range(args.repeat):
                wall, rss, code = _child(
                    [*exe, "check", str(bundle), "--select", args.select, "--quiet", "--json", str(out)]
                )
                card = json.loads(out.read_text())
                runs.append((wall, card["run"]["duration_s"], rss, code, card))
            wall, engine, rss, code, card = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
            startup = wall - engine
            slowest = sorted(card["checks"], key=lambda c: -c["duration_s"])[:4]
            print(
                f"{name}: wall {wall:.2f} s = start-up (interpreter, imports) {startup:.2f} s ({startup / wall:.0%})"
                f" + engine (load bundle, run checks) {engine:.2f} s; peak RSS {rss:.0f} MiB;"
                f" exit {code}, released={card['gate']['released']} (median of {args.repeat} runs)"
            )
            print("  slowest checks: " + ", ".join(f"{c['id']} {c['duration_s']:.2f} s" for c in slowest))
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
