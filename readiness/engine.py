"""One run, end to end: bundle -> context -> checks -> gate and scores -> Scorecard."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .bundle import Bundle, load_bundle, sha256_file
from .cancel import Timeouts
from .context import Context
from .errors import BundleError
from .gate import apply_waivers, decide, scores
from .parsing import clip, quote
from .registry import CheckSpec, Registry, default_registry, select_checks
from .runner import CheckRun, Listener, Runner
from .scorecard import CheckRecord, Scorecard


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(bundle: Bundle) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    runtime = bundle.serving.runtime if bundle.serving else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": runtime.intra_op_threads if runtime else 1,
        "inter_op_threads": runtime.inter_op_threads if runtime else 1,
        "providers": list(runtime.providers) if runtime else ["CPUExecutionProvider"],
        "available_providers": list(ort.get_available_providers()),
        "graph_optimization_level": runtime.graph_optimization_level if runtime else "all",
        "spinning": False,
    }


def selected_checks(
    registry: Registry, bundle: Bundle, select: Iterable[str] | None, ignore: Iterable[str] | None
) -> list[CheckSpec]:
    cfg = bundle.manifest.checks
    sel = list(select) if select else list(cfg.select)
    ign = list(cfg.ignore) + list(ignore or [])
    try:
        return select_checks(registry, sel, ign)
    except ValueError as exc:
        origin = "--select/--ignore" if (select or ignore) else str(bundle.manifest_path)
        raise BundleError(
            origin,
            "[checks].select/ignore",
            f"selector {exc} matches no check",
            "use a check id or prefix from `readiness list-checks`, or ALL",
        ) from None


def validate_against_registry(bundle: Bundle, registry: Registry) -> None:
    """Refuse a manifest naming thresholds, checks or requirements no installed check has (exit 2)."""
    file = bundle.manifest_path
    for key, problem, fix in registry.threshold_problems(bundle.manifest.policy.thresholds):
        raise BundleError(file, f"[policy.thresholds].{clip(key)}", problem, fix)
    for key, where in [(i, "[checks.severity]") for i in bundle.manifest.checks.severity] + [
        (w.check, "[[waivers]].check") for w in bundle.manifest.waivers
    ]:
        if key not in registry:
            raise BundleError(
                file,
                f"{where} {clip(key)}",
                "no installed check has this id",
                "use an id from `readiness list-checks`",
            )
    for rid in bundle.manifest.policy.require:
        if not any(spec.id.startswith(rid) for spec in registry):
            raise BundleError(
                file,
                "[policy].require",
                f"{quote(rid)} matches no check",
                "use an id or prefix from `readiness list-checks`",
            )


@dataclass
class Plan:
    """A run about to happen: the loaded bundle, the selected checks and the context they share.

    Made by `plan(...)`; `run()` runs the checks and returns the scorecard. The CLI, the pytest
    plugin and `evaluate` all go through it.
    """

    bundle: Bundle
    specs: list[CheckSpec]
    context: Context
    registry: Registry
    seed: int = 0
    fail_on: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    today: _dt.date | None = None
    started: float = field(default_factory=time.time)  # wall clock, for the scorecard
    started_monotonic: float = field(default_factory=time.monotonic)  # the whole-run limit counts from here
    stragglers: list[Any] = field(default_factory=list)  # checks whose thread could not be stopped (is_alive())
    workers: int | None = None  # untimed checks running at once (None: one per usable CPU, at most 4; 1: in turn)

    def run(self, *, only: Iterable[str] | None = None, listener: Listener | None = None) -> Scorecard:
        """Run the selected checks (or those of them whose ids are in `only`) and build the scorecard."""
        specs = self.specs
        if only is not None:
            wanted = set(only)
            specs = [spec for spec in specs if spec.id in wanted]
        runner = Runner(
            self.context,
            timeouts=self.timeouts,
            severities=dict(self.bundle.manifest.checks.severity),
            listener=listener,
            started=self.started_monotonic,
            workers=self.workers,
        )
        try:
            runs = runner.run(specs)
        finally:
            self.stragglers.extend(runner.stragglers)
        return build_scorecard(
            self.bundle,
            runs,
            self.context,
            seed=self.seed,
            fail_on=self.fail_on,
            today=self.today,
            started=self.started,
        )


def plan(
    path: str | os.PathLike[str] | Bundle = ".",
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    seed: int = 0,
    trust: bool = False,
    fail_on: str | None = None,
    root: str | os.PathLike[str] | None = None,
    timeouts: Timeouts | None = None,
    registry: Registry | None = None,
    today: _dt.date | None = None,
    endpoint: Any = None,
    workers: int | None = None,
) -> Plan:
    """Load the bundle at `path` (or take a loaded Bundle), validate it against the installed checks,
    select the checks and make the context: everything a run needs, nothing run yet.

    `timeouts` are the command line's limits (`--timeout`, `--check-timeout`); the bundle's own
    `[checks] timeout_s` can only lower the per-check limit. `root` is the workspace root every path
    the bundle names must stay inside (default: the bundle's git work tree, else its directory).
    `endpoint` (readiness.endpoint.EndpointOptions) is the live server the SRV checks talk to.
    `workers` is how many untimed checks run at once (default: one per usable CPU, at most 4;
    1 runs them one after another); timing-sensitive checks always run alone, afterwards.
    """
    started, started_monotonic = time.time(), time.monotonic()
    if isinstance(path, Bundle):
        bundle = path
    else:
        bundle = load_bundle(path, trust=trust, root=root)
    registry = registry if registry is not None else default_registry()
    validate_against_registry(bundle, registry)
    specs = selected_checks(registry, bundle, select, ignore)
    limits = (timeouts or Timeouts()).lowered(bundle.manifest.checks.timeout_s)
    ctx = Context(bundle, seed=seed, thresholds=registry.thresholds(), endpoint=endpoint)
    ctx.check_timeout_s = limits.check_s
    return Plan(
        bundle=bundle,
        specs=specs,
        context=ctx,
        registry=registry,
        seed=seed,
        fail_on=fail_on,
        timeouts=limits,
        today=today,
        started=started,
        started_monotonic=started_monotonic,
        workers=workers,
    )


def evaluate(
    path: str | os.PathLike[str] | Bundle = ".",
    *,
    trust: bool = False,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    fail_on: str | None = None,
    registry: Registry | None = None,
    listener: Listener | None = None,
    today: _dt.date | None = None,
    timeouts: Timeouts | None = None,
    endpoint: Any = None,  # readiness.endpoint.EndpointOptions: the live server the SRV checks talk to
    workers: int | None = None,  # untimed checks running at once (default: one per usable CPU, at most 4)
) -> tuple[Scorecard, Context]:
    """Run the selected checks on a bundle and return its scorecard and the context used.

    A thin wrapper over `plan(...).run(...)`, kept for compatibility.
    """
    the_plan = plan(
        path,
        select=select,
        ignore=ignore,
        seed=seed,
        trust=trust,
        fail_on=fail_on,
        root=root,
        timeouts=timeouts,
        registry=registry,
        today=today,
        endpoint=endpoint,
        workers=workers,
    )
    return the_plan.run(listener=listener), the_plan.context


def build_scorecard(
    bundle: Bundle,
    runs: list[CheckRun],
    ctx: Context,
    *,
    seed: int,
    fail_on: str | None,
    today: _dt.date | None,
    started: float,
) -> Scorecard:
    from . import mlts

    manifest = bundle.manifest
    today = today or _dt.date.today()
    waivers = apply_waivers(runs, manifest.waivers, today)
    policy_fail_on = fail_on or manifest.policy.fail_on
    gate = decide(runs, fail_on=policy_fail_on, require=manifest.policy.require, waivers=waivers)
    records = [
        CheckRecord(
            id=r.spec.id,
            title=r.spec.title,
            category=r.spec.category,
            severity=r.severity,
            status=r.result.status,
            message=r.result.message,
            measured=r.result.measured,
            evidence=r.result.evidence,
            remediation=r.spec.remediation,
            mlts=list(r.spec.mlts),
            duration_s=round(r.duration_s, 6),
            caused_by=list(r.result.caused_by),
        )
        for r in runs
    ]
    score = scores(runs)
    score["mlts"] = mlts.score(records, manifest.attestations)
    model = {
        "name": manifest.model.name or bundle.model_path.stem,
        "version": manifest.model.version,
        "path": bundle.relpath(bundle.model_path),
        "sha256": sha256_file(bundle.model_path),
        "task": ctx.task if _safe(lambda: ctx.task) else manifest.model.task,
        "source": bundle.relpath(bundle.source_path),
        "description": manifest.model.description,
        "card": manifest.card.model_dump(exclude_none=True),
    }
    return Scorecard(
        tool={"name": "readiness", "version": __version__},
        model=model,
        gate={
            "released": gate.released,
            "fail_on": gate.fail_on,
            "blocking": gate.blocking,
            "reasons": gate.reasons,
            "causes": gate.causes,
        },
        scores=score,
        checks=records,
        waivers=waivers,
        environment=_with_endpoint(environment(bundle), ctx),
        bundle={
            "manifest": bundle.manifest_path.name if bundle.manifest_path else None,
            "manifest_uri": manifest_uri(bundle.manifest_path),
            "serving": bundle.relpath(bundle.serving_path),
            "schema": bundle.relpath(bundle.schema_path),
            "reference": bundle.relpath(bundle.reference_path),
            "reference_rows": _reference_rows(bundle),
            "reference_in_memory_rows": None if bundle.reference is None else len(bundle.reference),
            "baseline": manifest.baseline.manifest,
            "notes": list(bundle.notes),
            "format": bundle.format,  # manifest | model-only | mlflow
            "model_only": bundle.format == "model-only",
            "serving_format": bundle.serving_format,
            "format_details": dict(bundle.details),
        },
        run={
            "seed": seed,
            "trust": bundle.trust,
            "date": today.isoformat(),
            "started_at": _dt.datetime.fromtimestamp(started, _dt.timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - started, 3),
            "selected": [r.spec.id for r in runs],
        },
    )


def _with_endpoint(env: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The live endpoint (URL without credentials, server name and version) when --endpoint was given."""
    endpoint = getattr(ctx, "endpoint", None)
    if endpoint is not None:
        env["endpoint"] = endpoint.environment()
    return env


def _safe(fn: Any) -> bool:
    try:
        fn()
        return True
    except Exception:  # noqa: BLE001 - task inference needs a loadable model
        return False


def manifest_uri(path: Path | None) -> str | None:
    """The manifest's path relative to the working directory (a repository's root in CI), for SARIF locations."""
    if path is None:
        return None
    full = Path(path).resolve()
    try:
        relative = Path(os.path.relpath(full, Path.cwd().resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return full.as_uri()
    return full.as_uri() if relative.startswith("../") else relative


def _reference_rows(bundle: Bundle) -> int | None:
    """Every reference row, the ones streamed in chunks included."""
    if bundle.reference is None:
        return None
    return bundle.reference_data.rows if bundle.reference_data is not None else len(bundle.reference)
