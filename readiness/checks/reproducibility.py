"""Reproducibility checks: determinism, batch and thread invariance, export parity, lineage, metrics.

The expensive evidence (repeated runs, fresh sessions, predictions per batch size,
source-model predictions) is computed once per run through `ctx.memo` and shared;
the reference data scored at the serving batch size is `ctx.reference_predictions`,
the same predictions the quality checks read.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import metrics
from ..bundle import sha256_file
from ..context import Context
from ..errors import SkipCheck
from ..placeholders import is_placeholder, model_only
from ..registry import Result, check, errored, failed, inconclusive, passed, skipped
from ..runtime import Predictions
from ..sources import SKOPS_ALLOWED_TYPES
from ..vocabulary import jsonable

CATEGORY = "reproducibility"
SYNTHETIC_ROWS = 64  # RPR001's fixed synthetic batch
MAX_BATCH_ROWS = 512  # RPR002 scores at most this many rows one at a time
OPTIMISATION_ROWS = 2048  # RPR007 scores at most this many rows in its unoptimised session
DEFAULT_PARITY_ATOL = {"binary_classification": 1e-5, "multiclass_classification": 1e-5, "regression": 1e-4}


# --------------------------------------------------------------------------- comparing predictions
def _fields(pred: Predictions) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if pred.probabilities is not None:
        out["probabilities"] = np.asarray(pred.probabilities, dtype=np.float64).reshape(len(pred), -1)
    if pred.values is not None:
        out["values"] = np.asarray(pred.values, dtype=np.float64).reshape(len(pred), -1)
    return out


def _labels(pred: Predictions) -> np.ndarray | None:
    return None if pred.labels is None else np.asarray(pred.labels).astype(str)


def label_margins(pred: Predictions) -> np.ndarray | None:
    """Per row, how far the model's decision is from flipping: the gap between the two largest
    probabilities (one probability column: twice its distance from 0.5), None without probabilities."""
    if pred.probabilities is None:
        return None
    p = np.asarray(pred.probabilities, dtype=np.float64).reshape(len(pred), -1)
    if p.shape[1] == 1:
        return 2 * np.abs(p[:, 0] - 0.5)
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def compare(
    a: Predictions,
    b: Predictions,
    *,
    atol: float,
    rtol: float,
    rows: np.ndarray | None = None,
    by_margin: bool = False,
) -> dict:
    """Row-by-row agreement of two predictions of the same rows (`b` is the reference side).

    Numeric outputs agree when |a - b| <= atol + rtol * |b| (numpy.isclose, NaN equal
    to NaN); labels must be identical, except, with `by_margin`, on rows whose decision
    margin (`label_margins`, on either side) is within twice that tolerance: there the two
    runs may round the tie either way while their probabilities agree. `rows` names the
    rows (default 0..n-1) in the evidence.
    """
    n = len(b)
    if len(a) != n:
        raise ValueError(f"cannot compare {len(a)} predictions with {n}")
    rows = np.arange(n) if rows is None else np.asarray(rows)
    fa, fb = _fields(a), _fields(b)
    bad = np.zeros(n, dtype=bool)
    max_diff, max_row = 0.0, None
    common = [name for name in fb if name in fa]
    la, lb = _labels(a), _labels(b)
    if not common and (la is None or lb is None):
        raise ValueError("the two predictions share no output to compare (probabilities, values or labels)")
    for name in common:
        if fa[name].shape != fb[name].shape:
            raise ValueError(
                f"output {name!r} has shape {fa[name].shape} on one side and {fb[name].shape} on the other"
            )
        x, y = fa[name], fb[name]
        close = np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
        bad |= ~close.all(axis=1)
        with np.errstate(invalid="ignore"):
            diff = np.abs(x - y)
        diff = np.where(np.isnan(x) & np.isnan(y), 0.0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)
        if diff.size and float(diff.max()) > max_diff:
            max_diff = float(diff.max())
            max_row = int(np.unravel_index(int(np.argmax(diff)), diff.shape)[0])
    label_mismatch = np.zeros(n, dtype=bool) if la is None or lb is None else la != lb
    tied = np.zeros(n, dtype=bool)
    if by_margin and label_mismatch.any():
        ma, mb = label_margins(a), label_margins(b)
        if ma is not None and mb is not None:
            pb = np.abs(np.asarray(b.probabilities, dtype=np.float64)).reshape(n, -1).max(axis=1)
            tied = np.minimum(ma, mb) <= 2 * (atol + rtol * pb)
    label_mismatch &= ~tied
    bad |= label_mismatch
    out: dict[str, Any] = {
        "rows_compared": int(n),
        "outputs_compared": common + ([] if la is None or lb is None else ["labels"]),
        "rows_differing": int(bad.sum()),
        "max_abs_diff": max_diff,
        "label_mismatches": int(label_mismatch.sum()),
        "label_agreement": float(1 - label_mismatch.mean()) if n else 1.0,
        "bad_mask": bad,
    }
    if tied.any():
        out["label_ties_excused"] = int(tied.sum())
    if max_row is not None and max_diff > 0:
        out["max_abs_diff_row"] = int(rows[max_row])
    if bad.any():
        first = int(np.argmax(bad))
        out["first_differing_row"] = int(rows[first])
        out["first_differing_values"] = _row_values(a, b, first)
    return out


def _row_values(a: Predictions, b: Predictions, i: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for side, pred in (("got", a), ("expected", b)):
        entry: dict[str, Any] = {}
        for name, arr in _fields(pred).items():
            entry[name] = jsonable(arr[i])
        if pred.labels is not None:
            entry["label"] = jsonable(np.asarray(pred.labels)[i])
        values[side] = entry
    return values


def _public(diff: Mapping[str, Any]) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in diff.items() if k != "bad_mask"}


def _tol(ctx: Context, name: str) -> float:
    value = ctx.threshold(name)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"[policy.thresholds].{name} must be a number, got {value!r}") from None


# --------------------------------------------------------------------------- shared evidence
def base_predictions(ctx: Context) -> Predictions:
    """ctx.sample_frame scored once in the shared session at the serving batch size.

    With reference data this *is* `ctx.reference_predictions` (shared with RPR003/RPR006 and quality checks).
    """
    if ctx.bundle.reference is not None:
        return ctx.reference_predictions
    return ctx.memo("rpr:sample_predictions", lambda: ctx.predict(ctx.sample_frame))


def _synthetic_batch(ctx: Context) -> Any:
    from .. import synth

    rng = ctx.rng("RPR001:synthetic")
    if ctx.bundle.schema is not None:
        return synth.from_schema(ctx.bundle.schema, ctx.feature_columns, SYNTHETIC_ROWS, rng)
    return synth.from_inputs(ctx.inputs, SYNTHETIC_ROWS, rng)


def determinism_evidence(ctx: Context) -> dict[str, Any]:
    """Per data set: the first run, the repeated runs in the same session and one run in a fresh session."""

    def build() -> dict[str, Any]:
        runs = max(2, int(ctx.threshold("determinism_runs", 3)))
        datasets: dict[str, tuple[Any, Predictions | None]] = {
            "reference" if ctx.bundle.reference is not None else "sample": (ctx.sample_frame, base_predictions(ctx))
        }
        notes: list[str] = []
        if ctx.bundle.reference is not None:
            try:
                datasets["synthetic"] = (_synthetic_batch(ctx), None)
            except Exception as exc:  # noqa: BLE001 - the synthetic batch is extra evidence only
                notes.append(f"synthetic batch not built: {type(exc).__name__}: {exc}")
        fresh_session = ctx.new_session()
        out: dict[str, Any] = {"runs": runs, "notes": notes, "datasets": {}}
        for name, (frame, first) in datasets.items():
            try:
                first = first if first is not None else ctx.predict(frame)
                repeats = [ctx.predict(frame) for _ in range(runs - 1)]
                fresh = ctx.predict(frame, session=fresh_session)
            except Exception as exc:  # noqa: BLE001
                if name == "synthetic":
                    notes.append(f"synthetic batch not scored: {type(exc).__name__}: {exc}")
                    continue
                raise
            out["datasets"][name] = {"first": first, "repeats": repeats, "fresh": fresh}
        return out

    return ctx.memo("rpr:determinism", build)


def serving_batch_sizes(ctx: Context) -> list[int]:
    """Batch sizes a server may form, ascending: 1, 2, an odd size, max_batch_size and every SLO batch size.

    GEMM and reduction kernels pick their code path by batch size: an odd size (the
    largest of 7, 5, 3 below the maximum) exercises the remainder loops that powers of
    two never reach.
    """
    top = ctx.max_batch_size
    sizes = {1, 2, top, next((k for k in (7, 5, 3) if k < top), 1)}
    if ctx.serving is not None:
        sizes |= {b.batch_size for b in ctx.serving.slo.latency}
    return sorted(s for s in sizes if s <= top)


def batch_evidence(ctx: Context) -> dict[str, Any]:
    """The first MAX_BATCH_ROWS sample rows scored in every serving batch size, and shuffled."""

    def build() -> dict[str, Any]:
        frame = ctx.sample_frame
        m = min(len(frame), MAX_BATCH_ROWS)
        sub = frame.iloc[:m]
        base = base_predictions(ctx)
        base = base if m == len(frame) else base.take(slice(0, m))
        configs: dict[str, Predictions] = {}
        for size in serving_batch_sizes(ctx):
            if size != ctx.max_batch_size:
                configs[f"batch_size={size}"] = ctx.predict(sub, batch_size=size)
        perm = ctx.rng("RPR002:shuffle").permutation(m)
        shuffled = ctx.predict(sub.iloc[perm])
        configs["shuffled"] = shuffled.take(np.argsort(perm))
        return {"rows": m, "base": base, "configs": configs}

    return ctx.memo("rpr:batches", build)


def thread_counts(ctx: Context) -> tuple[int, int]:
    cores = os.cpu_count() or 1
    return 1, cores if cores > 1 else 2


def thread_evidence(ctx: Context) -> dict[str, Any]:
    """ctx.sample_frame scored with 1 intra-op thread and with one per core."""

    def build() -> dict[str, Any]:
        one, many = thread_counts(ctx)
        serving = ctx.runtime_spec.intra_op_threads if ctx.runtime_spec is not None else 1
        preds: dict[int, Predictions] = {}
        for n in (one, many):
            if n == serving:
                preds[n] = base_predictions(ctx)
            else:
                preds[n] = ctx.predict(ctx.sample_frame, session=ctx.new_session(intra_op_threads=n))
        return {"threads": (one, many), "one": preds[one], "many": preds[many]}

    return ctx.memo("rpr:threads", build)


class SourceError(Exception):
    """The source model exists but cannot be loaded or cannot score the reference data."""


def source_evidence(ctx: Context) -> dict[str, Any]:
    """The source model loaded (safely) and its predictions on the reference data."""
    from .. import source_models as sm
    from ..sources import UnsafeSource

    def build() -> dict[str, Any]:
        path = ctx.bundle.source_path
        try:
            source = sm.load_source(path, trust=ctx.trust)
        except UnsafeSource as exc:
            raise SkipCheck(f"source model not loaded: {exc} (see SEC002)") from None
        except sm.SourceUnavailable as exc:
            raise SkipCheck(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a corrupt file may raise anything
            raise SourceError(f"cannot load the source model {path.name}: {type(exc).__name__}: {exc}") from exc
        frame = ctx.features
        onnx_pred = ctx.reference_predictions
        try:
            pred = sm.predict(source, frame, ctx.task, onnx_pred.classes)
        except sm.SourceUnavailable as exc:
            raise SkipCheck(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - user models may raise anything
            raise SourceError(
                f"the source model {path.name} cannot score the reference data: {type(exc).__name__}: {exc}"
            ) from exc
        near = sm.near_split_rows(source, frame, float(ctx.threshold("parity_threshold_ulps", 4)))
        return {"source": source, "predictions": pred, "near_split": near}

    return ctx.memo("rpr:source", build)


# --------------------------------------------------------------------------- RPR001
@check(
    "RPR001",
    "Deterministic inference",
    category=CATEGORY,
    severity="major",
    requires=["session"],
    mlts=["Infra 1", "Monitor 5"],
    remediation="remove random operators (RandomUniform*, RandomNormal*, Dropout in training mode, Multinomial) "
    "from the exported graph, and export in inference mode (e.g. model.eval() before torch.onnx.export)",
    thresholds={
        "determinism_atol": 0.0,
        "determinism_rtol": 0.0,
        "determinism_runs": 3,
        "session_atol": 1e-5,
        "session_rtol": 1e-4,
    },
)
def deterministic_inference(ctx: Context) -> Result:
    """Identical inputs give identical outputs, within one session and across fresh sessions.

    The reference data (else synthetic rows) and a fixed, seeded synthetic batch are
    scored `determinism_runs` times in one session and once in a new session. The runs
    in one session execute the same kernels on the same rows: they must equal the first
    bitwise (tolerance `determinism_atol`/`determinism_rtol`, default 0). The fresh
    session may pick other kernels: it must agree within `session_atol` + `session_rtol`
    x |value| (1e-5 and 1e-4), with labels equal except on rows whose margin is within
    that tolerance. onnxruntime seeds random operators once per process, so a random
    operator shows up as a difference between repeated runs in one session.
    """
    atol, rtol = _tol(ctx, "determinism_atol"), _tol(ctx, "determinism_rtol")
    session_atol, session_rtol = _tol(ctx, "session_atol"), _tol(ctx, "session_rtol")
    ev = determinism_evidence(ctx)
    measured: dict[str, Any] = {"runs_per_session": ev["runs"], "max_abs_diff": 0.0, "rows_differing": 0}
    problems: list[str] = []
    evidence: dict[str, Any] = {
        "tolerance": {"atol": atol, "rtol": rtol},
        "fresh_session_tolerance": {"atol": session_atol, "rtol": session_rtol},
    }
    if ev["notes"]:
        evidence["notes"] = ev["notes"]
    for name, data in ev["datasets"].items():
        others = [(f"same session, run {i + 2}", p) for i, p in enumerate(data["repeats"])]
        others.append(("fresh session", data["fresh"]))
        for label, pred in others:
            if label == "fresh session":
                diff = compare(pred, data["first"], atol=session_atol, rtol=session_rtol, by_margin=True)
            else:
                diff = compare(pred, data["first"], atol=atol, rtol=rtol)
            measured["max_abs_diff"] = max(measured["max_abs_diff"], diff["max_abs_diff"])
            if diff["rows_differing"]:
                measured["rows_differing"] = max(measured["rows_differing"], diff["rows_differing"])
                problems.append(
                    f"{name} data, {label}: {diff['rows_differing']}/{diff['rows_compared']} rows differ from run 1 "
                    f"(largest difference {diff['max_abs_diff']:.3g}, first at row {diff['first_differing_row']})"
                )
                evidence.setdefault("differences", {})[f"{name}: {label}"] = _public(diff)
    rows = {name: len(data["first"]) for name, data in ev["datasets"].items()}
    measured["rows"] = rows
    if problems:
        return failed("outputs are not deterministic: " + "; ".join(problems[:3]), measured, evidence)
    what = " and ".join(f"{n} {name} rows" for name, n in rows.items())
    return passed(
        f"{what} gave identical outputs in {ev['runs']} runs in one session, and the same within "
        f"{session_atol:g} + {session_rtol:g}x|value| in a fresh session (largest difference "
        f"{measured['max_abs_diff']:.3g})",
        measured,
        evidence,
    )


# --------------------------------------------------------------------------- RPR002
@check(
    "RPR002",
    "Batch invariance",
    category=CATEGORY,
    severity="major",
    requires=["session"],
    mlts=["Monitor 3"],
    remediation="make every row's output depend on that row only: no normalisation, pooling or statistics "
    "over the batch axis (e.g. BatchNormalization exported in training mode)",
    thresholds={"batch_atol": 1e-5, "batch_rtol": 1e-4},
)
def batch_invariance(ctx: Context) -> Result:
    """A row's prediction does not depend on its batch or its position in it.

    Rows (the reference data, else synthetic rows; at most 512) are scored one at a
    time, in every batch size the serving config names (max_batch_size and the SLO's
    sizes), and shuffled, and compared with the same rows scored at max_batch_size.
    Numeric outputs must agree within `batch_atol` + `batch_rtol` x |value| (defaults
    1e-5 and 1e-4: GEMM kernels differ by batch size by a few float32 ulps, and the
    relative part keeps regression outputs in the hundreds to the same standard); labels
    must agree except on rows whose margin (top-2 probability gap, or distance from 0.5)
    is within that tolerance. Any row beyond it fails: a batch-dependent model (batch
    statistics, pooling over the batch axis) differs far beyond float32 noise. Without
    reference data or a schema, the rows are drawn on the scales the graph states
    (Scaler, tree thresholds, encoder categories); where it states none, the difference
    is reported without a verdict.
    """
    if ctx.max_batch_size <= 1:
        where = "the serving config's" if ctx.serving is not None else "without [serving].config the"
        return skipped(f"{where} max_batch_size is 1: rows are always scored alone")
    atol, rtol = _tol(ctx, "batch_atol"), _tol(ctx, "batch_rtol")
    from .. import synth

    unscaled = synth.unscaled_columns(ctx, _float_columns(ctx))
    ev = batch_evidence(ctx)
    measured: dict[str, Any] = {"rows": ev["rows"], "max_abs_diff": 0.0, "configurations": {}}
    evidence: dict[str, Any] = {"tolerance": {"atol": atol, "rtol": rtol}, "reference_batch_size": ctx.max_batch_size}
    problems: list[str] = []
    for name, pred in ev["configs"].items():
        diff = compare(pred, ev["base"], atol=atol, rtol=rtol, by_margin=True)
        measured["max_abs_diff"] = max(measured["max_abs_diff"], diff["max_abs_diff"])
        measured["configurations"][name] = {
            "max_abs_diff": diff["max_abs_diff"],
            "rows_differing": diff["rows_differing"],
            "label_mismatches": diff["label_mismatches"],
        }
        if diff["rows_differing"]:
            problems.append(
                f"{name}: {diff['rows_differing']}/{diff['rows_compared']} rows differ "
                f"(largest difference {diff['max_abs_diff']:.3g}, {diff['label_mismatches']} label changes, "
                f"first at row {diff['first_differing_row']})"
            )
            evidence.setdefault("differences", {})[name] = _public(diff)
    if unscaled:
        evidence["unscaled_columns"] = unscaled[:50]
        found = "; ".join(problems) if problems else f"largest difference {measured['max_abs_diff']:.3g}"
        return skipped(
            f"measured only: {found}; the rows were synthesised and the graph states no scale for "
            f"{len(unscaled)} input column(s) (e.g. {unscaled[0]}), so they may be values no request carries: "
            "add reference data or a schema with bounds",
            measured,
            evidence,
        )
    if problems:
        return failed(
            f"predictions depend on the batch (compared with batch_size={ctx.max_batch_size}): " + "; ".join(problems),
            measured,
            evidence,
        )
    return passed(
        f"{ev['rows']} rows get the same predictions in {', '.join(ev['configs'])} batches as in batches of "
        f"{ctx.max_batch_size} (largest difference {measured['max_abs_diff']:.3g})",
        measured,
        evidence,
    )


def _float_columns(ctx: Context) -> list[str]:
    """The request columns fed to float inputs (the ones whose scale decides what values are realistic)."""
    from ..scales import column_names

    return [c for spec in ctx.inputs if spec.dtype.startswith("float") for c in column_names(spec)]


# --------------------------------------------------------------------------- RPR003
def _align_classes(onnx_pred: Predictions, src_pred: Predictions) -> Predictions:
    """The source's probabilities with columns in the ONNX model's class order."""
    if src_pred.probabilities is None or onnx_pred.probabilities is None:
        return src_pred
    onnx_classes = [str(c) for c in (onnx_pred.classes or [])]
    src_classes = [str(c) for c in (src_pred.classes or [])]
    if sorted(onnx_classes) != sorted(src_classes):
        raise ValueError(f"classes differ: ONNX {onnx_pred.classes} vs source {src_pred.classes}")
    order = [src_classes.index(c) for c in onnx_classes]
    return Predictions(
        raw={}, probabilities=src_pred.probabilities[:, order], labels=src_pred.labels, classes=onnx_pred.classes
    )


def _parity_atol(ctx: Context, task: str | None, has_probabilities: bool) -> float:
    value = ctx.threshold("parity_atol")
    if isinstance(value, Mapping):
        if task is None:  # undeclared and not inferable: judge by the kind of output
            task = "binary_classification" if has_probabilities else "regression"
        if task not in value:
            raise ValueError(f"[policy.thresholds].parity_atol has no entry for task {task!r}")
        value = value[task]
    return float(value)


def _excused(
    onnx_pred: Predictions, src_pred: Predictions, bad: np.ndarray, near: np.ndarray | None, atol: float, rtol: float
) -> np.ndarray:
    """Differing rows explained by float32 split thresholds (`near`) or by a tie between the top two classes."""
    excused = np.zeros(len(bad), dtype=bool)
    if near is not None:
        excused |= bad & near
    if (
        src_pred.probabilities is not None
        and onnx_pred.probabilities is not None
        and src_pred.probabilities.shape == onnx_pred.probabilities.shape
        and src_pred.probabilities.shape[1] > 1
    ):
        top2 = np.sort(src_pred.probabilities, axis=1)[:, -2:]
        tie = (top2[:, 1] - top2[:, 0]) <= 2 * atol
        numeric_ok = np.isclose(onnx_pred.probabilities, src_pred.probabilities, rtol=rtol, atol=atol).all(axis=1)
        excused |= bad & tie & numeric_ok
    return excused


def probe_evidence(ctx: Context, atol: float, rtol: float) -> list[dict[str, Any]]:
    """RPR003's probe families scored by both models and compared, family by family (bounded, seeded)."""
    from .. import fuzz
    from .. import source_models as sm
    from . import _parity_probes as probes

    def build() -> list[dict[str, Any]]:
        ev = source_evidence(ctx)
        source = ev["source"]
        doms, _ = fuzz.domains(ctx)
        families = probes.build(
            ctx,
            doms,
            probes.tree_splits(ctx),
            max_rows=int(ctx.threshold("parity_probe_rows")),
            rng=ctx.rng("RPR003:probes"),
        )
        rounded = probes.rounded_up_thresholds(source, ctx.feature_columns)
        ulps = float(ctx.threshold("parity_threshold_ulps"))
        deadline = time.monotonic() + float(ctx.threshold("parity_probe_seconds"))
        out: list[dict[str, Any]] = []
        for family in families:
            entry: dict[str, Any] = {"family": family.name, "rows": len(family.rows)}
            if family.note:
                entry["note"] = family.note
            out.append(entry)
            if not family.rows:
                entry["compared"] = False
                continue
            if time.monotonic() > deadline:
                entry.update(compared=False, note="not compared: parity_probe_seconds was reached")
                continue
            frame = fuzz.request_frame(ctx, family.rows)
            try:
                onnx_pred = ctx.predict(frame)
            except Exception as exc:  # noqa: BLE001 - judged below: does the source model score these rows?
                entry.update(_refused_by_onnx(ctx, source, family, frame, exc))
                continue
            try:
                src_pred = _align_classes(onnx_pred, sm.predict(source, frame, ctx.task, onnx_pred.classes))
            except Exception as exc:  # noqa: BLE001 - the source model refusing them is not a parity question
                entry.update(compared=False, note=f"the source model refuses these rows ({_first(exc)})")
                continue
            diff = compare(onnx_pred, src_pred, atol=atol, rtol=rtol)
            bad = diff["bad_mask"]
            lgb_near = probes.lightgbm_near_rows(source, frame, ulps)
            if lgb_near is not None:  # LightGBM: float64 thresholds, a band of float32 ulps around each
                near = lgb_near
            elif family.name == "split thresholds":
                near = probes.explained_by_rounding(family, rounded)
            else:
                near = sm.near_split_rows(source, frame, ulps)
            unexcused = bad & ~_excused(onnx_pred, src_pred, bad, near, atol, rtol)
            entry.update(
                compared=True,
                rows_differing=int(unexcused.sum()),
                rows_excused=int((bad & ~unexcused).sum()),
                max_abs_diff=diff["max_abs_diff"],
                label_agreement=diff["label_agreement"],
            )
            if unexcused.any():
                i = int(np.argmax(unexcused))
                column, value = family.probes[i]
                entry["first_differing"] = {
                    "column": column,
                    "value": value,
                    "values": _row_values(onnx_pred, src_pred, i),
                    "reproduce": fuzz.reproduce_command(ctx, frame.iloc[[i]]),
                }
        return out

    return ctx.memo(("rpr:probes", atol, rtol), build)


def _refused_by_onnx(ctx: Context, source: Any, family: Any, frame: Any, exc: BaseException) -> dict[str, Any]:
    """The ONNX model refused a probe batch: rows the source model scores but ONNX refuses are differences."""
    from .. import fuzz
    from .. import source_models as sm

    refused: list[int] = []
    for i in range(min(len(frame), 50)):
        row = frame.iloc[[i]]
        try:
            ctx.predict(row)
        except Exception:  # noqa: BLE001 - the refusal is what is being counted
            try:
                sm.predict(source, row, ctx.task)
            except Exception:  # noqa: BLE001 - both refuse: a shared contract, not a parity question
                continue
            refused.append(i)
    if not refused:
        return {"compared": False, "note": f"the ONNX and the source model both refuse these rows ({_first(exc)})"}
    i = refused[0]
    column, value = family.probes[i]
    return {
        "compared": True,
        "rows_differing": len(refused),
        "rows_excused": 0,
        "max_abs_diff": float("inf"),
        "label_agreement": 0.0,
        "first_differing": {
            "column": column,
            "value": value,
            "values": {"got": f"refused: {_first(exc)}", "expected": "scored by the source model"},
            "reproduce": fuzz.reproduce_command(ctx, frame.iloc[[i]]),
        },
        "note": "the ONNX model refuses rows the source model scores",
    }


def _first(exc: BaseException, limit: int = 200) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


@check(
    "RPR003",
    "Export parity with the source model",
    category=CATEGORY,
    severity="major",
    requires=["session", "reference", "source"],
    mlts=["Infra 3", "Monitor 3"],
    remediation="re-export the ONNX model from the exact source model that was evaluated (same fit, same "
    "preprocessing, same class order), and check the converter's options (e.g. skl2onnx zipmap, dtypes)",
    thresholds={
        "parity_atol": dict(DEFAULT_PARITY_ATOL),
        "parity_rtol": 1e-5,
        "parity_threshold_ulps": 4,
        "parity_max_near_split_share": 0.05,
        "parity_confidence": 0.95,
        "parity_probe_rows": 1000,
        "parity_probe_seconds": 10.0,
    },
)
def export_parity(ctx: Context) -> Result:
    """The source model ([model].source) and the ONNX model agree on the reference data.

    Compares probabilities (classification) or values (regression): max absolute
    difference, within `parity_atol` (per task: 1e-5 for probabilities, 1e-4 for
    regression) + `parity_rtol` (1e-5) x |value|, and label agreement (must be 1 on
    rows not excused below). ONNX tree ensembles compare float32 inputs with float32
    thresholds while scikit-learn keeps float64 thresholds: a row whose tree input lies
    within `parity_threshold_ulps` (4) float32 ulps of a split threshold may take the
    other branch. Such rows are reported, not failed, unless they exceed
    `parity_max_near_split_share` (5%) of the rows. A label that differs only because
    the source's top two probabilities tie within `parity_atol` is excused the same way.
    When rows are excused, their share is judged on exact (Clopper-Pearson) bounds at
    `parity_confidence` (95%), the reference rows standing for the traffic: fail when the
    lower bound exceeds the limit; `inconclusive` when the measured share exceeds it but
    its lower bound does not (more reference rows decide); otherwise pass. An excused row
    is right within float32 precision, so only a share confidently or apparently above
    the limit is a finding, and a handful of such rows in a small reference set is not.
    """
    try:
        ev = source_evidence(ctx)
    except SourceError as exc:
        return errored(str(exc))
    source = ev["source"]
    task = ctx.task
    onnx_pred = ctx.reference_predictions
    try:
        src_pred = _align_classes(onnx_pred, ev["predictions"])
    except ValueError as exc:
        return failed(f"{source.path.name} and the ONNX model disagree: {exc}", evidence={"source": source.description})
    atol, rtol = _parity_atol(ctx, task, onnx_pred.probabilities is not None), _tol(ctx, "parity_rtol")
    diff = compare(onnx_pred, src_pred, atol=atol, rtol=rtol)
    bad = diff["bad_mask"]
    near = ev["near_split"]
    excused = _excused(onnx_pred, src_pred, bad, near, atol, rtol)
    unexcused = bad & ~excused
    clean = ~excused  # rows whose difference is judged
    judged_diff = 0.0
    fo, fs = _fields(onnx_pred), _fields(src_pred)
    for name in (k for k in fs if k in fo):
        if clean.any():
            judged_diff = max(judged_diff, float(np.nanmax(np.abs(fo[name][clean] - fs[name][clean]))))
    max_share = float(ctx.threshold("parity_max_near_split_share"))
    n = len(bad)
    measured = {
        "rows": n,
        "max_abs_diff": diff["max_abs_diff"],
        "max_abs_diff_excluding_excused": judged_diff,
        "label_agreement": diff["label_agreement"],
        "rows_differing": diff["rows_differing"],
        "rows_excused": int(excused.sum()),
    }
    evidence: dict[str, Any] = {
        "source": source.description,
        "skops_allowed_types": sorted(SKOPS_ALLOWED_TYPES),
        "tolerance": {"atol": atol, "rtol": rtol, "task": task},
        "comparison": _public(diff),
    }
    if near is None:
        evidence["near_split_analysis"] = "not applicable (not a scikit-learn tree model)"
    else:
        evidence["rows_near_split_threshold"] = int(near.sum())
    if excused.any():
        evidence["excused_rows"] = [int(i) for i in np.flatnonzero(excused)[:50]]
    failures: list[str] = []
    if unexcused.any():
        first = int(np.argmax(unexcused))
        evidence["first_unexcused_row"] = first
        evidence["first_unexcused_values"] = _row_values(onnx_pred, src_pred, first)
        failures.append(
            f"the ONNX model differs from {source.path.name} on {int(unexcused.sum())}/{n} reference rows "
            f"(largest difference {diff['max_abs_diff']:.3g} > tolerance {atol:g} + {rtol:g}x|value|; "
            f"label agreement {diff['label_agreement']:.4f}; first at row {first})"
        )
    undecided = ""
    if excused.any():
        from ..stats import judge_share, share_interval

        confidence = float(ctx.threshold("parity_confidence"))
        share = share_interval(int(excused.sum()), n, confidence)
        measured["excused_share"] = round(share.point, 6)
        measured["excused_share_lower"] = round(share.lower, 6)
        measured["excused_share_upper"] = round(share.upper, 6)
        verdict = judge_share(share, max_share)
        if verdict == "undecided" and share.point <= max_share:
            verdict = "pass"  # excused rows are right within float32 precision: only an excess is a finding
        what = (
            f"{int(excused.sum())}/{n} reference rows differ only near float32 split thresholds or label ties "
            f"({confidence:.0%} exact bounds on their share {share.lower:.1%}-{share.upper:.1%}; "
            f"parity_max_near_split_share {max_share:g})"
        )
        if verdict == "fail":
            failures.append(f"{what}: more than the limit")
        elif verdict == "undecided":
            undecided = (
                f"{what}: the reference data is too small to tell whether the share is within the limit "
                "(add reference rows)"
            )
    probes = probe_evidence(ctx, atol, rtol)
    evidence["probe_families"] = probes
    measured["probe_families"] = {
        e["family"]: {k: e[k] for k in ("rows", "rows_differing", "max_abs_diff", "label_agreement") if k in e}
        for e in probes
        if e.get("compared")
    }
    for e in probes:
        if e.get("rows_differing"):
            first = e["first_differing"]
            failures.append(
                f"{e['family']}: {e['rows_differing']}/{e['rows']} probe rows differ (largest difference "
                f"{e['max_abs_diff']:.3g}, label agreement {e['label_agreement']:.4f}; first with "
                f"{first['column']} = {first['value']!r})"
            )
    if failures:
        return failed("; ".join(failures), measured, evidence)
    if undecided:
        return inconclusive(undecided, measured, evidence)
    note = ""
    if excused.any():
        note = (
            f"; {int(excused.sum())} row(s) near a float32 split threshold or a label tie excused "
            f"(rows {evidence['excused_rows'][:10]})"
        )
    compared = [e for e in probes if e.get("compared")]
    probe_note = (
        f"; {sum(e['rows'] for e in compared)} probe rows in {len(compared)} families "
        f"({', '.join(e['family'] for e in compared)}) agree too"
        if compared
        else "; no probe family applied"
    )
    return passed(
        f"ONNX model matches {source.path.name} on {n} reference rows: largest difference "
        f"{judged_diff:.3g} (tolerance {atol:g} + {rtol:g}x|value|), label agreement "
        f"{diff['label_agreement']:.4f}{note}{probe_note}; source: {source.description}",
        measured,
        evidence,
    )


# --------------------------------------------------------------------------- RPR007
def optimisation_evidence(ctx: Context) -> dict[str, Any]:
    """The rows RPR002 scores, at the serving config's optimisation level and provider, and unoptimised on the CPU."""
    from ..config import RuntimeSpec

    def build() -> dict[str, Any]:
        served = ctx.runtime_spec or RuntimeSpec()
        plain = served.model_copy(update={"graph_optimization_level": "disable", "providers": ["CPUExecutionProvider"]})
        out: dict[str, Any] = {
            "served": {
                "graph_optimization_level": served.graph_optimization_level,
                "providers": list(served.providers),
            },
            "reference": {"graph_optimization_level": "disable", "providers": ["CPUExecutionProvider"]},
        }
        if out["served"] == out["reference"]:
            return out
        frame = ctx.sample_frame
        m = min(len(frame), OPTIMISATION_ROWS)
        base = base_predictions(ctx)
        out["optimised"] = base if m == len(frame) else base.take(slice(0, m))
        out["plain"] = ctx.predict(frame.iloc[:m], session=ctx.new_session(runtime=plain))
        return out

    return ctx.memo("rpr:optimisation", build)


@check(
    "RPR007",
    "Graph optimisations and the execution provider do not change outputs",
    category=CATEGORY,
    severity="major",
    requires=["session"],
    mlts=["Infra 1", "Infra 3"],
    remediation="find the fused pattern (onnxruntime `optimized_model_filepath` shows the optimised graph; "
    "Conv/MatMul+BatchNormalization with a tiny variance is a classic) and fold or rescale it at export, or serve "
    "with runtime.graph_optimization_level: basic or disable",
    thresholds={"optimization_atol": 1e-5, "optimization_rtol": 1e-4},
)
def optimisation_parity(ctx: Context) -> Result:
    """Outputs at the serving config's optimisation level and provider match an unoptimised CPU session.

    onnxruntime rewrites the graph before it runs it (constant folding, Conv/MatMul +
    BatchNormalization fusion, layout changes) and each execution provider has its own
    kernels; a rewrite that is exact in real numbers can lose float32 precision (fusing
    a BatchNormalization with a tiny variance turns a small difference of large numbers
    into a large one). The first 2,048 reference rows (else synthetic rows) are scored both ways;
    numbers must agree within `optimization_atol` (1e-5) + `optimization_rtol` (1e-4)
    x |value|, and labels must agree except where the top two classes tie within the
    tolerance.
    """
    atol, rtol = _tol(ctx, "optimization_atol"), _tol(ctx, "optimization_rtol")
    ev = optimisation_evidence(ctx)
    served = ev["served"]
    shown = f"graph_optimization_level {served['graph_optimization_level']!r} on {', '.join(served['providers'])}"
    measured: dict[str, Any] = {"served": served, "reference": ev["reference"]}
    if "optimised" not in ev:
        return passed(f"nothing to compare: the serving config runs unoptimised on the CPU ({shown})", measured)
    optimised, plain = ev["optimised"], ev["plain"]
    diff = compare(optimised, plain, atol=atol, rtol=rtol)
    bad = diff["bad_mask"]
    unexcused = bad & ~_excused(optimised, plain, bad, None, atol, rtol)
    measured.update(
        rows=diff["rows_compared"],
        max_abs_diff=diff["max_abs_diff"],
        rows_differing=int(unexcused.sum()),
        label_mismatches=diff["label_mismatches"],
    )
    evidence = {"tolerance": {"atol": atol, "rtol": rtol}, "comparison": _public(diff)}
    if unexcused.any():
        first = int(np.argmax(unexcused))
        evidence["first_differing_row"] = first
        evidence["first_differing_values"] = _row_values(optimised, plain, first)
        return failed(
            f"{shown} changes the outputs of {int(unexcused.sum())}/{diff['rows_compared']} rows against an "
            f"unoptimised CPU session (largest difference {diff['max_abs_diff']:.3g} > {atol:g} + {rtol:g}x|value|, "
            f"{diff['label_mismatches']} label changes, first at row {first})",
            measured,
            evidence,
        )
    return passed(
        f"{shown} and an unoptimised CPU session agree on {diff['rows_compared']} rows "
        f"(largest difference {diff['max_abs_diff']:.3g})",
        measured,
        evidence,
    )


# --------------------------------------------------------------------------- RPR004
@check(
    "RPR004",
    "Thread invariance",
    category=CATEGORY,
    severity="minor",
    requires=["session"],
    mlts=["Infra 1", "Monitor 5"],
    remediation="pin intra_op_threads in the serving config, or accept the difference by raising "
    "thread_atol; float reductions split across threads sum in a different order",
    thresholds={"thread_atol": 1e-5, "thread_rtol": 1e-4},
)
def thread_invariance(ctx: Context) -> Result:
    """1 intra-op thread and one per core give the same outputs within tolerance.

    The reference data (else synthetic rows) is scored in a session with one
    intra-op thread and in one with as many threads as the machine has cores (at
    least 2). Numeric outputs must agree within `thread_atol` + `thread_rtol` x |value|
    (defaults 1e-5 and 1e-4: parallel float reductions reorder sums; onnxruntime's
    deterministic compute does not remove that); labels must agree except on rows whose
    margin (top-2 probability gap, or distance from 0.5) is within that tolerance.
    """
    atol, rtol = _tol(ctx, "thread_atol"), _tol(ctx, "thread_rtol")
    ev = thread_evidence(ctx)
    return judge_threads(ev, atol, rtol)


def judge_threads(ev: Mapping[str, Any], atol: float, rtol: float) -> Result:
    """RPR004's verdict on evidence {"threads": (1, N), "one": Predictions, "many": Predictions}."""
    one, many = ev["threads"]
    diff = compare(ev["many"], ev["one"], atol=atol, rtol=rtol, by_margin=True)
    measured = {
        "threads": [one, many],
        "rows": diff["rows_compared"],
        "max_abs_diff": diff["max_abs_diff"],
        "rows_differing": diff["rows_differing"],
        "label_mismatches": diff["label_mismatches"],
    }
    evidence = {"tolerance": {"atol": atol, "rtol": rtol}, "comparison": _public(diff)}
    if diff["rows_differing"]:
        return failed(
            f"{many} threads and {one} thread disagree on {diff['rows_differing']}/{diff['rows_compared']} rows "
            f"(largest difference {diff['max_abs_diff']:.3g} > {atol:g} + {rtol:g}x|value|, "
            f"{diff['label_mismatches']} label changes, first at row {diff['first_differing_row']})",
            measured,
            evidence,
        )
    return passed(
        f"{one} and {many} intra-op threads agree on {diff['rows_compared']} rows "
        f"(largest difference {diff['max_abs_diff']:.3g})",
        measured,
        evidence,
    )


# --------------------------------------------------------------------------- RPR005
_SHA256 = re.compile(r"^sha256:([0-9a-fA-F]{64})$")
_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")


def _is_path(text: str) -> bool:
    """A lock file's path (no spaces; a directory part or a file suffix), as opposed to free text."""
    return not re.search(r"\s", text) and ("/" in text or bool(_SUFFIX.search(text)))


@check(
    "RPR005",
    "Lineage recorded",
    category=CATEGORY,
    severity="minor",
    mlts=["Infra 1", "Monitor 1"],
    remediation="record how the model was made in [lineage]: code_version (e.g. the git commit), "
    'data_fingerprint ("sha256:" + hash of the training data), seed, environment (a lock file such as '
    "requirements.lock) and, to let it be verified, training_data",
)
def lineage_recorded(ctx: Context) -> Result:
    """[lineage] records code version, data fingerprint, seed and environment lock, and they check out.

    `environment` is a lock file's path (it must exist in the bundle) or a free-text
    description (anything with a space in it). `data_fingerprint` is verified when it is
    `sha256:<hex>` and `[lineage].training_data` names a file; a fingerprint equal to
    the reference data file's hash is reported as such. Placeholders (`"..."`, `"TODO"`,
    `"TBD"`, `"sha256:..."`, empty strings) count as missing; a model-only run skips.
    """
    lineage = ctx.manifest.lineage
    root = ctx.bundle.root
    measured: dict[str, Any] = {}
    evidence: dict[str, Any] = {}
    problems: list[str] = []
    notes: list[str] = []
    if model_only(ctx):
        raise SkipCheck(
            "model-only run: no manifest, so no [lineage] (code_version, data_fingerprint, seed, environment) to judge"
        )
    missing = [
        key
        for key in ("code_version", "data_fingerprint", "seed", "environment")
        if is_placeholder(getattr(lineage, key))
    ]
    if missing:
        problems.append(f"[lineage] lacks {', '.join(missing)}")
    measured["recorded"] = [k for k in ("code_version", "data_fingerprint", "seed", "environment") if k not in missing]

    env = None if is_placeholder(lineage.environment) else lineage.environment
    if env and _is_path(env.strip()):
        path = root / env.strip()
        if path.is_file():
            evidence["environment_lock"] = {"path": env, "sha256": sha256_file(path)}
        else:
            problems.append(f"[lineage].environment names lock file {env!r}, which does not exist in the bundle")
    elif env:
        notes.append("environment is a free-text description, not a lock file")

    fingerprint = "" if is_placeholder(lineage.data_fingerprint) else lineage.data_fingerprint.strip()
    match = _SHA256.match(fingerprint)
    if fingerprint.lower().startswith("sha256:") and not match:
        problems.append(f"[lineage].data_fingerprint {fingerprint!r} is not 'sha256:' followed by 64 hex digits")
    if match:
        claimed = match.group(1).lower()
        if lineage.training_data:
            data_path = root / lineage.training_data
            actual = sha256_file(data_path)
            evidence["training_data"] = {"path": lineage.training_data, "sha256": actual}
            measured["fingerprint_verified"] = actual == claimed
            if actual != claimed:
                problems.append(
                    f"[lineage].data_fingerprint does not match {lineage.training_data} "
                    f"(recorded sha256:{claimed[:12]}..., file has sha256:{actual[:12]}...)"
                )
        elif ctx.bundle.reference_path is not None and sha256_file(ctx.bundle.reference_path) == claimed:
            measured["fingerprint_verified"] = True
            notes.append(f"data_fingerprint is the sha256 of the reference data {ctx.bundle.reference_path.name}")
        else:
            measured["fingerprint_verified"] = False
            notes.append("data_fingerprint not verified: set [lineage].training_data to the fingerprinted file")
    elif fingerprint:
        measured["fingerprint_verified"] = False
        notes.append("data_fingerprint is not a sha256, so it cannot be verified")
    if notes:
        evidence["notes"] = notes
    if problems:
        return failed("; ".join(problems), measured, evidence)
    return passed(
        f"code {lineage.code_version}, seed {lineage.seed}, environment {lineage.environment}"
        + ("; " + "; ".join(notes) if notes else "; data fingerprint verified"),
        measured,
        evidence,
    )


# --------------------------------------------------------------------------- RPR006
@check(
    "RPR006",
    "Claimed training metrics reproduce",
    category=CATEGORY,
    severity="major",
    requires=["session", "reference", "target"],
    mlts=["Infra 1", "Infra 4"],
    remediation="re-measure the metrics on the bundle's reference data with the exported model and record those "
    "in [lineage].training_metrics, or find out why the exported model scores differently",
    thresholds={"metric_atol": 0.005, "metric_rtol": 0.005},
)
def metrics_reproduce(ctx: Context) -> Result:
    """Every [lineage].training_metrics claim reproduces on the reference data within tolerance.

    Each claimed metric is recomputed with the ONNX model's predictions on the
    reference data and must lie within `metric_atol` (0.005) + `metric_rtol` (0.005) x
    |claim| of the claim, in either direction. Known names: accuracy, roc_auc, f1,
    precision, recall, log_loss (binary); accuracy, f1_macro, log_loss (multiclass);
    r2, rmse, mae (regression).
    """
    claims = dict(ctx.manifest.lineage.training_metrics)
    if not claims:
        return skipped("not applicable: no [lineage].training_metrics claimed")
    task = ctx.task
    if task is None:
        return inconclusive("the task is unknown, so the metrics cannot be computed: set [model].task")
    known = metrics.TASK_METRICS[task]
    unknown = [name for name in claims if name not in known]
    if unknown:
        return errored(
            f"unknown metric name(s) in [lineage].training_metrics for {task}: {', '.join(unknown)}; "
            f"known: {', '.join(known)}"
        )
    atol, rtol = _tol(ctx, "metric_atol"), _tol(ctx, "metric_rtol")
    pred = ctx.reference_predictions
    if (nan := metrics.nonfinite_outputs(pred)) is not None:
        return failed(*nan)
    y = ctx.y_true
    measured: dict[str, Any] = {}
    problems: list[str] = []
    for name, claim in claims.items():
        value = metrics.compute(name, task, y, pred)
        allowed = atol + rtol * abs(claim)
        measured[name] = {"claimed": claim, "measured": value, "diff": value - claim, "allowed": allowed}
        if not np.isfinite(value) or abs(value - claim) > allowed:
            problems.append(f"{name} claimed {claim:.4g}, measured {value:.4g} (allowed ±{allowed:.3g})")
    evidence = {"rows": len(y), "tolerance": {"atol": atol, "rtol": rtol}}
    if problems:
        return failed(
            "claimed metrics do not reproduce on the reference data: " + "; ".join(problems), measured, evidence
        )
    shown = ", ".join(f"{n} {m['measured']:.4g} (claimed {m['claimed']:.4g})" for n, m in measured.items())
    return passed(f"claimed metrics reproduce on {len(y)} reference rows: {shown}", measured, evidence)
