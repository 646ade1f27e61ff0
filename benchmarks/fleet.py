"""A fleet of 20 bundles: `readiness check B1 ... B20 --jobs 2` against the sum of one-at-a-time runs.

    python benchmarks/fleet.py [--rounds N] [--jobs 2] [--ray] [--json OUT] [--smoke]

Builds 20 bundles into a temporary directory: the breast-cancer example with different seeded
scikit-learn models exported with skl2onnx (logistic regression, random forest, gradient
boosting), copies of the not-ready example (serving.yaml misdeclares the input dtype), and
bundles with deliberate defects (a schema column whose dtype is wrong, a schema missing a
column, a latency budget far too tight, a quality bar no model meets, a manifest naming a
model file that is not there). Then it times, in each round, the whole fleet in one command
(`--jobs N`) and every bundle on its own, one after the other; the first of the two alternates
between rounds. It prints the ratio of the fleet's wall time to the one-at-a-time sum (target:
at most 0.7 with --jobs 2) and checks that both ways gave every bundle the same verdict, scores
and check statuses (timings aside). `--ray` also checks the fleet on a local Ray instance and
compares it the same way. `--smoke`: 3 bundles, one round, only the ART and SCH checks.
Exit status 1 when some bundle's results differ between the ways, else 0.
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
from _measure import alone_seconds, exclusive_check_ids, load_average, measure, median  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.7


# ---------------------------------------------------------------------------------------------
# Building the fleet (in a child process, so that this one stays small)


def _load(path: Path, name: str):  # noqa: ANN202 - a module loaded from an example's script
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _model_bundle(out: Path, kind: str, seed: int) -> Path:
    """The breast-cancer bundle with another seeded estimator in its pipeline (candidate and baseline alike)."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    train = _load(ROOT / "examples" / "breast-cancer" / "train.py", f"train_{kind}_{seed}")
    estimators = {
        "logreg": lambda **kw: LogisticRegression(**kw),
        "forest": lambda **kw: RandomForestClassifier(n_estimators=30, max_depth=6, random_state=kw["random_state"]),
        "boosting": lambda **kw: GradientBoostingClassifier(
            n_estimators=40, max_depth=3, random_state=kw["random_state"]
        ),
    }
    train.LogisticRegression = estimators[kind]
    train.build(out, seed=seed)
    return out


def _edit_schema(bundle: Path, edit) -> None:  # noqa: ANN001
    import yaml

    schema = yaml.safe_load((bundle / "schema.yaml").read_text())
    edit(schema["columns"])
    (bundle / "schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def _build(out: Path, count: int) -> None:
    import shutil
    import warnings

    warnings.simplefilter("ignore")
    base = out / "_base"
    models = [("logreg", 42), ("forest", 0), ("boosting", 0), ("logreg", 1), ("forest", 1), ("boosting", 1)]
    models += [("logreg", 2), ("forest", 2)]
    built: dict[str, Path] = {}

    def source(name: str) -> Path:  # each base bundle is built once, when first needed
        if name not in built:
            if name == "not-ready":
                built[name] = _load(ROOT / "examples" / "not-ready" / "build.py", "not_ready").build(base / name).parent
            else:
                kind, seed = name.split("-seed")
                built[name] = _model_bundle(base / name, kind, int(seed))
        return built[name]

    def drop_texture(columns: dict) -> None:
        columns.pop("mean_texture")

    def int_radius(columns: dict) -> None:
        columns["mean_radius"]["dtype"] = "int64"

    defects = {
        "schema-dtype": lambda b: _edit_schema(b, int_radius),
        "schema-missing-column": lambda b: _edit_schema(b, drop_texture),
        "tight-latency": lambda b: _replace(
            b / "serving.yaml", "p50_ms: 5, p99_ms: 20", "p50_ms: 0.0001, p99_ms: 0.0002"
        ),
        "quality-bar": lambda b: _replace(b / "readiness.toml", "roc_auc = 0.90", "roc_auc = 0.9999"),
        "missing-model": lambda b: (b / "model.onnx").unlink(),
    }
    plan: list[tuple[str, str, object]] = [(f"{kind}-seed{seed}", f"{kind}-seed{seed}", None) for kind, seed in models]
    plan += [(f"not-ready-{i}", "not-ready", None) for i in range(3)]
    for defect, edit in defects.items():
        for model in ("logreg-seed42", "forest-seed0")[: 1 if defect == "missing-model" else 2]:
            plan.append((f"{defect}-{model}", model, edit))
    if count < len(plan):  # --smoke: a healthy model, the not-ready example and one defect
        plan = [plan[0], plan[len(models)], plan[len(models) + 3 + 2]][:count]
    for name, base_name, edit in plan:
        shutil.copytree(source(base_name), out / "fleet" / name)
        if edit is not None:
            edit(out / "fleet" / name)  # type: ignore[operator]
    shutil.rmtree(base)


# ---------------------------------------------------------------------------------------------
# Running and comparing


def _comparable(card: dict) -> dict:
    """What must not depend on how a bundle was run: verdict, scores and each check's status."""
    return {
        "released": card.get("gate", {}).get("released"),
        "scores": card.get("scores"),
        "checks": {c["id"]: c["status"] for c in card.get("checks", [])},
        "blocking": card.get("gate", {}).get("blocking", []),
    }


def _singles(bundles: list[Path], out: Path, check_args: list[str]) -> tuple[float, dict[str, dict], float]:
    """(summed wall time, each bundle's comparable results, summed duration of the checks that ran alone)."""
    total, results, alone = 0.0, {}, 0.0
    exclusive = exclusive_check_ids()
    for bundle in bundles:
        card = out / f"{bundle.name}.json"
        run = measure([sys.executable, "-m", "readiness", "check", str(bundle), "--json", str(card), *check_args])
        total += run.wall_s
        if run.code in (0, 1):
            data = json.loads(card.read_text())
            results[bundle.name] = _comparable(data)
            alone += alone_seconds(data, exclusive)
        else:
            results[bundle.name] = {"exit": run.code}
    return total, results, alone


def _fleet(bundles: list[Path], out: Path, check_args: list[str], engine: list[str]) -> tuple[float, dict[str, dict]]:
    out.mkdir(parents=True, exist_ok=True)
    fleet_json = out / "fleet.json"
    run = measure(
        [
            sys.executable,
            "-m",
            "readiness",
            "check",
            *map(str, bundles),
            "--json",
            str(fleet_json),
            *engine,
            *check_args,
        ]
    )
    if not fleet_json.is_file():
        sys.exit(f"the fleet run wrote no fleet.json (exit {run.code}):\n{run.stderr[-2000:]}")
    results = {}
    for entry in json.loads(fleet_json.read_text())["bundles"]:
        name = Path(entry["path"]).name
        if entry["exit_code"] in (0, 1):
            results[name] = _comparable(json.loads((out / entry["reports"]["json"]).read_text()))
        else:
            results[name] = {"exit": entry["exit_code"]}
    return run.wall_s, results


def _differences(a: dict[str, dict], b: dict[str, dict]) -> list[str]:
    diffs = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x == y:
            continue
        if x is None or y is None or "exit" in x or "exit" in y:
            diffs.append(f"{name}: {x} vs {y}")
            continue
        changed = [c for c in sorted(set(x["checks"]) | set(y["checks"])) if x["checks"].get(c) != y["checks"].get(c)]
        what = ", ".join(f"{c} {x['checks'].get(c)}->{y['checks'].get(c)}" for c in changed)
        diffs.append(f"{name}: released {x['released']}->{y['released']}; {what or 'scores differ'}")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the first way alternates between rounds")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also check the fleet on a local Ray instance")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the figures here")
    parser.add_argument("--smoke", action="store_true", help="3 bundles, one round, ART and SCH checks only")
    parser.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_into:
        _build(args.build_into, args.count)
        return
    count = 3 if args.smoke else 20
    check_args = ["--quiet", *(["--select", "ART,SCH"] if args.smoke else [])]
    rounds = 1 if args.smoke else args.rounds

    with tempfile.TemporaryDirectory(prefix="readiness-fleet-") as tmpdir:
        tmp = Path(tmpdir)
        print(f"building {count} bundles ...", flush=True)
        subprocess.run([sys.executable, __file__, "--count", str(count), "--build-into", str(tmp)], check=True)
        bundles = sorted((tmp / "fleet").iterdir())
        before = load_average()
        fleet_walls, single_sums, alone_sums = [], [], []
        fleet_results: dict[str, dict] = {}
        single_results: dict[str, dict] = {}
        for i in range(rounds):
            order = ("fleet", "singles") if i % 2 == 0 else ("singles", "fleet")
            for way in order:
                print(f"round {i + 1}: {way} ...", flush=True)
                if way == "fleet":
                    wall, fleet_results = _fleet(bundles, tmp / f"fleet-{i}", check_args, ["--jobs", str(args.jobs)])
                    fleet_walls.append(wall)
                else:
                    (tmp / f"singles-{i}").mkdir()
                    wall, single_results, alone = _singles(bundles, tmp / f"singles-{i}", check_args)
                    single_sums.append(wall)
                    alone_sums.append(alone)
        after = load_average()
        ray = None
        if args.ray:
            print("ray: the fleet on a local Ray instance ...", flush=True)
            ray_wall, ray_results = _fleet(bundles, tmp / "ray", check_args, ["--ray"])
            ray = {"wall_s": ray_wall, "differences": _differences(single_results, ray_results)}

    diffs = _differences(single_results, fleet_results)
    ratio = median(fleet_walls) / median(single_sums)
    verdicts = [r.get("released") if "exit" not in r else f"exit {r['exit']}" for r in single_results.values()]
    print()
    print(
        f"{count} bundles ({sum(v is True for v in verdicts)} released, {sum(v is False for v in verdicts)} blocked,"
        f" {sum(isinstance(v, str) for v in verdicts)} unusable)"
    )
    for name, r in single_results.items():
        state = f"exit {r['exit']}" if "exit" in r else ("released" if r["released"] else "blocked")
        why = ", ".join(r.get("blocking", [])[:6])
        print(f"  {name:<40} {state:<9} {why}")
    print(f"  one at a time, summed:  {median(single_sums):7.2f} s")
    print(f"  --jobs {args.jobs} in one command: {median(fleet_walls):7.2f} s")
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"  ratio {ratio:.2f} (target <= {TARGET} with --jobs 2): {verdict}")
    # Timing runs alone: with J jobs the rest can at best be shared J ways, so the ratio is at least
    # (alone + (sum - alone) / J) / sum, whatever the scheduling.
    alone, total = median(alone_sums), median(single_sums)
    floor = (alone + (total - alone) / args.jobs) / total if total else 0.0
    print(
        f"  of the summed time, {alone:.2f} s ({alone / total:.0%}) is timing checks, which run alone:"
        f" no schedule with --jobs {args.jobs} can do better than {floor:.2f}"
    )
    same = "identical" if not diffs else f"DIFFERENT for {len(diffs)} bundle(s)"
    print(f"  verdicts, scores and check statuses, --jobs {args.jobs} vs one at a time: {same}")
    for line in diffs:
        print(f"    {line}")
    if ray is not None:
        same_ray = "identical" if not ray["differences"] else f"DIFFERENT for {len(ray['differences'])} bundle(s)"
        print(f"  --ray (local instance): {ray['wall_s']:.2f} s; vs one at a time: {same_ray}")
        for line in ray["differences"]:
            print(f"    {line}")
    print(
        f"medians of {rounds} round(s), first way alternating; wall = whole processes. {os.cpu_count()} cores;"
        f" load average before {before}, after {after}"
    )
    if args.json_out:
        payload = {
            "bundles": count,
            "jobs": args.jobs,
            "rounds": rounds,
            "fleet_wall_s": fleet_walls,
            "single_sum_s": single_sums,
            "ratio": ratio,
            "alone_s": alone_sums,
            "ratio_floor": floor,
            "target": TARGET,
            "met": ratio <= TARGET,
            "differences": diffs,
            "ray": ray,
            "load_average": {"before": before, "after": after},
        }
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"figures written to {args.json_out}")
    if diffs or (ray is not None and ray["differences"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
