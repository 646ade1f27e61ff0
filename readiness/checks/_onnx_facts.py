"""Facts about the ONNX model and the installed runtime, computed once per run.

Checks read these through `model_facts(ctx)` (memoised in the context) and
`runtime_opset_range(domain)` (cached per process: it probes onnxruntime).
Nothing here loads external data or runs the model.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from readiness.context import Context

# Domains onnxruntime implements itself; anything else is a custom-op domain (SEC003).
STANDARD_DOMAINS = ("ai.onnx", "ai.onnx.ml")
RUNTIME_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
_PROBE_CEILING = 64  # no opset this high exists; the probe stops here


def canonical_domain(domain: str) -> str:
    """The default domain is spelled "" or "ai.onnx"; report it as "ai.onnx"."""
    return "ai.onnx" if domain in ("", "ai.onnx") else domain


class ModelUnreadable(Exception):
    """The model file is not a parsable ONNX protobuf (ART001 reports it)."""


@dataclass
class ModelFacts:
    ir_version: int
    opsets: dict[str, int]  # canonical domain -> imported version
    node_domains: dict[str, list[str]]  # canonical domain -> op types used (sorted, unique)
    producer_name: str
    producer_version: str
    doc_string: str
    model_version: int
    metadata: dict[str, str]
    functions: list[str] = field(default_factory=list)  # local functions "domain:name"

    @property
    def custom_domains(self) -> list[str]:
        """Domains the runtime does not implement: imported, or used by a node (local functions excluded)."""
        local = {f.split(":", 1)[0] for f in self.functions}
        found = {d for d in self.opsets if d not in RUNTIME_DOMAINS}
        found |= {d for d in self.node_domains if d not in RUNTIME_DOMAINS}
        return sorted(found - local)


def _graphs(graph: Any) -> Iterator[Any]:
    """The graph and every subgraph nested in node attributes (If, Loop, Scan ...)."""
    from onnx import AttributeProto

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def facts_from_proto(model: Any) -> ModelFacts:
    opsets: dict[str, int] = {}
    for op in model.opset_import:
        opsets[canonical_domain(op.domain)] = int(op.version)
    used: dict[str, set[str]] = {}
    nodes = [n for g in _graphs(model.graph) for n in g.node]
    for fn in model.functions:
        nodes.extend(fn.node)
    for node in nodes:
        used.setdefault(canonical_domain(node.domain), set()).add(node.op_type)
    return ModelFacts(
        ir_version=int(model.ir_version),
        opsets=opsets,
        node_domains={d: sorted(ops) for d, ops in sorted(used.items())},
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        doc_string=model.doc_string,
        model_version=int(model.model_version),
        metadata={p.key: p.value for p in model.metadata_props},
        functions=sorted(f"{canonical_domain(f.domain)}:{f.name}" for f in model.functions),
    )


def model_proto(ctx: Context) -> Any:
    """The parsed ModelProto (no external data); ModelUnreadable when the file is not ONNX."""

    def parse() -> Any:
        try:
            return ctx.model_proto
        except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, onnx others
            raise ModelUnreadable(f"{ctx.bundle.model_path.name} is not a readable ONNX model: {exc}") from exc

    return ctx.memo("core.model_proto", parse)


def model_facts(ctx: Context) -> ModelFacts:
    """Facts about the model, computed once per run. Raises ModelUnreadable."""
    return ctx.memo("core.model_facts", lambda: facts_from_proto(model_proto(ctx)))


def model_or_skip(ctx: Context) -> ModelFacts:
    """Facts, or SkipCheck pointing at ART001 when the file cannot be parsed at all."""
    from readiness.errors import SkipCheck

    try:
        return model_facts(ctx)
    except ModelUnreadable as exc:
        raise SkipCheck(f"{exc} (see ART001)") from None


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
