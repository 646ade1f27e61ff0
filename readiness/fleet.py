"""Many bundles in one command: find them, check each in its own process, and summarise the fleet.

Each bundle runs as its own `readiness check` child process, exactly as it would alone:
same options, same timeouts and interrupts, its own scorecard files. `jobs` children
run at once, sharing the CPUs (`--workers` per child). Timing-sensitive checks hold the
machine-wide reader/writer lock exclusively (see `runner.machine_lock`), so while one bundle
times its latency no other bundle on the machine times or works.
The fleet summary (`fleet.json`) holds every bundle's verdict, scores and blocking
reasons; the fleet's exit code is the worst of its bundles'.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import BundleError

MANIFEST = "readiness.toml"
MAX_BUNDLES = 10_000
_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox", "site-packages"}
FLEET_SCHEMA_VERSION = 1


# --------------------------------------------------------------------------- discovery
def _walk(root: Path) -> Iterator[Path]:
    """Directories under `root` holding readiness.toml, in sorted order, never following links out."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        if MANIFEST in filenames:
            yield Path(dirpath)


def _is_bundle(path: Path) -> bool:
    return path.is_file() or any((path / name).is_file() for name in (MANIFEST, "pyproject.toml", "MLmodel"))


def discover(paths: Sequence[Path]) -> list[Path]:
    """The bundles that `paths` name: a bundle directory, a manifest, an .onnx file, or a directory to search.

    A directory holding readiness.toml, pyproject.toml or an MLflow `MLmodel` is one
    bundle; any other directory is searched for readiness.toml files. A path that is
    neither (missing, or a directory with no bundle below it) is kept as it is, so that
    loading it says what is wrong, as for a single bundle.
    """
    found: list[Path] = []
    for path in paths:
        bundles = [] if not path.is_dir() or _is_bundle(path) else list(_walk(path))
        found.extend(bundles or [path])
        if len(found) > MAX_BUNDLES:
            raise BundleError(path, None, f"more than {MAX_BUNDLES} bundles found", "name fewer directories")
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def slugs(bundles: Sequence[Path]) -> list[str]:
    """A unique, file-name-safe name per bundle, from its path (`models/churn` -> `models-churn`)."""
    out: list[str] = []
    used: set[str] = set()
    for path in bundles:
        text = path.as_posix().strip("./") or path.resolve().name or "bundle"
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:80] or "bundle"
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        out.append(name)
    return out


# --------------------------------------------------------------------------- running
@dataclass
class BundleOutcome:
    """One bundle's result in a fleet run."""

    path: str
    name: str
    exit_code: int
    duration_s: float
    verdict: str  # released | blocked | error
    model: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    reports: dict[str, str] = field(default_factory=dict)  # format -> file name next to the fleet files


def _verdict(code: int) -> str:
    return {0: "released", 1: "blocked"}.get(code, "error")


def _run_one(
    bundle: Path,
    name: str,
    out_dir: Path,
    formats: Sequence[str],
    check_args: Sequence[str],
    env: dict[str, str] | None = None,
) -> BundleOutcome:
    reports = {fmt: f"{name}.{_SUFFIX[fmt]}" for fmt in dict.fromkeys(["json", *formats])}
    cmd = [sys.executable, "-m", "readiness", "check", str(bundle), "--quiet", *check_args]
    for fmt, file in reports.items():
        cmd += [f"--{fmt}", str(out_dir / file)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    duration = time.perf_counter() - start
    outcome = BundleOutcome(str(bundle), name, proc.returncode, round(duration, 3), _verdict(proc.returncode))
    scorecard_path = out_dir / reports["json"]
    if proc.returncode in (0, 1) and scorecard_path.is_file():
        card = json.loads(scorecard_path.read_text(encoding="utf-8"))
        gate = card.get("gate", {})
        outcome.model = {k: card.get("model", {}).get(k) for k in ("name", "version", "path", "sha256")}
        outcome.scores = {k: v for k, v in card.get("scores", {}).items() if k != "mlts"}
        outcome.scores["mlts"] = card.get("scores", {}).get("mlts", {}).get("score")
        outcome.blocking = list(gate.get("blocking", []))
        outcome.reasons = [str(r).splitlines()[0][:300] for r in gate.get("reasons", [])]
        outcome.reports = {fmt: file for fmt, file in reports.items() if (out_dir / file).is_file()}
    else:
        lines = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
        outcome.error = (lines[-1] if lines else f"exit code {proc.returncode}")[:500]
    return outcome


_SUFFIX = {"json": "json", "html": "html", "markdown": "md", "junit": "xml", "sarif": "sarif"}


def run(
    bundles: Sequence[Path],
    out_dir: Path,
    *,
    jobs: int = 1,
    formats: Sequence[str] = (),
    check_args: Sequence[str] = (),
    on_done: Callable[[BundleOutcome], None] | None = None,
) -> list[BundleOutcome]:
    """Check every bundle in its own child process, `jobs` at a time; outcomes in the bundles' order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = slugs(bundles)

    def one(i: int) -> BundleOutcome:
        outcome = _run_one(bundles[i], names[i], out_dir, formats, check_args)
        if on_done is not None:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(len(bundles))))


def _run_one_packed(
    bundle: str, name: str, formats: Sequence[str], check_args: Sequence[str]
) -> tuple[BundleOutcome, dict[str, bytes]]:
    """Check one bundle on a Ray worker: its reports come back as bytes, so no shared filesystem is needed for them."""
    import tempfile

    import ray

    from .chunked import RAY_CHUNKS_ENV

    # the bundle's own check may score the Parquet files of large reference data on the same cluster
    env = {**os.environ, RAY_CHUNKS_ENV: ray.get_runtime_context().gcs_address}
    with tempfile.TemporaryDirectory(prefix="readiness-ray-") as tmp:
        outcome = _run_one(Path(bundle), name, Path(tmp), formats, check_args, env)
        files = {file: (Path(tmp) / file).read_bytes() for file in outcome.reports.values()}
        if outcome.verdict == "error":  # the JSON scorecard may be absent; nothing else to bring back
            files = {f: b for f, b in files.items() if b}
    return outcome, files


def run_ray(
    bundles: Sequence[Path],
    out_dir: Path,
    *,
    address: str | None = None,
    formats: Sequence[str] = (),
    check_args: Sequence[str] = (),
    on_done: Callable[[BundleOutcome], None] | None = None,
) -> list[BundleOutcome]:
    """Check every bundle as a Ray task (a local Ray instance when `address` is None); outcomes in order.

    Each task runs `readiness check` on the worker, one CPU each. Workers must see the
    bundles at the paths given (a shared filesystem, or relative paths under the current
    directory, which is shipped to a remote cluster as the tasks' working directory).
    Reports come back to this machine. Timing-sensitive checks take a lock shared by
    every readiness process on their node, so they never time next to another bundle.
    """
    try:
        import ray
    except ImportError:
        raise BundleError(
            None, "--ray", "Ray is not installed", "pip install 'readiness[ray]' here and on every worker"
        ) from None
    from .scorecard import write_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    names = slugs(bundles)
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if address:
            kwargs["address"] = address
            if any(not p.is_absolute() for p in bundles):
                kwargs["runtime_env"] = {"working_dir": ".", "excludes": [".git", ".venv", str(out_dir)]}
        else:
            kwargs["num_cpus"] = os.cpu_count() or 1
        ray.init(**kwargs)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_run_one_packed)
        refs = [task.remote(str(b), n, list(formats), list(check_args)) for b, n in zip(bundles, names, strict=True)]
        index = {ref: i for i, ref in enumerate(refs)}
        outcomes: list[BundleOutcome | None] = [None] * len(refs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                outcome, files = ray.get(ref)
                for file, data in files.items():
                    write_atomic(out_dir / file, data)
                outcomes[index[ref]] = outcome
                if on_done is not None:
                    on_done(outcome)
        return [o for o in outcomes if o is not None]
    finally:
        if started:
            ray.shutdown()


def worst_exit_code(outcomes: Sequence[BundleOutcome]) -> int:
    """Internal error (3) over unusable input (2) over blocked (1) over released (0)."""
    codes = [o.exit_code for o in outcomes] or [0]
    for code in (3, 2, 1):
        if code in codes:
            return code
    return max(codes)


def summary(outcomes: Sequence[BundleOutcome], *, jobs: int, wall_s: float) -> dict[str, Any]:
    """The fleet summary written as fleet.json."""
    totals = {v: sum(o.verdict == v for o in outcomes) for v in ("released", "blocked", "error")}
    return {
        "schema_version": FLEET_SCHEMA_VERSION,
        "bundles": [asdict(o) for o in outcomes],
        "totals": {"bundles": len(outcomes), **totals},
        "exit_code": worst_exit_code(outcomes),
        "run": {
            "jobs": jobs,
            "wall_s": round(wall_s, 3),
            "sum_of_bundles_s": round(sum(o.duration_s for o in outcomes), 3),
        },
    }
