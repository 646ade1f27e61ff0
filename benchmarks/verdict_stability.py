"""Does a bundle's verdict depend on `--seed`? Every zoo model and example, bundle and model-only, 10 seeds.

    python benchmarks/verdict_stability.py [--seeds 10] [--models lightgbm,xgboost,...] [--smoke]

Builds the real-model zoo (tests/zoo.py: LightGBM, XGBoost, a ColumnTransformer pipeline, a
GradientBoostingRegressor, an MLP, a logits head; each initialised with `readiness init`) and the
examples (breast-cancer, not-ready), then checks each one with seeds 0..N-1, twice: as a bundle
(readiness.toml) and model-only (the .onnx file alone). A run whose verdict (RELEASED/BLOCKED) is
not the same for every seed is unstable; the last line gives how many runs changed verdict. For
each unstable run, the checks whose status changed are listed with their statuses by seed.

The latency checks are left out: their verdicts depend on the machine's load, not on the seed
(benchmarks/latency_accuracy.py measures them). `--smoke` runs two models with two seeds.
Exit status 0, or 1 with `--fail-on-change` when some verdict changed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

EXAMPLES = ("breast-cancer", "not-ready")


def _example(name: str, out: Path) -> Path:
    import importlib.util

    script = ROOT / "examples" / name / ("train.py" if name == "breast-cancer" else "build.py")
    spec = importlib.util.spec_from_file_location(f"example_{name.replace('-', '_')}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.build(out)
    return out


def build_all(names: list[str], root: Path) -> dict[str, Path]:
    import zoo

    bundles: dict[str, Path] = {}
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bundles[name] = _example(name, root / name) if name in EXAMPLES else zoo.ZOO[name](root / name)
    return bundles


def verdicts(path: Path, seeds: list[int]) -> tuple[list[bool | None], dict[str, list[str]]]:
    """The gate's verdict per seed (None when the run could not be evaluated), and each check's statuses."""
    from readiness import evaluate
    from readiness.errors import ReadinessError

    out: list[bool | None] = []
    statuses: dict[str, list[str]] = {}
    for seed in seeds:
        try:
            card, _ = evaluate(path, seed=seed, ignore=["LAT"])
        except ReadinessError as exc:
            out.append(None)
            statuses.setdefault("(run)", []).append(f"unusable: {exc}"[:80])
            continue
        out.append(card.released)
        for record in card.checks:
            statuses.setdefault(record.id, []).append(record.status)
    return out, statuses


def main() -> int:
    import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--models", default=None, help="comma-separated subset of: " + ", ".join([*zoo.ZOO, *EXAMPLES]))
    parser.add_argument("--smoke", action="store_true", help="two models, two seeds: a quick run for `make test`")
    parser.add_argument("--fail-on-change", action="store_true", help="exit 1 when a verdict changes with the seed")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else [*zoo.ZOO, *EXAMPLES]
    seeds = list(range(args.seeds))
    if args.smoke:
        names, seeds = ["xgboost", "logits"], [0, 1]
    unknown = [n for n in names if n not in zoo.ZOO and n not in EXAMPLES]
    if unknown:
        parser.error(f"unknown model(s) {unknown}")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="readiness-stability-") as tmp:
        bundles = build_all(names, Path(tmp))
        print(f"verdict stability over seeds {seeds[0]}..{seeds[-1]} (checks: all but LAT)")
        print(f"{'model':<30} {'run':<11} {'verdict by seed':<{max(15, len(seeds))}}  changes")
        changed = 0
        runs = 0
        details: list[str] = []
        for name, bundle in bundles.items():
            for mode, path in (("bundle", bundle), ("model-only", bundle / "model.onnx")):
                found, statuses = verdicts(path, seeds)
                runs += 1
                letters = "".join("?" if v is None else ("R" if v else "B") for v in found)
                unstable = len(set(found)) > 1
                changed += unstable
                print(f"{name:<30} {mode:<11} {letters:<{max(15, len(seeds))}}  {'YES' if unstable else 'no'}")
                if unstable:
                    flips = {cid: s for cid, s in statuses.items() if len(set(s)) > 1}
                    for cid, s in sorted(flips.items()):
                        details.append(f"  {name} {mode} {cid}: {' '.join(s)}")
        if details:
            print("checks whose status changed with the seed:")
            print("\n".join(details))
        print(f"R = RELEASED, B = BLOCKED, ? = unusable input; {time.perf_counter() - started:.0f} s")
        print(f"bundles whose verdict changes with the seed: {changed} of {runs} runs")
    return 1 if (changed and args.fail_on_change) else 0


if __name__ == "__main__":
    sys.exit(main())
