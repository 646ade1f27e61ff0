"""Time `readiness check` against evidently on the same model and data, in alternating (paired) runs.

    python benchmarks/peers.py [--rounds N] [--rows 200000] [--venv DIR] [--json OUT] [--smoke]

Two workloads: the breast-cancer example (built afresh into a temporary directory) and the same
model with --rows reference rows (the example's holdout rows resampled with seeded noise, Parquet).

- readiness: `python -m readiness check BUNDLE --select ALL --json OUT --quiet`, every check.
- evidently 0.7.23: `Report([DataDriftPreset(), ClassificationPreset()], include_tests=True)` run on
  current = the bundle's labelled reference data and reference = its training data (train.csv), then
  the snapshot written as JSON. Evidently does not run ONNX models: the model's labels and
  probabilities are computed with onnxruntime beforehand, outside the timed part, and handed to
  it as columns. So evidently's figures leave out scoring the model; readiness's include it.

Evidently lives in its own virtual environment, created on first use and reused afterwards
(--venv, default $XDG_CACHE_HOME/readiness-bench/evidently-0.7.23; pinned with pandas<3, which
0.7.23 needs). When it cannot be installed the script says why and exits 0.

Each round runs both tools once, the first one alternating between rounds. A run's figures are
the wall time of the whole process (interpreter start-up included) and the peak resident memory
of its process tree. Ratios are readiness / evidently of the medians over the rounds.
`--smoke` (2,000 rows, one round) never installs anything: without an evidently environment it
times a stand-in peer (pandas reading the same files) so every code path still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import Run, alone_seconds, exclusive_check_ids, load_average, measure, median  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EVIDENTLY = "evidently==0.7.23"
PINS = (EVIDENTLY, "pandas<3")  # evidently 0.7.23 does not import with pandas 3 (infer_dtype_from_object)
# (task, wall ratio at most, readiness peak RSS at most in MiB): the targets of the scale issue
TARGETS = {"example": (0.5, 300.0), "rows": (0.4, 400.0)}

EVIDENTLY_RUNNER = '''\
"""Evidently's side of benchmarks/peers.py: drift + classification presets with tests."""
import json, sys
import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.presets import ClassificationPreset, DataDriftPreset

current_path, reference_path, out = sys.argv[1:4]
current, reference = pd.read_parquet(current_path), pd.read_parquet(reference_path)
features = [c for c in current.columns if c not in ("label", "prediction", "probability", "size_band")]
definition = DataDefinition(
    numerical_columns=features,
    categorical_columns=["size_band"] if "size_band" in current.columns else [],
    classification=[
        BinaryClassification(target="label", prediction_labels="prediction", prediction_probas="probability")
    ],
)
report = Report([DataDriftPreset(), ClassificationPreset()], include_tests=True)
snapshot = report.run(Dataset.from_pandas(current, definition), Dataset.from_pandas(reference, definition))
payload = snapshot.dict()
with open(out, "w") as fh:
    json.dump(payload, fh, default=str)
tests = payload.get("tests", [])
failed = sum(1 for t in tests if str(t.get("status", "")).upper().endswith("FAIL"))
print(f"{len(tests)} tests, {failed} failed", file=sys.stderr)
'''

STAND_IN_RUNNER = '''\
"""A stand-in peer for --smoke without evidently: reads the same files and summarises them."""
import json, sys
import pandas as pd

current, reference = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
numeric = current.select_dtypes("number").columns
summary = {c: [float(current[c].mean()), float(reference[c].mean())] for c in numeric}
summary["accuracy"] = float((current["prediction"] == current["label"]).mean())
with open(sys.argv[3], "w") as fh:
    json.dump(summary, fh)
'''


# ---------------------------------------------------------------------------------------------
# Building the workloads (in a child process, so that this one stays small)


def _build(out: Path, rows: int) -> None:
    """The example bundle, its --rows twin, and each one's peer inputs with the model's predictions."""
    import importlib.util
    import shutil
    import warnings

    import numpy as np
    import onnxruntime as ort
    import pandas as pd

    spec = importlib.util.spec_from_file_location("train", ROOT / "examples" / "breast-cancer" / "train.py")
    train = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(train)  # type: ignore[union-attr]
    small = out / "example"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train.build(small)
    big = out / "rows"
    shutil.copytree(small, big)
    ref = pd.read_csv(small / "reference.csv")
    rng = np.random.default_rng(0)
    sample = ref.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    features = [c for c in ref.columns if c not in ("label", "size_band")]
    # jitter inside the schema's bounds (1% of each feature's spread) so rows are not exact copies
    noise = rng.normal(scale=0.01, size=(rows, len(features))) * ref[features].std().to_numpy()
    sample[features] = (sample[features].to_numpy() + noise).clip(
        ref[features].min().to_numpy(), ref[features].max().to_numpy()
    )
    (big / "reference.csv").unlink()
    sample.to_parquet(big / "reference.parquet", index=False)
    manifest = big / "readiness.toml"
    manifest.write_text(manifest.read_text().replace('reference = "reference.csv"', 'reference = "reference.parquet"'))

    for bundle in (small, big):
        session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
        peer = bundle.parent / f"{bundle.name}-peer"
        peer.mkdir()
        current = (
            pd.read_parquet(bundle / "reference.parquet") if bundle is big else pd.read_csv(small / "reference.csv")
        )
        for name, frame in (("current", current), ("reference", pd.read_csv(bundle / "train.csv"))):
            labels, proba = session.run(None, {"input": frame[features].to_numpy(dtype=np.float32)})
            frame = frame.assign(prediction=labels.astype("int64"), probability=proba[:, 1].astype("float64"))
            if "size_band" not in frame:  # the training data carries no slice column; derive it as train.py does
                median_radius = float(pd.concat([ref["mean_radius"], frame["mean_radius"]]).median())
                frame["size_band"] = np.where(frame["mean_radius"] > median_radius, "large", "small")
            frame.to_parquet(peer / f"{name}.parquet", index=False)


# ---------------------------------------------------------------------------------------------
# The peer's environment


def _default_venv() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "readiness-bench" / EVIDENTLY.replace("==", "-")


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _usable(venv: Path) -> bool:
    python = _venv_python(venv)
    if not python.exists():
        return False
    probe = "import evidently, pyarrow; from evidently.presets import DataDriftPreset, ClassificationPreset"
    return subprocess.run([str(python), "-c", probe], capture_output=True, check=False).returncode == 0


def _install(venv: Path) -> str | None:
    """Create the environment and install the pinned evidently; None, or why it could not be done."""
    print(f"installing {' '.join(PINS)} into {venv} (once; reused afterwards) ...", flush=True)
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {venv.parent}: {exc.strerror or exc}"
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(_venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS, "pyarrow"],
    )
    for step in steps:
        try:
            proc = subprocess.run(step, capture_output=True, text=True, check=False)
        except OSError as exc:
            return f"`{' '.join(step[:4])} ...` could not start: {exc.strerror or exc}"
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip() and "WARNING" not in ln]
            return (
                f"`{' '.join(step[:4])} ...` failed: {lines[-1].strip() if lines else 'exit ' + str(proc.returncode)}"
            )
    if not _usable(venv):
        return f"{EVIDENTLY} installed into {venv} but does not import"
    return None


# ---------------------------------------------------------------------------------------------
# Measuring


def _readiness(bundle: Path, out: Path) -> Run:
    run = measure(
        [sys.executable, "-m", "readiness", "check", str(bundle), "--select", "ALL", "--json", str(out), "-q"]
    )
    if run.code not in (0, 1):
        sys.exit(f"readiness check {bundle} failed (exit {run.code}):\n{run.stderr[-2000:]}")
    return run


def _peer(python: Path, runner: Path, peer_dir: Path, out: Path) -> Run:
    args = [str(python), str(runner), str(peer_dir / "current.parquet"), str(peer_dir / "reference.parquet"), str(out)]
    run = measure(args)
    if run.code != 0:
        sys.exit(f"the peer failed on {peer_dir} (exit {run.code}):\n{run.stderr[-2000:]}")
    return run


def _paired(rounds: int, bundle: Path, python: Path, runner: Path, tmp: Path) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {"readiness": [], "peer": []}
    for i in range(rounds):
        order = ("readiness", "peer") if i % 2 == 0 else ("peer", "readiness")
        for side in order:
            if side == "readiness":
                runs[side].append(_readiness(bundle, tmp / f"{bundle.name}.json"))
            else:
                runs[side].append(_peer(python, runner, tmp / f"{bundle.name}-peer", tmp / f"{bundle.name}-peer.json"))
    return runs


def _figures(task: str, key: str, runs: dict[str, list[Run]], scorecard: dict, exclusive: set[str]) -> dict:
    ours = {
        "wall_s": median([r.wall_s for r in runs["readiness"]]),
        "rss_mib": median([r.rss_mib for r in runs["readiness"]]),
    }
    theirs = {"wall_s": median([r.wall_s for r in runs["peer"]]), "rss_mib": median([r.rss_mib for r in runs["peer"]])}
    wall_target, rss_target = TARGETS[key]
    ratio_wall = ours["wall_s"] / theirs["wall_s"]
    ratio_rss = ours["rss_mib"] / theirs["rss_mib"]
    slowest = sorted(scorecard["checks"], key=lambda c: -c.get("duration_s", 0.0))[:5]
    return {
        "task": task,
        "rounds": len(runs["readiness"]),
        "readiness": ours,
        "peer": theirs,
        "ratio_wall": ratio_wall,
        "ratio_rss": ratio_rss,
        "target": {"ratio_wall_max": wall_target, "readiness_rss_mib_max": rss_target},
        "met": ratio_wall <= wall_target and ours["rss_mib"] <= rss_target,
        "readiness_runs": [[r.wall_s, r.rss_mib] for r in runs["readiness"]],
        "peer_runs": [[r.wall_s, r.rss_mib] for r in runs["peer"]],
        "released": scorecard["gate"]["released"],
        "checks": len(scorecard["checks"]),
        "engine_s": scorecard["run"]["duration_s"],
        # before any other check: start-up and reports (outside the engine) and the timing checks (alone)
        "alone_s": alone_seconds(scorecard, exclusive),
        "slowest_checks": {c["id"]: round(c.get("duration_s", 0.0), 2) for c in slowest},
        "peer_said": (runs["peer"][-1].stderr.strip().splitlines() or [""])[-1][:200],
    }


def _table(rows: list[dict], peer_name: str) -> str:
    head = (
        f"{'task':<34} {'readiness':>17} {peer_name:>17} {'wall':>6} {'RSS':>6}   target"
        f"\n{'':<34} {'wall / peak RSS':>17} {'wall / peak RSS':>17} {'ratio':>6} {'ratio':>6}"
    )
    lines = [head]
    for r in rows:
        t = r["target"]
        verdict = "met" if r["met"] else "MISSED"
        lines.append(
            f"{r['task']:<34} {r['readiness']['wall_s']:>6.2f} s {r['readiness']['rss_mib']:>4.0f} MiB"
            f" {r['peer']['wall_s']:>6.2f} s {r['peer']['rss_mib']:>4.0f} MiB"
            f" {r['ratio_wall']:>6.2f} {r['ratio_rss']:>6.2f}"
            f"   wall <= {t['ratio_wall_max']}x, RSS <= {t['readiness_rss_mib_max']:.0f} MiB: {verdict}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, help="paired rounds per workload (default 3 for the example, 2 for --rows)"
    )
    parser.add_argument("--rows", type=int, default=200_000, help="reference rows of the second workload")
    parser.add_argument("--venv", type=Path, default=None, help="evidently's environment (created when absent)")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the figures here")
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, one round, never installs evidently")
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.rounds = 2_000, 1
    if args.build_into:
        _build(args.build_into, args.rows)
        return

    venv = args.venv or _default_venv()
    peer_name = "evidently 0.7.23"
    python = _venv_python(venv)
    if not _usable(venv):
        if args.smoke:
            print(
                f"evidently is not installed in {venv}; --smoke times a stand-in peer instead (pandas reading the files)"
            )
            peer_name, python = "stand-in peer", Path(sys.executable)
        else:
            why = _install(venv)
            if why:
                print(f"peers: skipped: could not install {EVIDENTLY}: {why}")
                return

    with tempfile.TemporaryDirectory(prefix="readiness-peers-") as tmpdir:
        tmp = Path(tmpdir)
        print(f"building the workloads ({args.rows:,} rows for the second) ...", flush=True)
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--build-into", str(tmp)], check=True)
        runner = tmp / "peer_runner.py"
        runner.write_text(EVIDENTLY_RUNNER if peer_name.startswith("evidently") else STAND_IN_RUNNER)
        rows = []
        exclusive = exclusive_check_ids()
        before = load_average()
        for key, task, default_rounds in (
            ("example", "breast-cancer example", 3),
            ("rows", f"same model, {args.rows:,} rows", 2),
        ):
            rounds = args.rounds or default_rounds
            print(f"{task}: {rounds} paired round(s) ...", flush=True)
            runs = _paired(rounds, tmp / key, python, runner, tmp)
            scorecard = json.loads((tmp / f"{key}.json").read_text())
            rows.append(_figures(task, key, runs, scorecard, exclusive))
        after = load_average()

    print()
    print(_table(rows, peer_name))
    print()
    for r in rows:
        slowest = ", ".join(f"{k} {v:.2f} s" for k, v in r["slowest_checks"].items())
        print(
            f"{r['task']}: readiness ran {r['checks']} checks (released={r['released']}), engine {r['engine_s']:.2f} s"
            f" of {r['readiness']['wall_s']:.2f} s wall; slowest: {slowest}"
        )
        outside = r["readiness"]["wall_s"] - r["engine_s"]
        fixed = outside + r["alone_s"]
        print(
            f"{r['task']}: start-up and reports took {outside:.2f} s and the timing checks, which run alone,"
            f" {r['alone_s']:.2f} s: {fixed:.2f} s = {fixed / r['peer']['wall_s']:.2f} x the peer's wall"
            " before any other check"
        )
        if r["peer_said"]:
            print(f"{r['task']}: {peer_name} ran {r['peer_said']}")
    what = "drift + classification presets with tests" if peer_name.startswith("evidently") else "reads the files"
    print(
        f"{peer_name}: {what} on the same data (current = the bundle's reference data, reference = its training"
        " data); the model's predictions were computed beforehand with onnxruntime, outside the timed part,"
        " since evidently does not run ONNX models."
    )
    print(
        f"medians of paired runs, first tool alternating; wall = whole process; RSS = peak of the process tree."
        f" {os.cpu_count()} cores; load average before {before}, after {after}; python {sys.version.split()[0]}"
    )
    if args.json_out:
        payload = {"peer": peer_name, "load_average": {"before": before, "after": after}, "tasks": rows}
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"figures written to {args.json_out}")


if __name__ == "__main__":
    main()
