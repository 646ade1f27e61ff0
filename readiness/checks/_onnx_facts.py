"""The installed runtime's opsets, and shorthands over `ctx.onnx` for the built-in checks.

The model itself is read through the public accessor `ctx.onnx` (readiness.onnx_model),
exactly as a third-party check reads it. `runtime_opset_range(domain)` is cached per
process: it probes onnxruntime. Nothing here loads external data or runs the model.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from readiness.onnx_model import (  # noqa: F401 - re-exported for the built-in checks
    RUNTIME_DOMAINS,
    STANDARD_DOMAINS,
    ModelFacts,
    ModelUnreadable,
    canonical_domain,
    facts_from_proto,
)

if TYPE_CHECKING:
    from readiness.context import Context

_PROBE_CEILING = 64  # no opset this high exists; the probe stops here


def model_proto(ctx: Context) -> Any:
    """The parsed ModelProto (no external data); ModelUnreadable when the file is not ONNX."""
    return ctx.onnx.proto


def model_facts(ctx: Context) -> ModelFacts:
    """Facts about the model, computed once per run. Raises ModelUnreadable."""
    return ctx.onnx.facts


def model_or_skip(ctx: Context) -> ModelFacts:
    """Facts; ModelUnreadable (a SkipCheck pointing at ART001) when the file cannot be parsed at all."""
    return ctx.onnx.facts


# --------------------------------------------------------------------------- the runtime
def _probe_model(domain: str, version: int) -> bytes:
    """A one-node Identity model importing `domain` at `version`."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    imports = [helper.make_opsetid("", version if domain == "ai.onnx" else 13)]
    if domain != "ai.onnx":
        imports.append(helper.make_opsetid(domain, version))
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    return model.SerializeToString()


def _loads(domain: str, version: int) -> bool:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    try:
        ort.InferenceSession(_probe_model(domain, version), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any refusal means "not supported"
        return False
    return True


@functools.cache
def runtime_opset_range(domain: str) -> tuple[int, int] | None:
    """(lowest, highest) opset of `domain` the installed onnxruntime accepts, or None if none.

    onnxruntime has no public API for this, so it is probed: one Identity model per
    opset version, loaded from memory (about a millisecond each, once per process).
    """
    supported: list[int] = []
    for version in range(1, _PROBE_CEILING):
        if _loads(domain, version):
            supported.append(version)
        elif supported:
            break  # supported versions are contiguous
    if not supported:
        return None
    return supported[0], supported[-1]
