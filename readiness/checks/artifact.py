"""Artifact checks: the ONNX file is valid, loads, uses supported opsets, describes itself, and fits its budget."""

from __future__ import annotations

from typing import Any

from readiness.bundle import sha256_file
from readiness.context import Context
from readiness.errors import ModelLoadError
from readiness.parsing import quote
from readiness.registry import Result, check, failed, inconclusive, passed, skipped
from readiness.runtime import ProviderUnavailable
from readiness.security import external_data_locations, unsafe_external_data

from ._onnx_facts import (
    RUNTIME_DOMAINS,
    ModelUnreadable,
    model_facts,
    model_or_skip,
    model_proto,
    runtime_opset_range,
)
from ._runtime_releases import LATEST, RELEASES, Release, admitted

MIB = 1024 * 1024


def _first_line(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


@check(
    "ART001",
    "ONNX model is valid and loads in the runtime",
    category="artifact",
    severity="blocker",
    mlts=["Infra 3"],
    remediation="re-export the model with a current exporter and check it with "
    "`onnx.checker.check_model(model, full_check=True)`; make sure it loads in the onnxruntime version you serve with",
)
def model_valid_and_loads(ctx: Context) -> Result:
    """The model passes `onnx.checker` (full check, with shape inference) and loads in onnxruntime.

    A file that is not ONNX, is truncated, breaks the ONNX spec, or that onnxruntime
    refuses (unknown opset, custom op, unsupported IR version) fails here, so the
    report is still written. External data is never read before SEC001's scan says
    every location stays inside the bundle.
    """
    import onnx

    try:
        proto = model_proto(ctx)
    except ModelUnreadable as exc:
        return failed(exc.reason, evidence={"file": ctx.bundle.relpath(ctx.bundle.model_path)})
    facts = model_facts(ctx)
    measured: dict[str, Any] = {"ir_version": facts.ir_version, "opsets": facts.opsets}
    unsafe = unsafe_external_data(proto, ctx.bundle.model_path.parent)
    if unsafe:
        ref, why = unsafe[0]
        return failed(
            f"refused to check or load the model: tensor {quote(ref.tensor, 80)} has external data at "
            f"{quote(ref.location)} "
            f"({why}); see SEC001",
            measured,
        )
    try:
        if external_data_locations(proto):
            onnx.checker.check_model(str(ctx.bundle.model_path), full_check=True)
        else:
            onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # noqa: BLE001 - ValidationError, InferenceError, and others
        return failed(f"onnx.checker (full check) rejects the model: {_first_line(exc)}", measured)
    measured["checker"] = "full_check passed"
    try:
        session = ctx.session
    except ProviderUnavailable as exc:
        spec = ctx.runtime_spec
        if spec is not None and spec.required_providers:
            return failed(f"{exc}; the serving config marks its providers as required", measured)
        return skipped(f"onnx.checker passed, but the model was not loaded: {exc}", measured)
    except ModelLoadError as exc:
        return failed(f"onnx.checker passed, but {_first_line(exc)}", measured)
    evidence = {
        "inputs": [f"{i.name}: {i.type} {i.shape}" for i in session.get_inputs()],
        "outputs": [f"{o.name}: {o.type} {o.shape}" for o in session.get_outputs()],
        "providers": session.get_providers(),
    }
    return passed(
        f"passes onnx.checker (full check) and loads in onnxruntime (IR {facts.ir_version})", measured, evidence
    )


def _declared_runtime(ctx: Context) -> tuple[str | None, bool | None]:
    """(declared version specifier, whether the installed onnxruntime satisfies it)."""
    import onnxruntime as ort

    spec = ctx.runtime_spec.version if ctx.runtime_spec is not None else None
    if not spec:
        return None, None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return spec, SpecifierSet(spec).contains(ort.__version__, prereleases=True)
    except InvalidSpecifier:
        return spec, None


@check(
    "ART002",
    "Every imported opset is supported by the runtime",
    category="artifact",
    severity="blocker",
    mlts=["Infra 3", "Monitor 1"],
    remediation="re-export with a target opset the serving runtime supports, e.g. skl2onnx "
    "`target_opset={'': 17, 'ai.onnx.ml': 3}` or torch.onnx `opset_version=17`; or upgrade the serving onnxruntime",
)
def opsets_supported(ctx: Context) -> Result:
    """Each opset the model imports (ai.onnx, ai.onnx.ml, com.microsoft) is within what onnxruntime supports.

    onnxruntime publishes no API for its supported opsets, so readiness probes the
    installed onnxruntime once per process (a one-node model per opset version).
    A domain onnxruntime does not implement at all is unsupported (see SEC003).
    When the serving config declares `runtime.version` and the installed
    onnxruntime does not satisfy it, the verdict is `inconclusive`: the probe
    speaks only for the runtime that is installed.
    """
    import onnxruntime as ort

    facts = model_or_skip(ctx)
    supported: dict[str, list[int] | None] = {}
    problems: list[str] = []
    for domain, version in sorted(facts.opsets.items()):
        if domain not in RUNTIME_DOMAINS:
            supported[domain] = None
            problems.append(f"{domain} v{version}: onnxruntime does not implement this domain (see SEC003)")
            continue
        span = runtime_opset_range(domain)
        supported[domain] = list(span) if span else None
        if span is None:
            problems.append(f"{domain} v{version}: onnxruntime {ort.__version__} supports no version of this domain")
        elif not span[0] <= version <= span[1]:
            problems.append(
                f"{domain} v{version} is outside {span[0]}..{span[1]} supported by onnxruntime {ort.__version__}"
            )
    declared, satisfied = _declared_runtime(ctx)
    measured = {"opsets": facts.opsets, "supported": supported, "onnxruntime": ort.__version__}
    if declared:
        measured["declared_runtime"] = declared
    if problems:
        return failed("; ".join(problems), measured)
    imported = ", ".join(f"{d} v{v}" for d, v in sorted(facts.opsets.items()))
    if declared and satisfied is not True:
        why = "is not a valid version specifier" if satisfied is None else f"excludes the installed {ort.__version__}"
        return inconclusive(
            f"{imported} load in onnxruntime {ort.__version__}, but the declared runtime.version {declared!r} {why}; "
            "run readiness with the onnxruntime you serve with",
            measured,
        )
    return passed(f"{imported}: all supported by onnxruntime {ort.__version__}", measured)


@check(
    "ART003",
    "Model metadata present and consistent with the manifest",
    category="artifact",
    severity="minor",
    mlts=["Model 1"],
    remediation="set producer_name/producer_version, doc_string and model_version when exporting, and add "
    'metadata_props {"name": ..., "version": ...} equal to [model].name and [model].version in readiness.toml',
)
def metadata_present(ctx: Context) -> Result:
    """The model names its producer, carries a version and a description, and its name/version agree with the manifest.

    ONNX has no model-level name: the manifest's `[model].name`/`version` are compared
    with `metadata_props` `name`/`version` where those are present. `model_version`
    is an integer in ONNX, so it is reported, not compared with a version string.
    """
    facts = model_or_skip(ctx)
    meta = facts.metadata
    missing: list[str] = []
    if not facts.producer_name.strip():
        missing.append("producer (producer_name)")
    if facts.model_version == 0 and not meta.get("version", "").strip():
        missing.append('version (model_version or metadata_props "version")')
    if not facts.doc_string.strip() and not meta.get("description", "").strip():
        missing.append('description (doc_string or metadata_props "description")')
    mismatches: list[str] = []
    model = ctx.manifest.model
    for key, declared in (("name", model.name), ("version", model.version)):
        found = meta.get(key)
        if declared is not None and found is not None and found != declared:
            mismatches.append(f"metadata_props {key}={found!r} but [model].{key}={declared!r}")
    measured = {
        "producer_name": facts.producer_name,
        "producer_version": facts.producer_version,
        "model_version": facts.model_version,
        "metadata_props": dict(sorted(meta.items())),
        "has_description": bool(facts.doc_string.strip() or meta.get("description", "").strip()),
    }
    if missing or mismatches:
        parts = ([f"missing: {', '.join(missing)}"] if missing else []) + mismatches
        return failed("; ".join(parts), measured)
    producer = f"{facts.producer_name} {facts.producer_version}".strip()
    return passed(f"producer {producer}, model_version {facts.model_version}, described", measured)


@check(
    "ART004",
    "Artifact size within budget; sha256 recorded",
    category="artifact",
    severity="major",
    remediation="shrink the model (fewer trees or features, float16 weights, quantisation) or raise "
    "resources.max_model_mb in the serving config if the serving host can hold it",
)
def artifact_size(ctx: Context) -> Result:
    """The model file plus its external data fit `resources.max_model_mb` (MiB); their sha256 is recorded.

    Without a budget the check passes and still records the size and sha256, so a
    scorecard always identifies the exact artifact that was judged. External-data
    files count only when they lie inside the bundle (SEC001 judges the others).
    """
    path = ctx.bundle.model_path
    files = {ctx.bundle.relpath(path): path}
    try:
        proto = model_proto(ctx)
    except ModelUnreadable:
        proto = None
    if proto is not None:
        model_dir = path.parent
        unsafe = {ref.location for ref, _ in unsafe_external_data(proto, model_dir)}
        for ref in external_data_locations(proto):
            target = model_dir / ref.location
            if ref.location not in unsafe and target.is_file():
                files.setdefault(ctx.bundle.relpath(target), target)
    sizes = {name: p.stat().st_size for name, p in files.items()}
    total = sum(sizes.values())
    size_mb = round(total / MIB, 6)
    shown = f"{total / MIB:.2f} MiB" if total >= MIB else f"{total / 1024:.1f} KiB"
    sha = sha256_file(path)
    measured: dict[str, Any] = {"size_bytes": total, "size_mb": size_mb, "sha256": sha}
    evidence = {"files": {name: {"bytes": sizes[name], "sha256": sha256_file(p)} for name, p in files.items()}}
    budget = ctx.serving.resources.max_model_mb if ctx.serving is not None else None
    if budget is None:
        return passed(
            f"{shown}, sha256 {sha[:12]}...; no budget declared (set resources.max_model_mb to enforce one)",
            measured,
            evidence,
        )
    measured["budget_mb"] = budget
    if total > budget * MIB:
        return failed(f"{shown} exceeds resources.max_model_mb = {budget} MiB", measured, evidence)
    return passed(f"{shown} within {budget} MiB; sha256 {sha[:12]}...", measured, evidence)


def _first_release(domain: str | None, needed: int) -> Release | None:
    """The oldest known release that loads `needed` (an opset of `domain`, or an IR version when domain is None)."""
    for release in sorted(RELEASES, key=lambda r: r.key):
        limit = release.max_ir if domain is None else release.max_opset.get(domain, -1)
        if limit >= needed:
            return release
    return None


@check(
    "ART005",
    "The declared serving runtime can load the model's opsets and IR version",
    category="artifact",
    severity="blocker",
    requires=["serving"],
    mlts=["Infra 3"],
    remediation="re-export for the oldest runtime you serve with (skl2onnx `target_opset={'': 17, 'ai.onnx.ml': 3}`, "
    "torch.onnx `opset_version=17`, onnxmltools `target_opset=...`), or narrow runtime.version in the serving config "
    "to releases that load the model (the message names the first one)",
)
def serving_runtime_loads_model(ctx: Context) -> Result:
    """Every imported opset (ai.onnx, ai.onnx.ml) and the IR version load in the onnxruntime the serving config declares.

    ART002 probes the onnxruntime installed here; the server may run an older one.
    `runtime.version` (a version such as "1.17" or a specifier such as ">=1.17") is
    judged by the *oldest* release it admits, since the deployment may get any of
    them. What each release loads comes from a table kept in readiness (measured
    release by release from 1.15 on, onnxruntime's published table before that; a
    test checks the installed release against its own row). Without `runtime.version`
    the check is `skip`; a specifier admitting only releases newer than the table is
    `inconclusive` (ART002 still judges the installed runtime).
    """
    facts = model_or_skip(ctx)
    declared = ctx.runtime_spec.version if ctx.runtime_spec is not None else None
    if not declared:
        return skipped(
            'not applicable: the serving config declares no runtime.version (e.g. ">=1.17"), so the serving '
            "runtime is unknown; ART002 judges the installed onnxruntime"
        )
    try:
        releases = list(admitted(declared))
    except ValueError as exc:
        return failed(f'runtime.version: {exc}; write a version such as "1.17" or a specifier such as ">=1.17"')
    measured: dict[str, Any] = {
        "declared_runtime": declared,
        "model": {"opsets": facts.opsets, "ir_version": facts.ir_version},
    }
    if not releases:
        return inconclusive(
            f"runtime.version {declared!r} admits no onnxruntime release readiness knows (1.0 to {LATEST.version}); "
            "ART002 judged the installed runtime",
            measured,
        )
    oldest = releases[0]
    measured["judged_release"] = oldest.version
    measured["release_limits"] = {"opsets": dict(oldest.max_opset), "ir_version": oldest.max_ir}
    problems: list[str] = []
    for domain, version in sorted(facts.opsets.items()):
        limit = oldest.max_opset.get(domain)
        if limit is None or version <= limit:
            continue
        first = _first_release(domain, version)
        needs = f"onnxruntime >= {first.version}" if first else f"a release newer than {LATEST.version}"
        problems.append(f"{domain} v{version} needs {needs}, but onnxruntime {oldest.version} loads up to v{limit}")
    if facts.ir_version > oldest.max_ir:
        first = _first_release(None, facts.ir_version)
        needs = f"onnxruntime >= {first.version}" if first else f"a release newer than {LATEST.version}"
        problems.append(
            f"IR version {facts.ir_version} needs {needs}, but onnxruntime {oldest.version} loads up to IR {oldest.max_ir}"
        )
    admits = f"runtime.version {declared!r} admits onnxruntime {oldest.version}"
    if problems:
        return failed(f"{admits}: {'; '.join(problems)}", measured)
    imported = ", ".join(f"{d} v{v}" for d, v in sorted(facts.opsets.items()) if d in oldest.max_opset)
    return passed(f"{admits}, which loads {imported or 'the model'} and IR {facts.ir_version}", measured)
