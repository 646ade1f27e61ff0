"""Reference data of any size: peak memory of `readiness check` at 200,000 and 2,000,000 rows, and exactness.

    python benchmarks/big_reference.py [--rows 200000 2000000] [--select ALL] [--smoke]

The breast-cancer example's model is given a reference set of each size, written as a directory
of Parquet files of up to 1,000,000 rows written with pandas' defaults, so each is one row group
(rows resampled from the example with seeded jitter). `readiness check` runs once
per size in a child process; its wall time and peak RSS (its own ru_maxrss, from wait4) are
printed, with the ratio of the largest to the smallest run's peak RSS (target: at most 1.2: peak
memory must not grow with the number of rows). Then every metric QLT001 reports on the largest
set is compared with its exact value on every row, computed here with onnxruntime and
scikit-learn: each must lie within the bounds QLT001 states.
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
FILE_ROWS = 1_000_000  # written as pandas writes them: one row group per file (the writer's default)
RSS_TARGET = 1.2


def _child(args: list[str]) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS MiB, exit code, stderr) of one child process (its own rusage, via wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), stderr


def _build(tmp: Path, sizes: list[int], sample_rows: int | None) -> None:
    import numpy as np
    import pandas as pd
    import tomli_w

    spec = importlib.util.spec_from_file_location("train", ROOT / "examples" / "breast-cancer" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    example = tmp / "example"
    train.build(example)
    ref = pd.read_csv(example / "reference.csv")
    features = [c for c in ref.columns if c != "label" and pd.api.types.is_numeric_dtype(ref[c])]
    spread = ref[features].std().to_numpy()
    low, high = ref[features].min().to_numpy(), ref[features].max().to_numpy()
    for rows in sizes:
        bundle = tmp / f"rows-{rows}"
        shutil.copytree(example, bundle)
        (bundle / "reference.csv").unlink()
        out = bundle / "reference"
        out.mkdir()
        rng = np.random.default_rng(0)
        for i, start in enumerate(range(0, rows, FILE_ROWS)):
            n = min(FILE_ROWS, rows - start)
            part = ref.sample(n=n, replace=True, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
            jitter = rng.normal(scale=0.01, size=(n, len(features))) * spread
            part[features] = (part[features].to_numpy() + jitter).clip(low, high)
            part.to_parquet(out / f"part-{i:04d}.parquet", index=False)
        import tomllib

        table = tomllib.loads((bundle / "readiness.toml").read_text())
        table["data"]["reference"] = "reference"
        if sample_rows:
            table["data"]["sample_rows"] = sample_rows
        # a low bar for every metric, so that QLT001 reports each one's bounds
        table["policy"]["thresholds"]["min_metric"] = dict.fromkeys(
            ("roc_auc", "accuracy", "f1", "precision", "recall"), 0.5
        )
        table["policy"]["thresholds"]["min_metric"]["log_loss"] = 5.0
        (bundle / "readiness.toml").write_text(tomli_w.dumps(table))


def _exact(bundle: Path) -> dict[str, float]:
    """Every binary metric on every row of the bundle's Parquet files (onnxruntime + scikit-learn)."""
    import numpy as np
    import onnxruntime as ort
    import pandas as pd
    import yaml
    from sklearn import metrics as skm

    serving = yaml.safe_load((bundle / "serving.yaml").read_text())
    features = serving["inputs"][0]["features"]
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    ys, labels, probas = [], [], []
    for file in sorted((bundle / "reference").glob("*.parquet")):
        part = pd.read_parquet(file, columns=[*features, "label"])
        label, proba = session.run(["label", "probabilities"], {"input": part[features].to_numpy(np.float32)})
        ys.append(part["label"].to_numpy())
        labels.append(label)
        probas.append(proba)
    y, label, proba = np.concatenate(ys), np.concatenate(labels), np.concatenate(probas).astype(np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return {
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "accuracy": skm.accuracy_score(y, label),
        "f1": skm.f1_score(y, label),
        "precision": skm.precision_score(y, label),
        "recall": skm.recall_score(y, label),
        "log_loss": float(-np.mean(np.log(proba[np.arange(len(y)), y]))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--select", default="ALL")
    parser.add_argument("--sample-rows", type=int, default=None, help="[data].sample_rows (default: readiness's own)")
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (6,000 and 24,000 rows, 2,000 in memory)")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.sample_rows, args.select = [6_000, 24_000], 2_000, "QLT,SCH003,ROB005"
    sizes = sorted(args.rows)
    if args.build_into:
        _build(args.build_into, sizes, args.sample_rows)
        return
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        # built in a child: a forked child's ru_maxrss starts from its parent's high-water mark on Linux
        build = [sys.executable, __file__, "--build-into", str(tmp), "--rows", *map(str, sizes)]
        subprocess.run(build + (["--sample-rows", str(args.sample_rows)] if args.sample_rows else []), check=True)
        results = {}
        for rows in sizes:
            bundle = tmp / f"rows-{rows}"
            out = tmp / f"rows-{rows}.json"
            cmd = [sys.executable, "-m", "readiness", "check", str(bundle), "--select", args.select, "--quiet"]
            wall, rss, code, stderr = _child([*cmd, "--json", str(out)])
            if code not in (0, 1):
                sys.exit(f"readiness check failed ({code}) on {rows} rows:\n{stderr[-2000:]}")
            card = json.loads(out.read_text())
            results[rows] = (wall, rss, card)
            slowest = sorted(card["checks"], key=lambda c: -c["duration_s"])[:4]
            slow = ", ".join(f"{c['id']} {c['duration_s']:.2f} s" for c in slowest)
            print(f"{rows:>10,} rows: wall {wall:6.2f} s, peak RSS {rss:5.0f} MiB, exit {code}; slowest: {slow}")
        (_, small_rss, _), (_, big_rss, card) = results[sizes[0]], results[sizes[-1]]
        ratio = big_rss / small_rss
        verdict = "met" if ratio <= RSS_TARGET else "MISSED"
        print(f"peak RSS {sizes[-1]:,} / {sizes[0]:,} rows: {ratio:.2f} (target <= {RSS_TARGET}: {verdict})")
        qlt = next(c for c in card["checks"] if c["id"] == "QLT001")
        exact = _exact(tmp / f"rows-{sizes[-1]}")
        outside = []
        for name, value in exact.items():
            entry = qlt["measured"].get(name)
            if entry is None:
                continue
            inside = entry["ci_lower"] <= value <= entry["ci_upper"]
            outside += [] if inside else [name]
            print(
                f"  {name:9s} exact {value:.6f}  reported {entry['value']:.6f}  bounds "
                f"[{entry['ci_lower']:.6f}, {entry['ci_upper']:.6f}]  {'inside' if inside else 'OUTSIDE'}"
            )
        if outside:
            sys.exit(f"exact value outside the stated bounds: {', '.join(outside)}")
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
