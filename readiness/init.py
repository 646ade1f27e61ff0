"""`readiness init MODEL [--data SAMPLE.csv] [--target COL] [--source SOURCE]`: write a starter bundle next to the model.

Writes `readiness.toml`, a `serving.yaml` derived from the graph's inputs and outputs,
and, with `--data`, a pandera `schema.yaml` inferred from the sample by pandera
(`infer_schema`) and then tightened: numeric bounds widened by a margin, categories
enumerated, nullability from the data. Every generated value carries a comment saying
where it came from, so a person knows what to review; the notes printed at the end list
only what a person must decide (budgets, the quality bar, the model card, names that
could not be inferred). `--source` declares the trained model before export
(`.skops`, XGBoost `.json`/`.ubj`, LightGBM `.txt`; `.pkl`/`.joblib` load only with
`--trust`) so that RPR003 compares it with the ONNX model. Existing files are never
overwritten unless `--force` is given.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .errors import BundleError
from .outputs import CLASSIFICATION_KINDS
from .text import clean

MARGIN = 0.1  # bounds are widened by this share of the observed range on each side
MAX_CATEGORIES = 50  # text columns with more distinct values are not enumerated
REGRESSION_MIN_DISTINCT = 20  # a float target with at least this many distinct values is a regression target


@dataclass
class InitResult:
    written: list[Path]
    task: str | None
    review: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- schema
def _bounds(series: Any, margin: float) -> tuple[float, float, str]:
    lo, hi = float(series.min()), float(series.max())
    spread = hi - lo if hi > lo else max(abs(hi), 1.0)
    low, high = lo - margin * spread, hi + margin * spread
    why = f"observed [{lo:.6g}, {hi:.6g}], widened by {margin:.0%} of the range"
    if lo >= 0 > low:
        low = 0.0
        why += " (kept non-negative: no negative value in the sample)"
    if series.dtype.kind in "iu":
        low, high = math.floor(low), math.ceil(high)
    else:
        low, high = float(f"{low:.6g}"), float(f"{high:.6g}")
    return low, high, why


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def infer_tight_schema(
    frame: Any, *, target: str | None, source: str, margin: float = MARGIN
) -> tuple[Any, dict[str, str], list[str]]:
    """pandera's inferred schema, tightened; with a comment per column and what to review."""
    import pandera.pandas as pa

    inferred = pa.infer_schema(frame)
    columns: dict[str, Any] = {}
    comments: dict[str, str] = {}
    review: list[str] = []
    n = len(frame)
    for name, col in inferred.columns.items():
        series = frame[name]
        nulls = int(series.isna().sum())
        nullable = nulls > 0
        null_note = f"nullable: {str(nullable).lower()} ({nulls} missing of {n} rows)"
        values = series.dropna()
        dtype = col.dtype
        kind = series.dtype.kind
        checks: list[Any] = []
        required = True
        if name == target:
            required = False  # request rows do not carry the label
            if kind == "f" and values.nunique() >= REGRESSION_MIN_DISTINCT:
                low, high, why = _bounds(values, margin)
                checks = [pa.Check.in_range(low, high)]
                note = f"regression target; in_range [{low}, {high}]: {why}"
            else:
                classes = sorted(_py(v) for v in values.unique())
                checks = [pa.Check.isin(classes)]
                note = f"target, {len(classes)} classes enumerated from the sample: {classes}"
            note += "; required: false (requests carry no label)"
        elif kind == "b":
            checks = [pa.Check.isin([False, True])]
            note = "boolean"
        elif kind in "iuf":
            if values.empty:
                note = "numeric but every value is missing: no bounds inferred; REVIEW"
                review.append(f"{name}: no values in the sample")
            else:
                low, high, why = _bounds(values, margin)
                checks = [pa.Check.in_range(low, high)]
                note = f"in_range [{low}, {high}]: {why}"
        else:
            distinct = sorted(str(v) for v in values.unique())
            if 0 < len(distinct) <= MAX_CATEGORIES:
                checks = [pa.Check.isin(distinct)]
                note = f"categorical, {len(distinct)} categories enumerated from the sample; add any the sample missed"
            else:
                note = (
                    f"text with {len(distinct)} distinct values: not enumerated; REVIEW (add a check or an isin list)"
                )
                review.append(f"{name}: {len(distinct)} distinct values, not enumerated")
        columns[name] = pa.Column(dtype, checks, nullable=nullable, required=required)
        comments[name] = f"{name}: dtype {dtype} (pandera's inference); {note}; {null_note}"
    schema = pa.DataFrameSchema(
        columns, strict=True, coerce=inferred.coerce, name=Path(source).stem, description=f"inferred from {source}"
    )
    return schema, comments, review


def schema_text(schema: Any, comments: dict[str, str], source: str, rows: int) -> str:
    """The schema's YAML (pandera's `to_yaml`) with a comment above every column."""
    lines = schema.to_yaml().splitlines()
    header = [
        f"# pandera schema written by `readiness init` from {source} ({rows} rows) on {_dt.date.today().isoformat()}.",
        "# pandera's infer_schema gave the dtypes; readiness tightened them: numeric bounds from the sample widened",
        f"# by {MARGIN:.0%} of the range, categories enumerated, nullable only where the sample has missing values.",
        "# These are guesses from one sample: review every column (comments below) before relying on them.",
        "# strict: true means a column not listed here is an error; coerce: true casts values to the dtypes.",
    ]
    out = list(header)
    pending = list(comments)
    in_columns = False
    for line in lines:
        if line.startswith("columns:"):
            in_columns = True
        elif line and not line.startswith(" "):
            in_columns = False
        if in_columns and line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            if pending:
                out.append(f"  # {comments[pending.pop(0)]}")
        out.append(line)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- serving config
def _yaml_scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _propose_kinds(
    model_path: Any, inputs: list[Any], outputs: list[Any], task: str | None, frame: Any = None
) -> tuple[list[Any], dict[str, str]]:
    """`outputs` (OutputSpecs guessed from the graph) with kinds re-read for the task by `propose_kind`,
    and why each kind was chosen. The values come from running the model on up to 64 sample rows;
    when that is not possible the names alone decide."""
    from . import runtime as rt
    from .outputs import CLASSIFICATION_TASKS, propose_kind

    reasons = {o.name: "guessed from the output's name and type" for o in outputs}
    candidates = [o.name for o in outputs if task in CLASSIFICATION_TASKS and o.kind in ("regression", "score")]
    if not candidates:
        return list(outputs), reasons
    raw: dict[str, Any] = {}
    if frame is not None and len(frame):
        try:
            session = rt.create_session(model_path)
            raw = rt.run(session, rt.to_feeds(frame.head(64), inputs), candidates)
        except Exception:  # noqa: BLE001 - a model that cannot score the sample is judged by the checks, not here
            raw = {}
    proposed = []
    for spec in outputs:
        if spec.name in candidates:
            value = raw.get(spec.name)
            kind, reasons[spec.name] = propose_kind(
                spec.name, spec.kind, task=task, sample=value if hasattr(value, "dtype") else None
            )
            spec = spec.model_copy(update={"kind": kind})
        proposed.append(spec)
    return proposed, reasons


def serving_text(
    model_path: Path,
    columns: list[str] | None,
    classes: list[Any] | None,
    *,
    task: str | None = None,
    frame: Any = None,
) -> tuple[str, list[str]]:
    """A serving.yaml derived from the graph (output kinds re-read for the task); every value commented."""
    from .contract import assign_features, graph_contract, graph_inputs, load_proto

    contract = graph_contract(model_path)
    if contract is None:
        raise BundleError(
            model_path,
            None,
            "cannot read the graph's tensor inputs and outputs",
            "check the file with `readiness check MODEL` (ART001 explains why it does not load)",
        )
    inputs, outputs = contract
    inputs = [assign_features(s, inputs, columns) for s in inputs]
    outputs, kind_why = _propose_kinds(model_path, inputs, outputs, task, frame)
    proto = load_proto(model_path)
    declared = {vi.name: vi for vi in graph_inputs(proto)} if proto is not None else {}
    review: list[str] = []
    batch_dynamic = all(s.shape and s.shape[0] == -1 for s in inputs)
    lines = [
        f"# Serving config written by `readiness init` from the graph of {model_path.name}"
        f" on {_dt.date.today().isoformat()}.",
        "# How one request row becomes the model's input tensors, and what the service promises. Review every value.",
        "inputs:",
    ]
    for spec in inputs:
        vi = declared.get(spec.name)
        shape_text = (
            [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in vi.type.tensor_type.shape.dim]
            if vi is not None
            else spec.shape
        )
        lines += [
            f"  - name: {_yaml_scalar(spec.name)}  # graph input",
            f"    dtype: {spec.dtype}  # the graph input's element type",
            f"    shape: {_yaml_scalar(spec.shape)}  # graph shape {shape_text}; -1 = dynamic (the batch axis)",
        ]
        if spec.features is not None:
            origin = (
                "the data sample's columns in file order (minus the target): CHECK this is the order the model was trained on"
                if columns is not None and spec.features == columns
                else "placeholder names, one per position: rename them to the schema's columns"
            )
            if columns is None or spec.features != columns:
                review.append(f"input {spec.name}: feature names are placeholders")
            lines.append(f"    features: {_yaml_scalar(spec.features)}  # {origin}")
        elif (
            columns is not None
            and len(spec.shape) == 2
            and spec.shape[1] > 0
            and spec.shape[1] != len(columns)
            and not (spec.shape[1] == 1 and spec.name in columns)  # one input per column, named like it
        ):
            width = spec.shape[1]
            review.append(
                f"input {spec.name} takes {width} values per row but the sample has {len(columns)} columns besides "
                f"the target: list the model's {width} features, in training order, under `features`"
            )
            lines.append(
                f"    # features: [...]  # TODO: the {width} columns the model reads, in training order"
                f" (the sample has {len(columns)}: {', '.join(columns[:5])}{', ...' if len(columns) > 5 else ''})"
            )
        elif columns is not None and spec.name in columns:
            lines.append("    # no features list: fed from the sample's column of the same name (one input per column)")
        else:
            lines.append("    # no features list: the input is fed from the column named like the input")
        lines.append("    on_invalid: score  # the server scores out-of-schema rows (set `reject` if it refuses them)")
    lines.append("outputs:")
    for spec in outputs:
        lines += [
            f"  - name: {_yaml_scalar(spec.name)}  # graph output",
            f"    kind: {spec.kind}  # {kind_why[spec.name]}: probabilities | logits | score | label | regression",
        ]
        if classes is not None and spec.kind in CLASSIFICATION_KINDS:
            lines.append(f"    classes: {_yaml_scalar(classes)}  # the target's classes in the data sample, sorted")
    max_batch = 64 if batch_dynamic else 1
    batch_note = (
        "assumed: the batch axis is dynamic; set the largest batch your server forms"
        if batch_dynamic
        else "the graph's batch dimension is static"
    )
    lines += [
        "runtime:",
        "  engine: onnxruntime  # the only engine readiness measures",
        "  providers: [CPUExecutionProvider]  # execution providers, in order of preference",
        "  intra_op_threads: 1  # threads per inference; match the server's setting",
        "batching:",
        f"  max_batch_size: {max_batch}  # {batch_note}",
        "# The latency and resource promises need a person's numbers; until they are set, the LAT checks",
        "# that judge a budget are skipped. Uncomment and fill in:",
        "# slo:",
        "#   latency:",
        "#     - { batch_size: 1, p99_ms: 10 }",
        "#   throughput_rps: 1000",
        "# resources:",
        "#   max_model_mb: 100",
        "#   max_memory_mb: 512",
        "#   max_load_ms: 2000",
        "# timeout_ms: 100",
    ]
    review.append("serving.yaml: no SLO or resource budget (latency checks measure without judging)")
    return "\n".join(lines) + "\n", review


# --------------------------------------------------------------------------- manifest
def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def infer_task(frame: Any, target: str) -> tuple[str, list[Any] | None, str]:
    values = frame[target].dropna()
    if values.dtype.kind == "f" and values.nunique() >= REGRESSION_MIN_DISTINCT:
        return "regression", None, f"target {target!r} is continuous ({values.nunique()} distinct values)"
    classes = sorted(_py(v) for v in values.unique())
    task = "binary_classification" if len(classes) <= 2 else "multiclass_classification"
    return task, classes, f"target {target!r} has {len(classes)} classes {classes[:10]}"


def manifest_text(
    model_path: Path,
    *,
    data_rel: str | None,
    target: str | None,
    task: str | None,
    task_why: str,
    has_schema: bool,
    source_rel: str | None = None,
) -> str:
    today = _dt.date.today().isoformat()
    meta = _metadata(model_path)
    lines = [
        f"# Starter bundle written by `readiness init` on {today}. Every value was generated: review each one.",
        "# Run `readiness check` in this directory; the scorecard says which checks still need your input.",
        "",
        "[model]",
        f"path = {_toml(model_path.name)}  # the artifact that will be served",
    ]
    if meta.get("name"):
        lines.append(f"name = {_toml(meta['name'])}  # from the model's metadata_props")
    else:
        lines.append(f"name = {_toml(model_path.stem)}  # from the file name: use the service's name")
    if meta.get("version"):
        lines.append(f"version = {_toml(meta['version'])}  # from the model's metadata_props")
    else:
        lines.append('# version = "1.0.0"  # the release version (ART003 compares it with the model metadata)')
    if source_rel is not None:
        lines.append(
            f"source = {_toml(source_rel)}  # the trained model before export (--source): RPR003 compares the two"
        )
    else:
        lines.append('# source = "model.skops"  # the trained model before export: lets RPR003 check export parity')
    if task:
        lines.append(f"task = {_toml(task)}  # inferred: {task_why}")
    else:
        lines.append(
            '# task = "binary_classification"  # binary_classification | multiclass_classification | regression'
        )
    if data_rel is not None:
        lines += ["", "[data]"]
        if has_schema:
            lines.append('schema = "schema.yaml"  # inferred from the data sample, then tightened: review it')
        lines.append(f"reference = {_toml(data_rel)}  # the data sample given with --data")
        if target:
            lines.append(f"target = {_toml(target)}  # the label column given with --target")
        else:
            lines.append('# target = "label"  # name the label column to enable the quality checks')
    lines += [
        "",
        "[serving]",
        'config = "serving.yaml"  # derived from the graph: review features, kinds and batching',
        "",
        "# These need a person; the OPS checks report them missing until they are filled in.",
        "# [card]",
        '# owner = "team@example.com"',
        '# intended_use = "..."',
        '# limitations = "..."',
        "# [monitoring]",
        '# owner = "team@example.com"',
        '# alert_metric = "roc_auc"',
        "# drift = { default = 0.1 }",
        "# [lineage]  # how the model was made (RPR005)",
        '# code_version = "3f2a9c1"',
        "# seed = 42",
        '# environment = "requirements.lock"',
        "",
        "[policy]",
        'fail_on = "major"  # the default: a failed blocker or major check blocks the release',
        "# The quality bar is a decision, not a guess: until it is set, QLT001 reports the metric without judging it.",
        "# [policy.thresholds]",
        f"# min_metric = {{ {_primary_metric(task)} = 0.9 }}",
    ]
    return "\n".join(lines) + "\n"


def _source_rel(source: str | os.PathLike[str], root: Path) -> str:
    """`--source` as a path relative to the bundle directory, after checking it can be used there."""
    from .sources import source_kind

    path = Path(source).resolve()
    if not path.is_file():
        raise BundleError(source, "--source", "no such file", "pass the trained model's file (e.g. model.skops)")
    rel = Path(os.path.relpath(path, root))
    if rel.parts and rel.parts[0] == "..":
        raise BundleError(
            source, "--source", f"the source model is outside the bundle directory {root}", "copy it next to the model"
        )
    if source_kind(path) in ("onnx", "unknown"):
        raise BundleError(
            source,
            "--source",
            f"{path.suffix or 'no suffix'} is not a source model format readiness loads",
            "use .skops (scikit-learn), XGBoost .json/.ubj, LightGBM .txt, or .pkl/.joblib (loaded only with --trust)",
        )
    return rel.as_posix()


def _primary_metric(task: str | None) -> str:
    return {"multiclass_classification": "accuracy", "regression": "r2"}.get(task or "", "roc_auc")


def _metadata(model_path: Path) -> dict[str, str]:
    from .contract import load_proto

    proto = load_proto(model_path)
    return {p.key: p.value for p in proto.metadata_props} if proto is not None else {}


# --------------------------------------------------------------------------- the command
def init_bundle(
    model: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    target: str | None = None,
    source: str | os.PathLike[str] | None = None,
    force: bool = False,
    root: str | os.PathLike[str] | None = None,
) -> InitResult:
    """Write readiness.toml, serving.yaml and (with data) schema.yaml next to MODEL.

    The data sample the manifest will name must lie inside the workspace root (ROOT, else the
    model's git work tree, else its directory), as `readiness check` requires. `source` names
    the trained model before export, inside the model's directory; it is recorded as
    `[model].source` (nothing is loaded here)."""
    from .bundle import load_table
    from .workspace import confine, find_root

    workspace_option = root

    model_path = Path(model).resolve()
    if not model_path.is_file():
        raise BundleError(model, None, "no such model file", "pass the path of an .onnx file")
    if model_path.suffix.lower() != ".onnx":
        raise BundleError(model, None, "not an ONNX file", "export the model to ONNX first (e.g. with skl2onnx)")
    if target and data is None:
        raise BundleError(None, "--target", "a target needs a data sample", "pass --data SAMPLE.csv as well")
    root = model_path.parent
    source_rel = _source_rel(source, root) if source is not None else None
    outputs = [root / "readiness.toml", root / "serving.yaml"] + ([root / "schema.yaml"] if data is not None else [])
    if not force:
        for path in outputs:
            if path.exists():
                raise BundleError(path, None, "already exists; readiness init does not overwrite", "pass --force")
    frame = columns = classes = None
    task = None
    task_why = ""
    data_rel = None
    review: list[str] = []
    if data is not None:
        workspace = find_root(model_path.parent, workspace_option)
        confine(
            data,
            base=Path.cwd(),
            root=workspace,
            file=None,
            key="--data",
        )
        data_path = Path(data).resolve()
        if not data_path.is_file():
            raise BundleError(data, "--data", "no such file", "pass a CSV or Parquet sample of the model's inputs")
        frame = load_table(data_path, data_path, "--data")
        if target is not None and target not in frame.columns:
            cols = ", ".join(map(str, frame.columns[:20]))
            raise BundleError(data_path, "--target", f"column {target!r} is not in the data (columns: {cols})", "")
        columns = [str(c) for c in frame.columns if c != target]
        if target is not None:
            task, classes, task_why = infer_task(frame, target)
        data_rel = Path(os.path.relpath(data_path, root)).as_posix()
    serving, serving_review = serving_text(model_path, columns, classes, task=task, frame=frame)
    review += serving_review
    texts = {root / "serving.yaml": serving}
    if frame is not None:
        schema, comments, schema_review = infer_tight_schema(frame, target=target, source=Path(data).name)
        texts[root / "schema.yaml"] = schema_text(schema, comments, Path(data).name, len(frame))
        review += schema_review
    texts[root / "readiness.toml"] = manifest_text(
        model_path,
        data_rel=data_rel,
        target=target,
        task=task,
        task_why=task_why,
        has_schema=frame is not None,
        source_rel=source_rel,
    )
    if not target:
        review.append("no --target: the quality checks are skipped until [data].target names the label")
    if target:
        review.append(
            f"readiness.toml: the quality bar ([policy.thresholds].min_metric, e.g. {_primary_metric(task)}) "
            "is yours to set; until then QLT001 measures without judging"
        )
    review.append("readiness.toml: [card], [monitoring] and [lineage] need a person (OPS001, OPS002, RPR005)")
    if source_rel is not None and Path(source_rel).suffix.lower() in (".pkl", ".pickle", ".joblib"):
        review.append(
            f"{source_rel} is a pickle: RPR003 loads it only with `readiness check --trust` (or save it with skops)"
        )
    from .scorecard import write_atomic

    written = []
    for path, text in texts.items():
        write_atomic(path, text)
        written.append(path)
    return InitResult(written=written, task=task, review=review)


@click.command("init")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), default=None, help="A CSV/Parquet sample of the inputs.")
@click.option("--target", default=None, help="The label column in the data sample.")
@click.option(
    "--source",
    type=click.Path(path_type=Path),
    default=None,
    help="The trained model before export (.skops, XGBoost .json/.ubj, LightGBM .txt), for RPR003's export parity.",
)
@click.option("--force", is_flag=True, help="Overwrite readiness.toml, serving.yaml and schema.yaml if they exist.")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Workspace root the data sample must lie in (default: the model's git work tree, else its directory).",
)
def init_command(
    model: Path, data: Path | None, target: str | None, source: Path | None, force: bool, root: Path | None
) -> None:
    """Write a starter bundle next to MODEL: readiness.toml, serving.yaml and, with --data, schema.yaml.

    Every generated value is commented so you know what to review. Existing files are
    kept unless --force is given.

    \b
    Example:
      readiness init model.onnx --data holdout.csv --target label --source model.skops
      readiness check .
    """
    try:
        result = init_bundle(model, data=data, target=target, source=source, force=force, root=root)
    except BundleError as exc:
        click.echo(f"readiness: error: {clean(exc)}", err=True)
        sys.exit(2)
    for path in result.written:
        click.echo(f"wrote {path}")
    if result.review:
        click.echo("review before relying on it:")
        for line in result.review:
            click.echo(f"  - {clean(line)}")
    click.echo(f"next: readiness check {result.written[0].parent}")
