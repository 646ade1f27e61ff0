"""Schema and serving-contract checks: the serving config, the pandera schema, the data and the outputs agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from readiness import outputs as output_kinds
from readiness import runtime as rt
from readiness.config import InputSpec
from readiness.context import Context
from readiness.errors import SkipCheck
from readiness.registry import Result, check, errored, failed, passed
from readiness.runtime import ONNX_ELEM_TYPES

from ._onnx_facts import ModelUnreadable, model_proto

# --------------------------------------------------------------------------- the graph's signature


def _elem_name(elem_type: int) -> str:
    from onnx import TensorProto

    return ONNX_ELEM_TYPES.get(elem_type) or TensorProto.DataType.Name(elem_type).lower()


def _signature(values: Sequence[Any], exclude: set[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """name -> {"dtype", "dims"} for graph inputs/outputs; dims None when the rank is unknown,
    a dim None when dynamic; "dtype" None for non-tensor values (sequence, map)."""
    out: dict[str, dict[str, Any]] = {}
    for vi in values:
        if vi.name in exclude:
            continue
        if not vi.type.HasField("tensor_type"):
            out[vi.name] = {"dtype": None, "dims": None, "kind": vi.type.WhichOneof("value")}
            continue
        tt = vi.type.tensor_type
        dims = None
        if tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
        out[vi.name] = {"dtype": _elem_name(tt.elem_type), "dims": dims, "kind": "tensor"}
    return out


def _show_dims(dims: list[int | None] | None) -> str:
    return "unknown" if dims is None else "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _input_problems(spec: InputSpec, graph: dict[str, Any], max_batch: int) -> list[str]:
    name = spec.name
    if graph["dtype"] is None:
        return [f"input {name!r}: the graph input is a {graph['kind']}, not a tensor"]
    problems = []
    if spec.dtype != graph["dtype"]:
        problems.append(f"input {name!r}: serving dtype {spec.dtype} but the model takes {graph['dtype']}")
    dims = graph["dims"]
    if dims is not None and len(dims) != len(spec.shape):
        problems.append(
            f"input {name!r}: serving shape {spec.shape} has rank {len(spec.shape)} "
            f"but the model's is {_show_dims(dims)} (rank {len(dims)})"
        )
        dims = None
    if dims is not None:
        for axis, (g, s) in enumerate(zip(dims, spec.shape, strict=True)):
            if axis == 0 and max_batch > 1:
                if g is not None:
                    problems.append(
                        f"input {name!r}: the model fixes the batch axis at {g} but max_batch_size is {max_batch}"
                    )
                if s != -1:
                    problems.append(
                        f"input {name!r}: serving shape fixes the batch axis at {s} but max_batch_size is {max_batch}"
                    )
            elif axis == 0 and s == -1:
                continue  # one row per request: a fixed batch axis of 1 serves it
            elif g is not None and s != g:
                what = "dynamic (-1)" if s == -1 else str(s)
                problems.append(f"input {name!r}: axis {axis} is {what} in the serving config but {g} in the model")
    if spec.features is not None and len(spec.shape) >= 2:
        width = spec.shape[-1] if spec.shape[-1] != -1 else (dims[-1] if dims else None)
        if width is not None and width != len(spec.features):
            problems.append(f"input {name!r}: {len(spec.features)} features listed for a last axis of {width}")
    return problems


@check(
    "SCH001",
    "Serving inputs match the model's graph inputs",
    category="schema",
    severity="blocker",
    requires=["serving"],
    mlts=["Monitor 3"],
    remediation="make serving.yaml `inputs` name every graph input with its dtype and shape (-1 for the batch "
    "axis), or re-export the model with the signature the service sends; `readiness explain SCH001`",
)
def serving_inputs_match_graph(ctx: Context) -> Result:
    """Serving inputs and graph inputs agree: names, dtypes, ranks, static dims, and a dynamic batch axis.

    Read from the model's protobuf, so it judges the contract even when the model
    does not load. When `batching.max_batch_size > 1` the batch axis (axis 0) must be
    dynamic in both the model and the serving config. Every serving output must be
    a graph output.

    Static output dims: when the inputs match and the model loads, a batch of request
    rows (up to 8, at most max_batch_size) is scored and every output dim the graph
    declares static is compared with the shape the model returns (a converter that
    declares a label output `[1]` and returns `[N]` contradicts its own graph). Such
    a contradiction is a `minor` finding, unless the serving config relies on the
    declared dim: a Triton config.pbtxt that states that output's dims (Triton checks
    responses against them) makes it a finding of the check's own severity.
    """
    try:
        proto = model_proto(ctx)
    except ModelUnreadable as exc:
        return errored(f"cannot read the graph's inputs: {exc.reason} (see ART001)", caused_by=["ART001"])
    initializers = {t.name for t in proto.graph.initializer}
    graph_in = _signature(proto.graph.input, initializers)
    graph_out = _signature(proto.graph.output)
    serving = ctx.serving
    max_batch = serving.batching.max_batch_size
    problems: list[str] = []
    for spec in serving.inputs:
        if spec.name not in graph_in:
            problems.append(f"serving input {spec.name!r} is not a graph input (graph inputs: {', '.join(graph_in)})")
            continue
        problems.extend(_input_problems(spec, graph_in[spec.name], max_batch))
    fed = {s.name for s in serving.inputs}
    problems.extend(f"graph input {n!r} is not fed by any serving input" for n in graph_in if n not in fed)
    problems.extend(
        f"serving output {o.name!r} is not a graph output (graph outputs: {', '.join(graph_out)})"
        for o in serving.outputs
        if o.name not in graph_out
    )
    measured = {
        "graph_inputs": {n: f"{g['dtype']} {_show_dims(g['dims'])}" for n, g in graph_in.items()},
        "serving_inputs": {s.name: f"{s.dtype} {s.shape}" for s in serving.inputs},
        "max_batch_size": max_batch,
    }
    evidence: dict[str, Any] = {}
    drift: list[str] = []
    relied = False
    if not problems:
        drift, relied, evidence = _output_dim_drift(ctx, graph_out)
        measured["output_dims_contradicted"] = len(drift)
    if problems:
        return failed("; ".join(problems), measured, {"problems": problems})
    if drift:
        why = (
            "the serving config states these dims"
            if relied
            else "minor: the serving config does not rely on the declared dims"
        )
        return Result(
            "fail",
            f"the model contradicts its graph's declared output shape ({why}): " + "; ".join(drift),
            measured,
            {**evidence, "problems": drift},
            severity=None if relied else "minor",
        )
    return passed(f"{len(graph_in)} input(s) match: {', '.join(measured['graph_inputs'].values())}", measured)


def _output_dim_drift(ctx: Context, graph_out: dict[str, Any]) -> tuple[list[str], bool, dict[str, Any]]:
    """(findings, whether the serving config relies on a contradicted dim, evidence) for static output dims."""
    declared = {n: g["dims"] for n, g in graph_out.items() if g["dtype"] is not None and g["dims"] and any(g["dims"])}
    if not declared:
        return [], False, {}
    try:
        frame = ctx.sample_frame
        rows = min(len(frame), 8, ctx.max_batch_size) if ctx.max_batch_size > 1 else 1
        raw = rt.run(ctx.session, rt.to_feeds(frame.iloc[:rows], ctx.inputs), list(declared))
    except Exception as exc:  # noqa: BLE001 - the model does not load or score: other checks say why
        return [], False, {"output_dims": f"not compared at run time: {type(exc).__name__}"}
    stated = _serving_output_dims(ctx)
    findings: list[str] = []
    relied = False
    returned: dict[str, list[int]] = {}
    for name, dims in declared.items():
        value = raw.get(name)
        if not isinstance(value, np.ndarray):
            continue
        shape = [int(d) for d in value.shape]
        returned[name] = shape
        if len(shape) != len(dims):
            findings.append(f"output {name!r} is declared {_show_dims(dims)} but has shape {shape} for {rows} row(s)")
            relied = relied or name in stated
            continue
        for axis, (want, got) in enumerate(zip(dims, shape, strict=True)):
            if want is not None and want != got:
                findings.append(
                    f"output {name!r} axis {axis} is declared {want} but is {got} for {rows} row(s) "
                    f"(declared {_show_dims(dims)}, returned {shape})"
                )
                relied = relied or _states_dim(stated.get(name), axis, want)
    return (
        findings,
        relied,
        {
            "declared_output_dims": {n: _show_dims(d) for n, d in declared.items()},
            "returned_output_shapes": returned,
            "rows_scored": rows,
        },
    )


def _serving_output_dims(ctx: Context) -> dict[str, list[int]]:
    """Output dims the serving config itself states (a Triton config.pbtxt does; serving.yaml does not)."""
    details = getattr(ctx.bundle, "details", None) or {}
    triton = details.get("triton") or {}
    return {str(k): list(v) for k, v in (triton.get("output_dims") or {}).items()}


def _states_dim(stated: list[int] | None, axis: int, value: int) -> bool:
    """Whether a serving config's full output shape (batch axis first, -1 when dynamic) fixes `axis` at `value`."""
    return stated is not None and axis < len(stated) and stated[axis] == value


# --------------------------------------------------------------------------- schema columns
def _column_kind(column: Any) -> str:
    """float, int, bool, string, category, datetime, other, or unknown (no dtype declared)."""
    import pandas as pd
    from pandas.api import types as pdt

    dtype = getattr(column, "dtype", None)
    if dtype is None:
        return "unknown"
    native = getattr(dtype, "type", dtype)
    try:
        native = pd.api.types.pandas_dtype(native)
    except TypeError:
        text = str(dtype).lower()
        return "string" if "str" in text else "other"
    if pdt.is_bool_dtype(native):
        return "bool"
    if isinstance(native, pd.CategoricalDtype):
        return "category"
    if pdt.is_integer_dtype(native):
        return "int"
    if pdt.is_float_dtype(native):
        return "float"
    if pdt.is_datetime64_any_dtype(native):
        return "datetime"
    if pdt.is_string_dtype(native) or pdt.is_object_dtype(native):
        return "string"
    return "other"


def _input_kind(dtype: str) -> str:
    if dtype.startswith("float"):
        return "float"
    if dtype.startswith(("int", "uint")):
        return "int"
    return dtype  # bool, string


_COMPATIBLE = {
    "float": {"float", "int", "bool"},
    "int": {"int", "bool"},
    "bool": {"bool"},
    "string": {"string", "category"},
}


@check(
    "SCH002",
    "Schema columns map onto the model's inputs",
    category="schema",
    severity="blocker",
    requires=["schema"],
    mlts=["Monitor 3"],
    remediation="list in serving.yaml `features` exactly the schema's feature columns (the target aside), "
    "and give each schema column a dtype the model input accepts (a float64 column may feed float32; "
    "a string column may not)",
)
def schema_maps_onto_inputs(ctx: Context) -> Result:
    """Every model input is fed by a schema column, every schema feature is used, and dtypes are compatible.

    The target column may be in the schema or not; it is never a feature, and neither
    are the `[data].slices` columns (metadata to group rows by). A
    float64 column feeding a float32 input is compatible (it is cast, as serving
    does); a float column feeding an integer input, or a string column feeding a
    numeric one, is not.
    """
    schema = ctx.bundle.schema
    target = ctx.bundle.target
    columns = {str(name): col for name, col in schema.columns.items()}
    feeds: dict[str, str] = {}  # column -> input dtype
    for spec in ctx.inputs:
        for col in spec.features if spec.features is not None else [spec.name]:
            feeds.setdefault(col, spec.dtype)
    problems: list[str] = []
    unfed = [c for c in feeds if c not in columns]
    if unfed:
        problems.append(f"model input column(s) not in the schema: {', '.join(unfed[:10])}")
    not_features = {target, *ctx.manifest.data.slices}
    unused = [c for c in columns if c not in feeds and c not in not_features]
    if unused:
        problems.append(f"schema column(s) the model never reads: {', '.join(unused[:10])}")
    kinds = {c: _column_kind(columns[c]) for c in feeds if c in columns}
    clashes = [
        f"{c} ({columns[c].dtype} -> {feeds[c]})"
        for c, kind in kinds.items()
        if kind != "unknown" and kind not in _COMPATIBLE.get(_input_kind(feeds[c]), {_input_kind(feeds[c])})
    ]
    if clashes:
        problems.append(f"incompatible dtype(s): {', '.join(clashes[:10])}")
    undeclared = sorted(c for c, kind in kinds.items() if kind == "unknown")
    measured = {
        "model_columns": len(feeds),
        "schema_columns": len(columns),
        "unfed": unfed,
        "unused": unused,
        "incompatible": clashes,
    }
    evidence = {"undeclared_dtype": undeclared} if undeclared else {}
    if problems:
        return failed("; ".join(problems), measured, evidence)
    note = f" ({len(undeclared)} without a dtype, not judged; see SCH005)" if undeclared else ""
    return passed(f"all {len(feeds)} model column(s) map onto schema columns with compatible dtypes{note}", measured)


# --------------------------------------------------------------------------- reference data vs schema
def _short(value: Any, limit: int = 40) -> str:
    text = repr(value.item() if hasattr(value, "item") else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarise_failures(cases: Any, max_groups: int = 50) -> list[dict[str, Any]]:
    """Group pandera failure cases by (column, check): count, example values, example rows."""
    import pandas as pd

    groups: list[dict[str, Any]] = []
    frame = cases.copy()
    frame["column"] = frame["column"].astype(object).where(frame["column"].notna(), None)
    for (context, column, check_name), part in frame.groupby(
        ["schema_context", frame["column"].fillna("<table>"), "check"], sort=False
    ):
        rows = [int(i) for i in part["index"] if i is not None and not pd.isna(i)]
        examples = list(dict.fromkeys(_short(v) for v in part["failure_case"]))[:3]
        groups.append(
            {
                "column": None if column == "<table>" else column,
                "check": str(check_name),
                "failures": len(part),
                "examples": examples,
                "rows": rows[:5],
                "context": context,
            }
        )
    groups.sort(key=lambda g: (-g["failures"], str(g["column"]), g["check"]))
    return groups[:max_groups]


@check(
    "SCH003",
    "Reference data validates against the schema",
    category="schema",
    severity="major",
    requires=["schema", "reference"],
    mlts=["Data 1", "Monitor 2"],
    remediation="fix the rows named (or the pipeline producing them), or widen the schema if the data is right "
    "and the schema too strict",
)
def reference_validates(ctx: Context) -> Result:
    """The reference data passes the pandera schema; every failure is collected (lazy validation) and summarised.

    The target column is dropped first when the schema does not describe it (the
    schema describes the model's features); otherwise the schema's `strict`
    setting decides what extra columns mean.
    """
    import pandera.pandas as pa

    schema = ctx.bundle.schema
    if ctx.reference_data.sampled:
        from ..chunked import one_pass_at_a_time

        with one_pass_at_a_time(ctx):
            return _validate_chunks(ctx)
    frame = ctx.reference
    target = ctx.bundle.target
    if target and target in frame.columns and target not in schema.columns:
        frame = frame.drop(columns=[target])
    measured: dict[str, Any] = {"rows": len(frame), "columns": len(frame.columns)}
    frame, cast = _csv_floats(ctx, frame)
    if cast:
        measured["cast_to_float"] = cast
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        groups = summarise_failures(cases)
        bad_rows = {int(i) for i in cases["index"] if i is not None and not _isna(i)}
        measured.update({"failures": len(cases), "failing_rows": len(bad_rows), "groups": len(groups)})
        return failed(_failure_message(groups, len(cases), len(bad_rows), len(frame)), measured, {"failures": groups})
    except pa.errors.SchemaError as exc:  # raised by some schema-level problems even when lazy
        return failed(f"the data does not fit the schema: {exc}", measured)
    return passed(f"all {len(frame)} row(s) validate against the schema", measured)


def _validate_chunks(ctx: Context) -> Result:
    """SCH003 over reference data too large for memory: every chunk validated, the failures merged by (column, check)."""
    import pandera.pandas as pa

    schema = ctx.bundle.schema
    reference = ctx.reference_data
    target = ctx.bundle.target
    merged: dict[tuple[Any, Any, str], dict[str, Any]] = {}
    failures = failing_rows = 0
    columns = 0
    for chunk in reference.batches():
        frame = (
            chunk.drop(columns=[target])
            if target and target in chunk.columns and target not in schema.columns
            else chunk
        )
        columns = len(frame.columns)
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
            failures += len(cases)
            failing_rows += len({int(i) for i in cases["index"] if i is not None and not _isna(i)})
            for group in summarise_failures(cases, max_groups=10**9):
                key = (group["context"], group["column"], group["check"])
                into = merged.setdefault(key, {**group, "failures": 0, "examples": [], "rows": []})
                into["failures"] += group["failures"]
                into["examples"] = list(dict.fromkeys(into["examples"] + group["examples"]))[:3]
                into["rows"] = (into["rows"] + group["rows"])[:5]
        except pa.errors.SchemaError as exc:  # a schema-level problem: the same in every chunk
            return failed(f"the data does not fit the schema: {exc}", {"rows": reference.rows, "columns": columns})
    measured: dict[str, Any] = {"rows": reference.rows, "columns": columns, "chunked": True}
    if not merged:
        return passed(f"all {reference.rows} row(s) validate against the schema (checked in chunks)", measured)
    groups = sorted(merged.values(), key=lambda g: (-g["failures"], str(g["column"]), g["check"]))
    measured.update({"failures": failures, "failing_rows": failing_rows, "groups": len(groups)})
    message = _failure_message(groups, failures, failing_rows, reference.rows)
    return failed(message, measured, {"failures": groups[:50]})


def _failure_message(groups: list[dict[str, Any]], failures: int, failing_rows: int, rows: int) -> str:
    """SCH003's one line: how many failures in how many rows, and the five largest (column, check) groups."""
    shown = []
    for g in groups[:5]:
        if g["column"] is None:  # table-level: the failure case names the column
            shown.append(f"{g['check']}: {', '.join(g['examples'])}")
        else:
            shown.append(f"column {g['column']!r} {g['check']}: {g['failures']}x (e.g. {', '.join(g['examples'])})")
    more = f"; and {len(groups) - 5} more" if len(groups) > 5 else ""
    where = f" in {failing_rows} of {rows} row(s)" if failing_rows else ""
    return f"{failures} failure(s){where}: {'; '.join(shown)}{more}"


def _csv_floats(ctx: Context, frame: Any) -> tuple[Any, list[str]]:
    """CSV cannot say that 1.0 is a float: integer-typed columns the schema declares float become float64."""
    path = ctx.bundle.reference_path
    if path is None or path.suffix.lower() not in (".csv", ".txt", ".gz"):
        return frame, []
    from pandas.api import types as pdt

    columns = ctx.bundle.schema.columns
    cast = [
        str(c)
        for c in frame.columns
        if c in columns and _column_kind(columns[c]) == "float" and pdt.is_integer_dtype(frame[c].dtype)
    ]
    if cast:
        frame = frame.astype({c: "float64" for c in cast})
    return frame, cast


def _isna(value: Any) -> bool:
    try:
        return bool(np.isnan(value))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- outputs
def _declared_classes(spec: Any, raw: Any, model_labels: list[Any] | None) -> list[Any] | None:
    """The classes an output's columns stand for: declared, else the ZipMap's keys, else the graph's labels."""
    if spec.classes:
        return list(spec.classes)
    if isinstance(raw, list) and raw:
        return list(raw[0].keys())
    return model_labels


def _as_text(values: Any) -> np.ndarray:
    return np.array([str(v.item() if hasattr(v, "item") else v) for v in np.asarray(values).reshape(-1)], dtype=object)


def _probability_problems(name: str, probs: np.ndarray, tol: float, stats: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    finite = np.isfinite(probs)
    bad_finite = int((~finite.all(axis=1)).sum())
    clean = np.where(finite, probs, 0.5)
    out_of_range = int(((clean < -tol) | (clean > 1 + tol)).any(axis=1).sum())
    sum_err = np.abs(clean.sum(axis=1) - 1.0)
    bad_sum = int((sum_err > tol).sum())
    stats.update(
        {
            "min": float(clean.min()) if clean.size else None,
            "max": float(clean.max()) if clean.size else None,
            "max_sum_error": float(sum_err.max()) if sum_err.size else None,
            "columns": int(probs.shape[1]),
        }
    )
    if bad_finite:
        problems.append(f"{name!r}: {bad_finite} row(s) with NaN/inf probabilities")
    if out_of_range:
        problems.append(f"{name!r}: {out_of_range} row(s) with probabilities outside [0, 1]")
    if bad_sum:
        problems.append(
            f"{name!r}: {bad_sum} row(s) whose probabilities do not sum to 1 "
            f"(worst off by {float(sum_err.max()):.3g}, tolerance {tol:g})"
        )
    return problems


def _output_problems(
    raw: Any, spec: Any, tol: float, classes: list[Any] | None, *, declared: bool = True
) -> tuple[list[str], dict[str, Any]]:
    """Shape, then values, of one output against its kind. A kind guessed from the graph (no serving
    config, `declared` False) whose shape does not fit it is judged on finiteness alone."""
    problems: list[str] = []
    stats: dict[str, Any] = {"kind": spec.kind}
    shape = [len(raw), "map"] if isinstance(raw, list) else list(np.asarray(raw).shape)
    stats["shape"] = output_kinds.show_shape(shape) if shape else "[]"
    n_classes = len(spec.classes) if spec.classes else None
    shape_problem = output_kinds.shape_problem(spec.kind, raw, n_classes)
    if shape_problem is not None:
        if declared:
            return [f"{spec.name!r} {shape_problem}"], stats
        values = None if isinstance(raw, list) else np.asarray(raw)
        if values is not None and values.dtype.kind in "fc" and values.size:
            bad = int((~np.isfinite(values.reshape(len(values), -1))).any(axis=1).sum())
            if bad:
                problems.append(f"{spec.name!r}: {bad} row(s) with NaN/inf values")
        return problems, stats
    if spec.kind in output_kinds.CLASS_SCORES:
        matrix = output_kinds.class_matrix(spec.kind, raw, classes)
        if spec.kind == "probabilities":
            problems += _probability_problems(spec.name, matrix, tol, stats)
        else:
            bad = int((~np.isfinite(matrix).all(axis=1)).sum())
            stats["columns"] = int(np.asarray(raw).reshape(len(raw), -1).shape[1]) if len(raw) else 0
            if bad:
                problems.append(f"{spec.name!r}: {bad} row(s) with NaN/inf {spec.kind}")
    elif spec.kind == "label":
        labels = _as_text(raw)
        distinct = sorted(set(labels.tolist()))
        stats["distinct"] = distinct[:20]
        if spec.classes is not None:
            allowed = {str(c) for c in spec.classes}
            unknown = [v for v in distinct if v not in allowed]
            if unknown:
                count = int(sum(v not in allowed for v in labels))
                problems.append(
                    f"{spec.name!r}: {count} label(s) outside classes {list(spec.classes)}: {', '.join(unknown[:5])}"
                )
    else:
        values = np.asarray(raw, dtype=np.float64)
        bad = int((~np.isfinite(values)).reshape(len(values), -1).any(axis=1).sum()) if values.size else 0
        stats.update({"min": float(np.nanmin(values)) if values.size and not np.isnan(values).all() else None})
        if bad:
            problems.append(f"{spec.name!r}: {bad} row(s) with NaN/inf {spec.kind} values")
    return problems, stats


def _argmax_problems(
    raw: dict[str, Any],
    outputs: Sequence[Any],
    classes_of: dict[str, list[Any] | None],
    tolerance: float,
    margin: float,
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """A label output must agree with the argmax of the model's own probabilities (or logits).

    Rows whose two most likely classes are within `margin` of each other are ties, not disagreements.
    """
    labels = next((o for o in outputs if o.kind == "label" and o.name in raw), None)
    present = [o for o in outputs if o.name in raw]
    source = next((o for o in present if o.kind == "probabilities"), None) or next(
        (o for o in present if o.kind == "logits"), None
    )
    if labels is None or source is None:
        return [], {}
    classes = classes_of.get(source.name)
    matrix = output_kinds.class_matrix(source.kind, raw[source.name], classes)
    probs = output_kinds.probabilities_from(source.kind, matrix)
    if probs is None or len(probs) != len(np.asarray(raw[labels.name]).reshape(-1)):
        return [], {}
    classes = classes or list(range(probs.shape[1]))
    if len(classes) != probs.shape[1]:
        return [], {}
    finite = np.isfinite(probs).all(axis=1)
    top2 = np.sort(np.where(np.isfinite(probs), probs, 0.0), axis=1)[:, -2:]
    decided = finite & ((top2[:, 1] - top2[:, 0]) > margin) if probs.shape[1] > 1 else finite
    expected = _as_text(np.asarray(classes, dtype=object)[np.argmax(np.where(finite[:, None], probs, 0.0), axis=1)])
    given = _as_text(raw[labels.name])
    disagree = decided & (expected != given)
    judged = int(decided.sum())
    share = float(disagree.sum()) / judged if judged else 0.0
    stats = {
        labels.name: {
            "argmax_of": source.name,
            "argmax_disagreement": round(share, 6),
            "argmax_disagreeing_rows": int(disagree.sum()),
            "argmax_rows_judged": judged,
        }
    }
    if share > tolerance:
        rows = np.flatnonzero(disagree)[:5].tolist()
        return [
            f"{labels.name!r}: {int(disagree.sum())} of {judged} label(s) ({share:.1%}) disagree with the argmax of "
            f"{source.name!r} (tolerance {tolerance:.1%}; e.g. rows {rows}: label {given[rows[0]]} but argmax "
            f"{expected[rows[0]]})"
        ], stats
    return [], stats


def _class_label_problems(outputs: Sequence[Any], model_labels: list[Any] | None, raw: dict[str, Any]) -> list[str]:
    """Declared `classes` must be the model's own class labels, in the model's order."""
    problems: list[str] = []
    for spec in outputs:
        if not spec.classes or spec.kind == "regression":
            continue
        own = model_labels
        if spec.kind == "probabilities" and isinstance(raw.get(spec.name), list) and raw[spec.name]:
            own = list(raw[spec.name][0].keys())  # a ZipMap's keys, in its column order
        if own is None or output_kinds.same_labels(spec.classes, own):
            continue
        if len(own) != len(spec.classes) and own is model_labels:
            continue  # a classifier inside a larger graph (a different class count is SCH004's width finding)
        declared = list(spec.classes)
        if sorted(map(str, declared)) == sorted(map(str, own)):
            problems.append(
                f"{spec.name!r}: classes declared in the order {declared} but the model's own class labels are in "
                f"the order {own}: declare them in the model's order"
            )
        else:
            problems.append(f"{spec.name!r}: classes {declared} declared but the model's own class labels are {own}")
    return problems


@check(
    "SCH004",
    "Outputs honour their declared kind",
    category="schema",
    severity="blocker",
    requires=["session"],
    mlts=["Monitor 5"],
    remediation="declare each output's real kind in serving.yaml `outputs` (probabilities | logits | score | label | "
    "regression) with the classes the model emits, in its order; export probabilities normalised and every "
    "output as [N] or [N, classes]",
    thresholds={"probability_sum_tolerance": 1e-4, "label_argmax_tolerance": 0.01, "label_argmax_margin": 1e-5},
)
def outputs_honour_kind(ctx: Context) -> Result:
    """On the reference rows (or synthetic rows), each output behaves as its declared kind says.

    Shapes: labels and regression values are [N] or [N, 1]; probabilities, logits and scores are
    [N, len(classes)] (or [N]/[N, 1] for one positive-class column); anything else fails. A kind
    that contradicts `[model].task` (a regression output on a classification task) fails.
    Values: probabilities are finite, within [0, 1] and each row sums to 1 (within
    `probability_sum_tolerance`); logits, scores and regression values are finite; labels are
    among the declared `classes`. Agreement: a label output disagrees with the argmax of the
    model's own probabilities (or logits) on at most `label_argmax_tolerance` of the rows (rows
    whose top two probabilities are within `label_argmax_margin` are ties, not judged); declared
    `classes` are the model's own class labels (ZipMap keys, `classlabels_*` attributes), in its
    order. Without a serving config the kinds are guessed from the graph and only values are judged.
    """
    tol = float(ctx.threshold("probability_sum_tolerance", 1e-4))
    source = "reference" if ctx.bundle.reference is not None else "synthetic"
    try:
        raw = (
            ctx.reference_raw
            if source == "reference"
            else ctx.memo("sch:sch004_synthetic_raw", lambda: ctx.predict_raw(ctx.sample_frame))
        )
    except SkipCheck:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime refuses feeds that break the contract
        return errored(
            f"the model could not score {source} rows as the serving config feeds them: {exc} (see SCH001)",
            caused_by=["SCH001", "SCH002"],
        )
    declared = ctx.serving is not None
    try:
        model_labels = output_kinds.model_class_labels(model_proto(ctx))
    except ModelUnreadable:
        model_labels = None
    problems: list[str] = []
    stats: dict[str, Any] = {}
    classes_of: dict[str, list[Any] | None] = {}
    task = ctx.manifest.model.task
    shapes_ok = True
    for spec in ctx.outputs:
        if spec.name not in raw:
            problems.append(f"output {spec.name!r} was not produced by the model (see SCH001)")
            continue
        if declared and (why := output_kinds.kind_contradicts_task(spec.kind, task)):
            problems.append(f"{spec.name!r}: {why}")
        classes_of[spec.name] = _declared_classes(spec, raw[spec.name], model_labels)
        n_classes = len(spec.classes) if spec.classes else None
        shapes_ok &= output_kinds.shape_problem(spec.kind, raw[spec.name], n_classes) is None
        found, stats[spec.name] = _output_problems(raw[spec.name], spec, tol, classes_of[spec.name], declared=declared)
        problems.extend(found)
    if declared:
        problems.extend(_class_label_problems(ctx.outputs, model_labels, raw))
    if shapes_ok:  # labels and argmax are comparable only when every output has its contracted shape
        found, agreement = _argmax_problems(
            raw,
            ctx.outputs,
            classes_of,
            float(ctx.threshold("label_argmax_tolerance", 0.01)),
            float(ctx.threshold("label_argmax_margin", 1e-5)),
        )
        problems.extend(found)
        for name, entry in agreement.items():
            stats.setdefault(name, {}).update(entry)
    rows = len(next(iter(raw.values()))) if raw else 0
    measured = {"rows": rows, "rows_from": source, "outputs": stats}
    if model_labels is not None:
        measured["model_class_labels"] = model_labels
    if problems:
        return failed("; ".join(problems), measured)
    kinds = ", ".join(f"{s.name} ({s.kind})" for s in ctx.outputs)
    return passed(f"{rows} {source} row(s): {kinds} within contract", measured)


# --------------------------------------------------------------------------- informative schema
_BUILTIN_CHECKS = {
    "equal_to": "both",
    "isin": "both",
    "in_range": "both",
    "greater_than": "lower",
    "greater_than_or_equal_to": "lower",
    "less_than": "upper",
    "less_than_or_equal_to": "upper",
    "not_equal_to": None,
    "notin": None,
    "str_matches": None,
    "str_contains": None,
    "str_startswith": None,
    "str_endswith": None,
    "str_length": None,
    "unique_values_eq": "both",
}


def _finite(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return value is not None


def _bounds(checks: Sequence[Any]) -> tuple[bool, bool, bool]:
    """(has lower bound, has upper bound, enumerated) from a column's built-in checks."""
    lower = upper = enumerated = False
    for c in checks:
        name = getattr(c, "name", None)
        stats = getattr(c, "statistics", {}) or {}
        if name in ("isin", "equal_to", "unique_values_eq"):
            enumerated = lower = upper = True
        elif name == "in_range":
            lower |= _finite(stats.get("min_value"))
            upper |= _finite(stats.get("max_value"))
        elif name in ("greater_than", "greater_than_or_equal_to"):
            lower |= _finite(stats.get("min_value"))
        elif name in ("less_than", "less_than_or_equal_to"):
            upper |= _finite(stats.get("max_value"))
    return lower, upper, enumerated


def _unregistered(checks: Sequence[Any]) -> list[str]:
    import pandera.pandas as pa

    registered = set(getattr(pa.Check, "REGISTERED_CUSTOM_CHECKS", {}) or {})
    return [
        str(getattr(c, "name", None) or "<unnamed>")
        for c in checks
        if getattr(c, "name", None) not in _BUILTIN_CHECKS and getattr(c, "name", None) not in registered
    ]


@check(
    "SCH005",
    "Schema is informative",
    category="schema",
    severity="minor",
    requires=["schema"],
    mlts=["Data 1"],
    remediation="give every numeric column a finite `in_range` (or ge/le) check, every categorical column an "
    "`isin` check, a dtype to every column; register custom checks with pandera.extensions so they survive to_yaml",
)
def schema_informative(ctx: Context) -> Result:
    """Every numeric feature is bounded, every categorical one enumerated, every column typed.

    Each column's nullability is reported, and custom checks pandera cannot
    serialise are flagged.
    Judged on the loaded pandera schema, not its YAML text: pandera leaves defaults
    such as `nullable: false` out of YAML, so a loaded column's nullability is always
    known and reported in `measured`. A custom check that is not registered through
    `pandera.extensions` is dropped (with only a warning) when the schema is written
    to YAML, and hypothesis cannot synthesise data from it, so it is flagged.
    """
    schema = ctx.bundle.schema
    target = ctx.bundle.target
    unbounded: list[str] = []
    not_enumerated: list[str] = []
    no_dtype: list[str] = []
    custom: list[str] = []
    nullable: dict[str, bool] = {}
    for name, column in schema.columns.items():
        name = str(name)
        checks = list(getattr(column, "checks", []) or [])
        custom.extend(f"{name}: {c}" for c in _unregistered(checks))
        if name == target:
            continue
        nullable[name] = bool(getattr(column, "nullable", False))
        kind = _column_kind(column)
        lower, upper, enumerated = _bounds(checks)
        if kind == "unknown":
            no_dtype.append(name)
        elif kind in ("float", "int", "datetime") and not (lower and upper):
            missing = " and ".join(w for w, ok in (("lower", lower), ("upper", upper)) if not ok)
            unbounded.append(f"{name} (no {missing} bound)")
        elif kind in ("string", "category") and not enumerated and getattr(column.dtype, "categories", None) is None:
            not_enumerated.append(name)
    custom.extend(f"<table>: {c}" for c in _unregistered(list(getattr(schema, "checks", []) or [])))
    problems = []
    if unbounded:
        problems.append(f"{len(unbounded)} numeric column(s) not bounded: {', '.join(unbounded[:8])}")
    if not_enumerated:
        problems.append(f"{len(not_enumerated)} categorical column(s) not enumerated: {', '.join(not_enumerated[:8])}")
    if no_dtype:
        problems.append(f"{len(no_dtype)} column(s) without a dtype: {', '.join(no_dtype[:8])}")
    if custom:
        problems.append(f"custom check(s) not registered with pandera (lost by to_yaml): {', '.join(custom[:8])}")
    measured = {
        "columns": len(nullable),
        "unbounded": unbounded,
        "not_enumerated": not_enumerated,
        "no_dtype": no_dtype,
        "unregistered_checks": custom,
        "nullable": sorted(c for c, v in nullable.items() if v),
    }
    if problems:
        return failed("; ".join(problems), measured)
    return passed(
        f"all {len(nullable)} feature column(s) bounded or enumerated, typed, nullability known "
        f"({len(measured['nullable'])} nullable)",
        measured,
    )


# --------------------------------------------------------------------------- the serving target's limits
_TENSOR_ONLY_TARGETS = {"triton": "Triton", "kserve": "KServe (Open Inference Protocol)"}


@check(
    "SCH006",
    "Every output is a tensor the serving target can return",
    category="schema",
    severity="blocker",
    requires=["serving"],
    mlts=["Infra 3"],
    remediation="re-export so every output is a tensor: skl2onnx `to_onnx(model, X, options={id(model): "
    "{'zipmap': False}})` (or `options={'zipmap': False}` for every classifier), onnxmltools "
    "`convert_lightgbm/convert_xgboost(..., zipmap=False)`; then declare the probability tensor in the serving config",
)
def outputs_are_tensors(ctx: Context) -> Result:
    """Triton and KServe (Open Inference Protocol) return tensors only: a sequence or map output cannot be served.

    scikit-learn classifiers exported by skl2onnx carry, by default, a ZipMap output:
    a sequence of {class: probability} maps. onnxruntime returns it to Python callers,
    but Triton refuses to load such a model and the Open Inference Protocol has no way
    to send it. Judged from the graph's declared output types when the serving config
    is a Triton `config.pbtxt` or a KServe InferenceService; with a native serving.yaml
    the target server is not named, so non-tensor outputs are reported, not judged.
    """
    try:
        proto = model_proto(ctx)
    except ModelUnreadable as exc:
        return errored(f"cannot read the graph's outputs: {exc} (see ART001)")
    outputs = _signature(proto.graph.output)
    non_tensor = {name: sig["kind"] for name, sig in outputs.items() if sig["kind"] != "tensor"}
    fmt = ctx.bundle.serving_format or "native"
    target = _TENSOR_ONLY_TARGETS.get(fmt)
    measured = {
        "serving_format": fmt,
        "outputs": {name: sig["kind"] for name, sig in outputs.items()},
        "non_tensor_outputs": sorted(non_tensor),
    }
    shown = ", ".join(f"{name!r} ({kind}, e.g. a ZipMap)" for name, kind in sorted(non_tensor.items()))
    if target is None:
        if non_tensor:
            return passed(
                f"the serving config names no tensor-only server; output(s) {shown} are not tensors: onnxruntime "
                "returns them to Python, but Triton and KServe could not (see the fix if you serve with either)",
                measured,
            )
        return passed(f"all {len(outputs)} output(s) are tensors", measured)
    if non_tensor:
        return failed(f"{target} cannot return output(s) {shown}: only tensors can be served", measured)
    return passed(f"all {len(outputs)} output(s) are tensors, as {target} requires", measured)
