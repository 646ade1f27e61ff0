"""One run, end to end: bundle -> context -> checks -> gate and scores -> Scorecard."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import __version__
from .bundle import Bundle, load_bundle, sha256_file
from .context import Context
from .errors import BundleError
from .gate import apply_waivers, decide, scores
from .parsing import clip, quote
from .registry import Registry, default_registry, select_checks
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
) -> list:
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


def _validate_against_registry(bundle: Bundle, registry: Registry) -> None:
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
    context: Context | None = None,  # reuse a Context made earlier for this bundle (pytest plugin)
    endpoint: Any = None,  # readiness.endpoint.EndpointOptions: the live server the SRV checks talk to
) -> tuple[Scorecard, Context]:
    """Run the selected checks on a bundle and return its scorecard (and the context used)."""
    started = time.time()
    bundle = path if isinstance(path, Bundle) else load_bundle(path, trust=trust, root=root)
    registry = registry if registry is not None else default_registry()
    _validate_against_registry(bundle, registry)
    specs = selected_checks(registry, bundle, select, ignore)
    ctx = (
        context
        if context is not None
        else Context(bundle, seed=seed, thresholds=registry.thresholds(), endpoint=endpoint)
    )
    runner = Runner(
        ctx,
        timeout_s=bundle.manifest.checks.timeout_s,
        severities=dict(bundle.manifest.checks.severity),
        listener=listener,
    )
    runs = runner.run(specs)
    return build_scorecard(bundle, runs, ctx, seed=seed, fail_on=fail_on, today=today, started=started), ctx


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
            "reference_rows": None if bundle.reference is None else len(bundle.reference),
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
