"""Security checks: external data stays in the bundle, nothing unsafe is deserialised, no native code is loaded."""

from __future__ import annotations

from pathlib import Path

from readiness.context import Context
from readiness.parsing import clip, quote
from readiness.registry import Result, check, errored, failed, passed
from readiness.security import external_data_locations, unsafe_external_data
from readiness.sources import ArchiveTooLarge, describe_types, skops_untrusted_types, source_kind

from ._onnx_facts import RUNTIME_DOMAINS, ModelUnreadable, model_facts, model_proto


@check(
    "SEC001",
    "External-data paths stay inside the bundle",
    category="security",
    severity="blocker",
    remediation="re-save the model with external data next to it, e.g. "
    "`onnx.save_model(model, 'model.onnx', save_as_external_data=True, location='model.onnx.data')`, "
    "and ship the data file inside the bundle directory",
)
def external_data_inside_bundle(ctx: Context) -> Result:
    """Every tensor's external-data location is a relative path that stays inside the model's own directory.

    Decided from the model's protobuf alone, before anything reads external data: one
    walker visits initializers, sparse initializers (values and indices), node
    attributes (tensors, sparse tensors), subgraphs at any depth, the bodies of
    model-local functions and training info. `..` components, absolute paths and links
    resolving outside the model's directory all fail (the path traversals of
    CVE-2022-25882 and CVE-2024-27318); no inference session is created for such a model.
    """
    try:
        proto = model_proto(ctx)
    except ModelUnreadable as exc:
        return errored(f"cannot scan for external data: {exc.reason} (see ART001)", caused_by=["ART001"])
    refs = external_data_locations(proto)
    bad = unsafe_external_data(proto, ctx.bundle.model_path.parent)
    measured = {"external_tensors": len(refs), "unsafe": len(bad)}
    if bad:
        listed = [
            f"{quote(ref.tensor, 80)} ({clip(ref.where, 160)}) -> {quote(ref.location)}: {why}" for ref, why in bad
        ]
        shown = "; ".join(listed[:5]) + (f"; and {len(listed) - 5} more" if len(listed) > 5 else "")
        return failed(
            f"{len(bad)} external-data location(s) point outside the model's directory: {shown}",
            measured,
            {"unsafe": listed[:100]},
        )
    if not refs:
        return passed("the model holds all its tensors inline (no external data)", measured)
    locations = sorted({r.location for r in refs})
    return passed(
        f"{len(refs)} tensor(s) in {len(locations)} external file(s), all inside the model's directory",
        measured,
        {"locations": locations[:100]},
    )


PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _looks_like_pickle(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(2)
    return head in PICKLE_MAGIC


@check(
    "SEC002",
    "No unsafe deserialization of the source model",
    category="security",
    severity="blocker",
    remediation="convert the source model to .skops (`skops.io.dump(model, 'model.skops')`), XGBoost JSON or "
    "LightGBM text; or pass --trust if you trust the file's author",
)
def no_unsafe_deserialization(ctx: Context) -> Result:
    """The source model (`[model].source`) can be loaded without running code the user has not trusted.

    pickle and joblib files can run arbitrary code when loaded: they are refused
    unless the person running readiness passes `--trust`. A `.skops` file may only
    instantiate skops' default types and a reviewed allow-list of exact class names
    (tree structures, distance metrics, optimisers: data, never functions); any other
    type it needs (`builtins.eval`, `numpy.load`, ...) is named and refused unless
    `--trust`. Its archive must unpack to at most 1 GiB in at most 20,000 members.
    XGBoost JSON/UBJ and LightGBM text load without code. Nothing is deserialised by
    this check.
    """
    path = ctx.bundle.source_path
    if path is None:
        return passed("no source model declared: nothing to deserialise")
    name = ctx.bundle.relpath(path)
    kind = source_kind(path)
    if kind == "unknown" and _looks_like_pickle(path):
        kind = "pickle"
    measured = {"source": name, "kind": kind, "trusted": bool(ctx.trust)}
    if kind == "pickle":
        if ctx.trust:
            return passed(f"{name} is a pickle; loading allowed because --trust was given", measured)
        return failed(
            f"{name} is a pickle/joblib file: loading it could run arbitrary code, so it was not loaded "
            "(fix: --trust or convert to .skops)",
            measured,
        )
    if kind == "skops":
        try:
            allowed, refused = skops_untrusted_types(path)
        except ArchiveTooLarge as exc:
            return failed(f"{exc}; it was not read", measured)
        except Exception as exc:  # noqa: BLE001 - a corrupt zip raises several types
            return failed(f"{name} cannot be inspected as a .skops file: {type(exc).__name__}: {clip(exc)}", measured)
        measured["allowed_types"] = [clip(t, 120) for t in allowed[:50]]
        measured["refused_types"] = [clip(t, 120) for t in refused[:50]]
        if refused and not ctx.trust:
            return failed(
                f"{name} needs type(s) that are not on the reviewed allow-list: {describe_types(refused)}; "
                "nothing was loaded (pass --trust to allow them)",
                measured,
            )
        note = f"; {len(refused)} other type(s) allowed by --trust" if refused else ""
        return passed(f"{name} is a .skops file whose types are all on the reviewed allow-list{note}", measured)
    if kind in ("xgboost", "lightgbm", "onnx"):
        return passed(f"{name} is a {kind} model file, which loads without running code", measured)
    if ctx.trust:
        return passed(f"{name} has an unrecognised format; allowed because --trust was given", measured)
    return failed(
        f"{name} has an unrecognised format ({path.suffix or 'no suffix'}); readiness cannot tell whether loading it "
        "runs code. Use .skops, XGBoost .json/.ubj, LightGBM .txt or .onnx, or pass --trust",
        measured,
    )


def _libraries(ctx: Context) -> list[str]:
    spec = ctx.runtime_spec
    value = getattr(spec, "custom_op_library", None) if spec is not None else None
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


@check(
    "SEC003",
    "No custom-op domains or native libraries to load",
    category="security",
    severity="blocker",
    remediation="re-export using only standard ONNX (ai.onnx, ai.onnx.ml) or onnxruntime contrib (com.microsoft) "
    "operators; if a custom operator is unavoidable, review its library and waive SEC003 with an owner and expiry",
)
def no_custom_ops(ctx: Context) -> Result:
    """The model uses only operator domains onnxruntime implements, and the runtime loads no shared library.

    A custom-op domain (anything other than ai.onnx, ai.onnx.ml, com.microsoft)
    means the serving runtime must load native code that neither ONNX nor
    onnxruntime reviewed; so does a `runtime.custom_op_library` in the serving
    config. readiness never loads such a library, even with `--trust`.
    """
    libraries = _libraries(ctx)
    try:
        facts = model_facts(ctx)
    except ModelUnreadable as exc:
        if libraries:
            return failed(
                f"the serving config loads native library(ies) {', '.join(libraries)}", {"libraries": libraries}
            )
        return errored(f"cannot read the model's operator domains: {exc.reason} (see ART001)", caused_by=["ART001"])
    domains = facts.custom_domains
    ops = {d: facts.node_domains.get(d, []) for d in domains}
    measured = {"custom_domains": domains, "libraries": libraries}
    problems = []
    if domains:
        problems.append(
            "custom-op domain(s) " + ", ".join(f"{d} ({', '.join(ops[d][:5]) or 'imported, unused'})" for d in domains)
        )
    if libraries:
        problems.append(f"runtime.custom_op_library loads {', '.join(libraries)}")
    if problems:
        return failed("; ".join(problems), measured, {"custom_ops": ops})
    used = sorted(d for d in facts.node_domains if d in RUNTIME_DOMAINS or d == "ai.onnx")
    return passed(f"only runtime-implemented domains: {', '.join(used) or 'none'}", measured)
