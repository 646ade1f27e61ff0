"""Safe, cached access to the bundle's ONNX model: `ctx.onnx`.

Every check, built-in or third-party, reads the model through this accessor:

    facts = ctx.onnx.facts          # opsets, producer, metadata ... (ModelFacts)
    proto = ctx.onnx.proto          # the onnx.ModelProto, without external data
    licence = ctx.onnx.metadata.get("license")

The file is parsed once per run. When it is not a readable ONNX model, `proto`,
`facts` and `metadata` raise `ModelUnreadable`, a `SkipCheck`: the check becomes
`skip` with a message pointing at ART001 (which fails it), never "check crashed".
A check that judges readability itself catches `ModelUnreadable` (its `reason`).
Nothing here loads external data or runs the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ModelUnreadable

if TYPE_CHECKING:
    from .context import Context

# Domains onnxruntime implements itself; anything else is a custom-op domain (SEC003).
STANDARD_DOMAINS = ("ai.onnx", "ai.onnx.ml")
RUNTIME_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})


def canonical_domain(domain: str) -> str:
    """The default domain is spelled "" or "ai.onnx"; report it as "ai.onnx"."""
    return "ai.onnx" if domain in ("", "ai.onnx") else domain


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


class OnnxModel:
    """The bundle's ONNX model as checks read it (`ctx.onnx`); parsed once, cached in the context."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def path(self) -> Any:
        """The model file (a `pathlib.Path`)."""
        return self._ctx.bundle.model_path

    @property
    def proto(self) -> Any:
        """The parsed `onnx.ModelProto` (no external data). Raises ModelUnreadable (a skip)."""

        def parse() -> Any:
            import onnx

            try:
                return onnx.load(str(self.path), load_external_data=False)
            except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, onnx others
                raise ModelUnreadable(f"{self.path.name} is not a readable ONNX model: {exc}") from exc

        return self._ctx.memo("onnx:proto", parse)

    @property
    def facts(self) -> ModelFacts:
        """Facts about the model (opsets, producer, metadata ...). Raises ModelUnreadable (a skip)."""
        return self._ctx.memo("onnx:facts", lambda: facts_from_proto(self.proto))

    @property
    def metadata(self) -> dict[str, str]:
        """The model's `metadata_props` as a dict. Raises ModelUnreadable (a skip)."""
        return dict(self.facts.metadata)


__all__ = [
    "RUNTIME_DOMAINS",
    "STANDARD_DOMAINS",
    "ModelFacts",
    "ModelUnreadable",
    "OnnxModel",
    "canonical_domain",
    "facts_from_proto",
]
