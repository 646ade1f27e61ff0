"""Pydantic models of the manifest (`readiness.toml`) and the serving config (`serving.yaml`).

Every model forbids unknown keys: a typo must never be silently ignored.
"""

from __future__ import annotations

import datetime as _dt
import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import BundleError
from .parsing import clip, quote
from .vocabulary import SEVERITIES, SEVERITY_RANK, Severity  # noqa: F401 - re-exported for older imports

Task = Literal["binary_classification", "multiclass_classification", "regression"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# --------------------------------------------------------------------------- manifest
class ModelSection(_Strict):
    path: str
    source: str | None = None
    name: str | None = None
    version: str | None = None
    task: Task | None = None
    description: str | None = None


class DataSection(_Strict):
    schema_: str | None = Field(default=None, alias="schema")
    reference: str | None = None
    target: str | None = None
    slices: list[str] = []
    # Parquet reference data with more rows than this is streamed in chunks, with a seeded sample of
    # this many rows kept in memory (readiness/reference.py)
    sample_rows: int = Field(default=50_000, ge=100)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServingSection(_Strict):
    config: str | None = None


class BaselineSection(_Strict):
    manifest: str | None = None


class LineageSection(_Strict):
    code_version: str | None = None
    data_fingerprint: str | None = None
    seed: int | None = None
    environment: str | None = None
    training_data: str | None = None
    training_metrics: dict[str, float] = {}


class CardSection(_Strict):
    owner: str | None = None
    intended_use: str | None = None
    limitations: str | None = None
    description: str | None = None


class MonitoringSection(_Strict):
    owner: str | None = None
    alert_metric: str | None = None
    drift: dict[str, float] = {}


class Attestation(_Strict):
    note: str | None = None
    link: str | None = None
    date: _dt.date

    @model_validator(mode="after")
    def _has_evidence(self) -> Attestation:
        if not (self.note or "").strip() and not (self.link or "").strip():
            raise ValueError("an attestation needs a link or a note (where the manual test's results are recorded)")
        return self


class PolicySection(_Strict):
    fail_on: Severity = "major"
    require: list[str] = []
    thresholds: dict[str, Any] = {}


class ChecksSection(_Strict):
    select: list[str] = ["ALL"]
    ignore: list[str] = []
    severity: dict[str, Severity] = {}
    timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # lowers --check-timeout, never raises it


class Waiver(_Strict):
    check: str
    reason: str
    owner: str
    expires: _dt.date

    @field_validator("reason", "owner")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Manifest(_Strict):
    model: ModelSection
    data: DataSection = DataSection()
    serving: ServingSection = ServingSection()
    baseline: BaselineSection = BaselineSection()
    lineage: LineageSection = LineageSection()
    card: CardSection = CardSection()
    monitoring: MonitoringSection = MonitoringSection()
    attestations: dict[str, Attestation] = {}
    policy: PolicySection = PolicySection()
    checks: ChecksSection = ChecksSection()
    waivers: list[Waiver] = []

    @field_validator("attestations")
    @classmethod
    def _attested_tests_exist(cls, value: dict[str, Attestation]) -> dict[str, Attestation]:
        from . import mlts

        unknown = [key for key in value if mlts.normalize(key) is None]
        if unknown:
            raise ValueError(
                f"{', '.join(repr(k) for k in unknown)} names no ML Test Score test; use an id such as "
                f"'Model 1' or a title such as {mlts.TESTS[7].title!r} (see `readiness explain` / README)"
            )
        return value


# --------------------------------------------------------------------------- serving config
Dtype = Literal[
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool", "string",
]  # fmt: skip


class InputSpec(_Strict):
    name: str
    dtype: Dtype
    shape: list[int]
    features: list[str] | None = None
    on_invalid: Literal["score", "reject"] = "score"
    on_null: Literal["score", "reject"] = "score"  # what the server does with a null in a nullable column


class OutputSpec(_Strict):
    name: str
    kind: Literal["probabilities", "logits", "label", "score", "regression"]  # readiness.outputs.KINDS
    classes: list[int | str] | None = None


class RuntimeSpec(_Strict):
    engine: Literal["onnxruntime"] = "onnxruntime"
    version: str | None = None
    providers: list[str] = ["CPUExecutionProvider"]
    required_providers: bool = False
    intra_op_threads: int = Field(default=1, ge=0)
    inter_op_threads: int = Field(default=1, ge=0)
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"
    # Shared libraries of custom operators the runtime would load (never loaded by readiness; SEC003 flags them).
    custom_op_library: str | list[str] | None = None


class BatchingSpec(_Strict):
    max_batch_size: int = Field(default=1, ge=1)


class LatencyBudget(_Strict):
    batch_size: int = Field(ge=1)
    p50_ms: float | None = Field(default=None, gt=0)
    p90_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)


class SloSpec(_Strict):
    latency: list[LatencyBudget] = []
    throughput_rps: float | None = Field(default=None, gt=0)


class ResourcesSpec(_Strict):
    max_model_mb: float | None = Field(default=None, gt=0)
    max_memory_mb: float | None = Field(default=None, gt=0)
    max_load_ms: float | None = Field(default=None, gt=0)


class LoadSpec(_Strict):
    """SRV003's load profile: an open-loop arrival rate held for a duration."""

    rps: float = Field(default=20.0, gt=0, le=100_000)
    duration_s: float = Field(default=10.0, gt=0, le=3600)
    max_error_rate: float = Field(default=0.001, ge=0, le=1)


class EndpointSpec(_Strict):
    """How the live server names the model (the URL itself only ever comes from the command line)."""

    model: str | None = Field(default=None, min_length=1, max_length=256)  # default: [model].name
    version: str | None = Field(default=None, max_length=256)
    load: LoadSpec = LoadSpec()

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class ServingConfig(_Strict):
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    runtime: RuntimeSpec = RuntimeSpec()
    batching: BatchingSpec = BatchingSpec()
    slo: SloSpec = SloSpec()
    resources: ResourcesSpec = ResourcesSpec()
    timeout_ms: float | None = Field(default=None, gt=0)
    endpoint: EndpointSpec | None = None


# --------------------------------------------------------------------------- validation errors
def _key_path(loc: tuple[Any, ...], table_style: bool) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    text = "".join(parts)
    if table_style and "." in text:
        head, _, tail = text.partition(".")
        if "[" not in head:
            return f"[{head}].{tail}"
    return text


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the last element of `loc`."""
    current: Any = model
    for item in loc[:-1]:
        if isinstance(item, int) or current is None:
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = _field_by_name(current, str(item))
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_by_name(model: type[BaseModel], name: str):
    for fname, field in model.model_fields.items():
        if fname == name or field.alias == name:
            return field
    return None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def valid_keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def validation_to_bundle_error(
    exc: ValidationError, file: str, model: type[BaseModel], table_style: bool = True
) -> BundleError:
    """Turn pydantic's errors into one BundleError that names file, key and fix."""
    problems: list[str] = []
    first_key: str | None = None
    errors = exc.errors()
    for err in errors[:5]:  # a hostile file can hold thousands of errors: name the first few
        loc = tuple(err["loc"])
        key = clip(_key_path(loc, table_style))
        first_key = first_key or key
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            keys = valid_keys(owner) if owner else []
            close = difflib.get_close_matches(str(loc[-1])[:200], keys, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(f"{key}: unknown key; {hint}valid keys: {', '.join(keys)}")
        elif err["type"] == "missing":
            problems.append(f"{key}: required key is missing")
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            problems.append(f"{key}: {quote(err['input'])} is not valid; expected one of {expected}")
        else:
            problems.append(f"{key}: {err['msg']} (got {quote(err.get('input'))})")
    shown = "; ".join(problems) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
    return BundleError(
        file,
        None,
        shown,
        "correct the key(s) named above; every key is listed in docs/reference/manifest.md and docs/reference/serving.md",
    )
