"""Triton Inference Server `config.pbtxt` as the serving config.

Parsed with protobuf's text format against Triton's own `ModelConfig` message
(`tritonclient[grpc]`'s compiled module when installed, else the descriptor shipped in
`_triton_descriptor.py`), so a misspelt field is an error naming its line, exactly as
Triton would refuse it. What it becomes:

- `max_batch_size > 0`: Triton batches along an implicit leading dimension, so each
  tensor's shape is `[-1] + dims` and `batching.max_batch_size = max_batch_size`;
  `max_batch_size: 0` means `dims` is the full shape. `reshape` gives the shape the model sees.
- `TYPE_FP32` etc. map to ONNX element types (`TYPE_STRING` is Triton's BYTES).
- `parameters` `intra_op_thread_count` / `inter_op_thread_count` (onnxruntime backend) set the runtime threads.
- `dynamic_batching`, `instance_group`, `optimization` are recorded in the scorecard
  (`bundle.format_details`).
- Outputs that are sequences or maps in the graph (a ZipMap) cannot be served by
  Triton: they are flagged (`unservable_outputs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..config import BatchingSpec, InputSpec, OutputSpec, RuntimeSpec, ServingConfig
from ..contract import load_proto, output_kind, value_kind
from ..errors import BundleError
from ..parsing import clip, quote, read_text
from ..workspace import confine

TRITON_TYPES: dict[str, str] = {
    "TYPE_BOOL": "bool",
    "TYPE_UINT8": "uint8",
    "TYPE_UINT16": "uint16",
    "TYPE_UINT32": "uint32",
    "TYPE_UINT64": "uint64",
    "TYPE_INT8": "int8",
    "TYPE_INT16": "int16",
    "TYPE_INT32": "int32",
    "TYPE_INT64": "int64",
    "TYPE_FP16": "float16",
    "TYPE_FP32": "float32",
    "TYPE_FP64": "float64",
    "TYPE_STRING": "string",
}
ONNX_PLATFORMS = ("onnxruntime_onnx",)
ONNX_BACKENDS = ("onnxruntime",)
_KEY = r"^\s*{}\s*:"


@dataclass
class TritonConfig:
    serving: ServingConfig
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def model_config_class() -> type:
    """Triton's ModelConfig message class."""
    try:  # the compiled module, when tritonclient[grpc] is installed (an optional extra)
        from tritonclient.grpc import model_config_pb2  # type: ignore[import-not-found]

        return model_config_pb2.ModelConfig
    except Exception:  # noqa: BLE001 - ImportError, or RuntimeError without grpcio
        pass
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    from ._triton_descriptor import serialized

    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(serialized()))
    desc = pool.FindMessageTypeByName("inference.ModelConfig")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)  # pragma: no cover - protobuf < 4.22


def _line_of(text: str, pattern: str, start: int = 1) -> int | None:
    """The first line (1-based, from START) matching PATTERN."""
    regex = re.compile(pattern)
    for number, line in enumerate(text.splitlines(), start=1):
        if number >= start and regex.search(line):
            return number
    return None


def _where(text: str, pattern: str, start: int = 1) -> str:
    line = _line_of(text, pattern, start)
    return f"line {line}" if line else "top level"


def parse(path: Path) -> tuple[Any, str]:
    """The ModelConfig message and the file's text; a syntax or field error names its line."""
    from google.protobuf import text_format

    text = read_text(path)
    message = model_config_class()()
    try:
        text_format.Parse(text, message)
    except RecursionError:
        raise BundleError(
            path, None, "nesting is too deep", "bundle config files are limited to nesting depth 100"
        ) from None
    except text_format.ParseError as exc:
        line = exc.GetLine() if hasattr(exc, "GetLine") else None
        where = f"line {line}" if line else None
        detail = clip(re.sub(r"^\d+:\d+ : ", "", str(exc)))
        raise BundleError(
            path,
            where,
            f"not a valid Triton model configuration: {detail}",
            "fix the field at the line shown (see Triton's model_config.proto for field names and types)",
        ) from None
    return message, text


def _dtype(path: Path, text: str, kind: str, tensor: Any, enum: Any) -> str:
    type_name = enum.values_by_number[tensor.data_type].name if tensor.data_type in enum.values_by_number else "?"
    where = _where(text, rf'name\s*:\s*"{re.escape(tensor.name)}"')
    if type_name == "TYPE_INVALID":
        raise BundleError(
            path,
            f"{where}: {kind} {quote(tensor.name)} data_type",
            "data_type is missing",
            f"add e.g. `data_type: TYPE_FP32` to {kind} {quote(tensor.name)}",
        )
    if type_name not in TRITON_TYPES:
        raise BundleError(
            path,
            f"{where}: {kind} {quote(tensor.name)} data_type",
            f"{type_name} has no ONNX tensor type readiness can feed",
            f"use one of {', '.join(TRITON_TYPES)}",
        )
    return TRITON_TYPES[type_name]


def _shape(path: Path, text: str, kind: str, tensor: Any, batched: bool) -> list[int]:
    dims = list(tensor.reshape.shape) if tensor.HasField("reshape") else list(tensor.dims)
    if not tensor.dims and not tensor.HasField("reshape"):
        where = _where(text, rf'name\s*:\s*"{re.escape(tensor.name)}"')
        raise BundleError(
            path,
            f"{where}: {kind} {quote(tensor.name)} dims",
            "dims is missing",
            "list the tensor's dimensions without the batch dimension when max_batch_size > 0, e.g. `dims: [ 30 ]`",
        )
    for d in dims:
        if d < -1 or d == 0:
            where = _where(text, rf'name\s*:\s*"{re.escape(tensor.name)}"')
            raise BundleError(
                path,
                f"{where}: {kind} {quote(tensor.name)} dims",
                f"dimension {d} is invalid",
                "use a positive size, or -1 for a variable-size dimension",
            )
    return ([-1] if batched else []) + [int(d) for d in dims]


def _read_labels(path: Path, label_filename: str) -> list[Any] | None:
    """The class labels in LABEL_FILENAME, which must resolve inside the config's own directory."""
    if not label_filename:
        return None
    candidate = confine(
        label_filename,
        base=path.parent,
        root=path.parent.resolve(),
        file=path,
        key=f"label_filename {quote(label_filename)}",
        what="directory of the Triton config",
    )
    if not candidate.is_file():
        return None
    text = read_text(candidate, "label_filename")
    labels: list[Any] = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        return [int(v) for v in labels]
    except ValueError:
        return labels


@lru_cache(maxsize=32)
def _read_cached(path: str, mtime_ns: int) -> TritonConfig:
    return _read(Path(path))


def read_triton(path: Path) -> TritonConfig:
    """The serving config described by a Triton config.pbtxt."""
    return _read_cached(str(path.resolve()), path.stat().st_mtime_ns)


def _read(path: Path) -> TritonConfig:
    message, text = parse(path)
    enum = message.DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"].enum_type
    notes: list[str] = []
    if message.platform and message.platform not in ONNX_PLATFORMS:
        raise BundleError(
            path,
            _where(text, _KEY.format("platform")) + ": platform",
            f"{quote(message.platform)} is not the ONNX Runtime platform; readiness checks ONNX models",
            'use `platform: "onnxruntime_onnx"` (or `backend: "onnxruntime"`)',
        )
    if message.backend and message.backend not in ONNX_BACKENDS:
        raise BundleError(
            path,
            _where(text, _KEY.format("backend")) + ": backend",
            f"{quote(message.backend)} is not the ONNX Runtime backend; readiness checks ONNX models",
            'use `backend: "onnxruntime"`',
        )
    if message.max_batch_size < 0:
        raise BundleError(
            path,
            _where(text, _KEY.format("max_batch_size")) + ": max_batch_size",
            f"{message.max_batch_size} is negative",
            "use 0 (no batching; dims are the full shape) or the largest batch Triton may form",
        )
    if not message.input:
        raise BundleError(path, "input", "no `input` is declared", "declare every graph input: name, data_type, dims")
    if not message.output:
        raise BundleError(path, "output", "no `output` is declared", "declare the outputs clients read")
    batched = message.max_batch_size > 0
    inputs = []
    for tensor in message.input:
        if not tensor.name:
            raise BundleError(path, "input", "an input has no name", "give every input the graph input's name")
        inputs.append(
            InputSpec(
                name=tensor.name,
                dtype=_dtype(path, text, "input", tensor, enum),  # type: ignore[arg-type]
                shape=_shape(path, text, "input", tensor, batched),
            )
        )
    outputs = []
    output_dims: dict[str, list[int]] = {}  # full shapes, batch axis first (-1) when batched; SCH001 reads them
    for tensor in message.output:
        if not tensor.name:
            raise BundleError(path, "output", "an output has no name", "give every output the graph output's name")
        dtype = _dtype(path, text, "output", tensor, enum)
        output_dims[tensor.name] = _shape(path, text, "output", tensor, batched)
        outputs.append(
            OutputSpec(
                name=tensor.name,
                kind=output_kind(tensor.name, dtype, "tensor", len(message.output)),  # type: ignore[arg-type]
                classes=_read_labels(path, tensor.label_filename),
            )
        )
    runtime: dict[str, Any] = {}
    params = {key: value.string_value for key, value in message.parameters.items()}
    for key, field_name in (
        ("intra_op_thread_count", "intra_op_threads"),
        ("inter_op_thread_count", "inter_op_threads"),
    ):
        if key in params:
            try:
                runtime[field_name] = int(params[key])
            except ValueError:
                raise BundleError(
                    path,
                    f"{_where(text, re.escape(key))}: parameters {key}",
                    f"{quote(params[key])} is not an integer",
                    'write e.g. `string_value: "1"`',
                ) from None
    serving = ServingConfig(
        inputs=inputs,
        outputs=outputs,
        runtime=RuntimeSpec(**runtime),
        batching=BatchingSpec(max_batch_size=max(1, message.max_batch_size)),
    )
    details: dict[str, Any] = {
        "triton": {
            "name": message.name or path.parent.name,
            "platform": message.platform or None,
            "backend": message.backend or None,
            "max_batch_size": message.max_batch_size,
            "dynamic_batching": _as_dict(message.dynamic_batching) if message.HasField("dynamic_batching") else None,
            "instance_group": [_as_dict(g) for g in message.instance_group],
            "parameters": params,
            "optimization": _as_dict(message.optimization) if message.HasField("optimization") else None,
            "default_model_filename": message.default_model_filename or None,
            "output_dims": output_dims,
        }
    }
    if not message.platform and not message.backend:
        notes.append(f"{path.name} names neither platform nor backend; Triton would infer it from the model file")
    if any(g.kind == enum_value(g, "kind", "KIND_GPU") for g in message.instance_group):
        notes.append(f"{path.name} places instances on GPUs; readiness measured on {RuntimeSpec().providers[0]}")
    return TritonConfig(serving=serving, details=details, notes=notes)


def enum_value(message: Any, field_name: str, name: str) -> int:
    return message.DESCRIPTOR.fields_by_name[field_name].enum_type.values_by_name[name].number


def _as_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def unservable_outputs(model_path: Path) -> list[str]:
    """Graph outputs Triton cannot return: sequences and maps (e.g. a ZipMap's list of dicts)."""
    proto = load_proto(model_path)
    if proto is None:
        return []
    return [vo.name for vo in proto.graph.output if value_kind(vo) != "tensor"]
