"""A KServe `InferenceService` YAML as the serving config.

KServe does not declare tensors, so the input/output contract comes from the graph
(see `formats.finish`); what the InferenceService holds becomes the rest of the
serving config:

- `spec.predictor.model.modelFormat.name` (or the older `spec.predictor.onnx`) must be ONNX;
- `spec.predictor.batcher.maxBatchSize` -> `batching.max_batch_size` (KServe's default is 32
  when a batcher is declared without it);
- `spec.predictor.timeout` (seconds) -> `timeout_ms`;
- the memory limit (`resources.limits.memory`, Kubernetes quantity) -> `resources.max_memory_mb`;
- protocol version, runtime, storage URI, replicas and the batcher's `maxLatency` are recorded
  in the scorecard (`bundle.format_details.kserve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import BatchingSpec, ResourcesSpec, ServingConfig
from ..errors import BundleError
from ..parsing import compose_yaml, construct_yaml, load_yaml_documents, quote, read_text

KIND = "InferenceService"
KSERVE_BATCHER_DEFAULT = 32
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|k|K|M|G|T|m)?\s*$")
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
_OLD_STYLE = ("onnx", "triton", "sklearn", "xgboost", "tensorflow", "pytorch", "lightgbm", "paddle", "pmml")


@dataclass
class KServeConfig:
    serving: ServingConfig
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _documents(path: Path) -> list[Any]:
    """The YAML documents of PATH as composed nodes (they carry line numbers), within the parsing limits."""
    return compose_yaml(read_text(path), path)


def is_inference_service(path: Path) -> bool:
    try:
        docs = load_yaml_documents(path)
    except BundleError:  # not ours to judge: the native loader reports the same error with its line
        return False
    return any(isinstance(d, dict) and d.get("kind") == KIND for d in docs)


class _Doc:
    """A YAML mapping with the line of every key, so errors can name it."""

    def __init__(self, path: Path, node: Any) -> None:
        self.path = path
        self.node = node
        self.data = construct_yaml(node, path) if node is not None else None

    def get(self, *keys: str) -> Any:
        value: Any = self.data
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def line(self, *keys: str) -> int | None:
        node = self.node
        line = None
        for key in keys:
            if node is None or not hasattr(node, "value") or not isinstance(node.value, list):
                break
            found = None
            for pair in node.value:
                if isinstance(pair, tuple) and getattr(pair[0], "value", None) == key:
                    found = pair
                    break
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        return line

    def error(self, keys: tuple[str, ...], problem: str, fix: str) -> BundleError:
        line = self.line(*keys)
        where = (f"line {line}: " if line else "") + ".".join(keys)
        return BundleError(self.path, where, problem, fix)


def _memory_mb(doc: _Doc, keys: tuple[str, ...]) -> float | None:
    value = doc.get(*keys)
    if value is None:
        return None
    match = _QUANTITY.match(str(value))
    if not match:
        raise doc.error(keys, f"{quote(value)} is not a Kubernetes memory quantity", 'write e.g. "512Mi" or "2Gi"')
    return round(float(match.group(1)) * _FACTORS[match.group(2)] / 1024**2, 3)


def _positive(doc: _Doc, keys: tuple[str, ...], what: str) -> float | None:
    value = doc.get(*keys)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0 or isinstance(value, bool):
        raise doc.error(keys, f"{quote(value)} is not a positive number", f"write {what}")
    return number


def read_kserve(path: Path, *, model_path: Path | None = None) -> KServeConfig:
    """The serving settings of the InferenceService in PATH (inputs/outputs are left to the graph)."""
    nodes = _documents(path)
    docs = [_Doc(path, n) for n in nodes if n is not None]
    services = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == KIND]
    if not services:
        raise BundleError(
            path, "kind", f"no document with kind: {KIND}", "point [serving].config at the InferenceService"
        )
    if len(services) > 1:
        raise BundleError(path, "kind", f"{len(services)} InferenceService documents", "keep one per file")
    doc = services[0]
    notes: list[str] = []
    api = str(doc.get("apiVersion") or "")
    if not api.startswith("serving.kserve.io/"):
        raise doc.error(
            ("apiVersion",),
            f"{quote(api)} is not a KServe API version",
            "use apiVersion: serving.kserve.io/v1beta1",
        )
    predictor = doc.get("spec", "predictor")
    if not isinstance(predictor, dict):
        raise doc.error(("spec",), "spec.predictor is missing", "declare spec.predictor.model with an ONNX modelFormat")
    model_keys: tuple[str, ...] = ("spec", "predictor", "model")
    if isinstance(predictor.get("model"), dict):
        fmt = doc.get(*model_keys, "modelFormat", "name")
        if fmt is None:
            raise doc.error(
                (*model_keys, "modelFormat"), "modelFormat.name is missing", "set modelFormat: {name: onnx}"
            )
        if str(fmt).lower() != "onnx":
            raise doc.error(
                (*model_keys, "modelFormat", "name"),
                f"model format {quote(fmt)} is not ONNX; readiness checks the ONNX model a service serves",
                "export the model to ONNX and set modelFormat: {name: onnx}",
            )
    else:
        old = [k for k in _OLD_STYLE if isinstance(predictor.get(k), dict)]
        if not old:
            raise doc.error(
                ("spec", "predictor"),
                "the predictor declares no model",
                "add spec.predictor.model with modelFormat: {name: onnx}",
            )
        if old[0] not in ("onnx", "triton"):
            raise doc.error(
                ("spec", "predictor", old[0]),
                f"predictor {quote(old[0])} does not serve an ONNX model",
                "use spec.predictor.model with modelFormat: {name: onnx}",
            )
        model_keys = ("spec", "predictor", old[0])
    batcher = doc.get("spec", "predictor", "batcher")
    max_batch = 1
    if isinstance(batcher, dict):
        size = _positive(doc, ("spec", "predictor", "batcher", "maxBatchSize"), "the largest batch, e.g. 32")
        max_batch = int(size) if size is not None else KSERVE_BATCHER_DEFAULT
    timeout_s = _positive(doc, ("spec", "predictor", "timeout"), "the request timeout in seconds, e.g. 60")
    memory = None
    for keys in (
        (*model_keys, "resources", "limits", "memory"),
        ("spec", "predictor", "resources", "limits", "memory"),
    ):
        memory = memory if memory is not None else _memory_mb(doc, keys)
    limits = doc.get(*model_keys, "resources", "limits") or {}
    if isinstance(limits, dict) and any("gpu" in str(k) for k in limits):
        notes.append(f"{path.name} requests GPUs; readiness measured on the CPU provider")
    serving = ServingConfig(
        inputs=[],
        outputs=[],
        batching=BatchingSpec(max_batch_size=max_batch),
        resources=ResourcesSpec(max_memory_mb=memory),
        timeout_ms=timeout_s * 1000 if timeout_s is not None else None,
    )
    details = {
        "kserve": {
            "name": doc.get("metadata", "name"),
            "api_version": api,
            "model_format": doc.get(*model_keys, "modelFormat") or model_keys[-1],
            "protocol": doc.get(*model_keys, "protocolVersion") or "v1",
            "runtime": doc.get(*model_keys, "runtime"),
            "storage_uri": doc.get(*model_keys, "storageUri"),
            "batcher": batcher if isinstance(batcher, dict) else None,
            "timeout_s": timeout_s,
            "min_replicas": doc.get("spec", "predictor", "minReplicas"),
            "max_replicas": doc.get("spec", "predictor", "maxReplicas"),
            "resources": doc.get(*model_keys, "resources") or doc.get("spec", "predictor", "resources"),
        }
    }
    return KServeConfig(serving=serving, details=details, notes=notes)
