"""What RPR003's probe families cost: the example's full run with and without them, in one run.

    python benchmarks/parity_probes.py [--rounds 3] [--smoke]

Builds the breast-cancer example into a temporary directory, copies it twice (one copy
with `parity_probe_rows = 0`, which turns the probes off) and runs `readiness check` on
the two copies alternately, so machine load drifts cancel. Prints, per variant, the
median wall time of the whole command and of RPR003 alone (from the JSON scorecard),
their difference and their ratio. `--smoke` runs one round of RPR003 only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _build(dest: Path) -> None:
    spec = importlib.util.spec_from_file_location("bc_train", ROOT / "examples" / "breast-cancer" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(dest)


def _without_probes(bundle: Path) -> None:
    import tomli_w

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = bundle / "readiness.toml"
    table = tomllib.loads(path.read_text())
    table.setdefault("policy", {}).setdefault("thresholds", {})["parity_probe_rows"] = 0
    path.write_text(tomli_w.dumps(table))


def _run(bundle: Path, out: Path, select: str) -> tuple[float, float, str]:
    """(wall seconds, RPR003 duration seconds, RPR003 message) of one `readiness check`."""
    exe = Path(sys.executable).parent / "readiness"
    start = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "check", str(bundle), "--select", select, "--json", str(out), "--quiet"],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"readiness check {bundle} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    record = next(c for c in json.loads(out.read_text())["checks"] if c["id"] == "RPR003")
    return wall, record["duration_s"], record["message"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one round, RPR003 only")
    args = parser.parse_args()
    rounds, select = (1, "RPR003") if args.smoke else (args.rounds, "ALL")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "example"
        _build(base)
        variants = {"with probes": Path(tmp) / "with", "without probes": Path(tmp) / "without"}
        for path in variants.values():
            shutil.copytree(base, path)
        _without_probes(variants["without probes"])
        walls: dict[str, list[float]] = {k: [] for k in variants}
        rpr003: dict[str, list[float]] = {k: [] for k in variants}
        message = ""
        for _ in range(rounds):
            for name, path in variants.items():
                wall, duration, msg = _run(path, Path(tmp) / f"{name}.json", select)
                walls[name].append(wall)
                rpr003[name].append(duration)
                message = msg if name == "with probes" else message
    print(f"example bundle, --select {select}, {rounds} alternating round(s); medians:")
    for name in variants:
        print(
            f"  {name:15s} wall {statistics.median(walls[name]):7.2f} s   RPR003 {statistics.median(rpr003[name]):6.2f} s"
        )
    w_on, w_off = statistics.median(walls["with probes"]), statistics.median(walls["without probes"])
    r_on, r_off = statistics.median(rpr003["with probes"]), statistics.median(rpr003["without probes"])
    print(
        f"  probes add {w_on - w_off:+.2f} s to the whole run (ratio {w_on / w_off:.3f}); RPR003 {r_on - r_off:+.2f} s"
    )
    print(f"  RPR003 with probes: {message[:300]}")


if __name__ == "__main__":
    main()
