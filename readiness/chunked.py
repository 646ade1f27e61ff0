"""Quality metrics of reference data of any size, from per-chunk statistics that merge.

When the reference data is larger than the frame kept in memory (`readiness.reference`), every
row is scored chunk by chunk and each chunk only adds to a few counters (`Stats`):

- classification: the confusion counts (accuracy, precision, recall, F1, macro F1: exact), the
  sum and sum of squares of the per-row log loss, and for a binary task the scores' histogram per
  class over 2**18 bins that follow float32 order (ROC AUC and its DeLong variance);
- regression: the sums of the target, the errors and their powers (RMSE, MAE, the target's variance).

Bounds come in closed form where one exists: exact binomial (Clopper-Pearson) for accuracy,
precision and recall; DeLong's variance for ROC AUC, widened by the most the binning can move it
(pairs sharing a bin count one half); the normal bound on a mean for log loss, MAE and the mean
squared error (RMSE). Only F1, macro F1 and R2 have none: they get the seeded bootstrap on the
bounded sample in memory, its half-widths scaled by sqrt(sample / rows) around the exact value.

`Measure` is what the quality checks read: the same questions answered from rows in memory
(`InMemory`, exactly as before) or from merged chunk statistics (`Streamed`).
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import metrics
from .runtime import Predictions

if TYPE_CHECKING:
    from .context import Context

BINS = 1 << 18  # ROC AUC histogram bins: the top 18 bits of a float32's order key (2 MiB per class)
_SHIFT = 32 - 18


# --------------------------------------------------------------------------- per-chunk statistics
@dataclass
class Stats:
    """Counters that one chunk of rows adds to and that merge by addition."""

    task: str
    rows: int = 0
    classes: list[Any] | None = None
    confusion: Counter[tuple[Any, Any]] = field(default_factory=Counter)  # (true, predicted) -> rows
    loss_sum: float = 0.0
    loss_sq: float = 0.0
    has_loss: bool = True
    pos_hist: np.ndarray | None = None  # binary: scores of positive rows, per bin
    neg_hist: np.ndarray | None = None
    sums: np.ndarray = field(default_factory=lambda: np.zeros(6))  # regression: y, y^2, e^2, e^4, |e|, count

    def add(self, y: np.ndarray, pred: Predictions) -> None:
        y = np.asarray(y)
        self.rows += len(y)
        if self.task == "regression":
            yy = y.astype(np.float64)
            err = yy - np.asarray(pred.values, dtype=np.float64).reshape(len(yy))
            e2 = err * err
            self.sums += [yy.sum(), (yy * yy).sum(), e2.sum(), (e2 * e2).sum(), np.abs(err).sum(), len(yy)]
            return
        classes = list(pred.classes) if pred.classes is not None else None
        if self.classes is None:
            self.classes = classes
        labels = metrics._coerce_labels(pred.labels, y)
        self.confusion.update(zip(y.tolist(), labels.tolist(), strict=True))
        if pred.probabilities is None:
            self.has_loss = False
        elif self.has_loss:
            losses = metrics.row_log_loss(y, pred.probabilities, classes or sorted(set(y.tolist())))
            self.loss_sum += float(losses.sum())
            self.loss_sq += float((losses * losses).sum())
        if self.task == "binary_classification":
            known = classes or sorted(set(y.tolist()))
            positive = metrics._positive_label(known)
            score = np.asarray(metrics._ranking_score(pred, known, positive, labels), dtype=np.float64)
            keys = order_bins(score)
            pos = y == positive
            if self.pos_hist is None:
                self.pos_hist = np.zeros(BINS, dtype=np.int64)
                self.neg_hist = np.zeros(BINS, dtype=np.int64)
            self.pos_hist += np.bincount(keys[pos], minlength=BINS)
            self.neg_hist += np.bincount(keys[~pos], minlength=BINS)

    def merge(self, other: Stats) -> None:
        """Add another part's counters to these (the parts' statistics of a whole merge by addition)."""
        self.rows += other.rows
        if self.classes is None:
            self.classes = other.classes
        self.confusion.update(other.confusion)
        self.loss_sum += other.loss_sum
        self.loss_sq += other.loss_sq
        self.has_loss = self.has_loss and other.has_loss
        if other.pos_hist is not None and other.neg_hist is not None:
            if self.pos_hist is None or self.neg_hist is None:
                self.pos_hist, self.neg_hist = other.pos_hist.copy(), other.neg_hist.copy()
            else:
                self.pos_hist += other.pos_hist
                self.neg_hist += other.neg_hist
        self.sums += other.sums

    # ------------------------------------------------------------------ values
    def _labels(self) -> list[Any]:
        classes = self.classes or sorted({t for t, _ in self.confusion})
        return list(classes)

    def value(self, name: str) -> float:
        if name not in metrics.TASK_METRICS.get(self.task, ()):
            raise metrics.UnknownMetric(name, self.task)
        n = self.rows
        if self.task == "regression":
            sy, sy2, se2, _se4, sae, _ = self.sums
            if name == "rmse":
                return math.sqrt(se2 / n)
            if name == "mae":
                return sae / n
            ss_tot = sy2 - sy * sy / n
            return 1 - se2 / ss_tot if ss_tot > 0 else float("nan")
        if name == "accuracy":
            return sum(c for (t, p), c in self.confusion.items() if t == p) / n
        if name == "log_loss":
            if not self.has_loss:
                raise ValueError("log_loss needs probabilities; the model's outputs give none")
            return self.loss_sum / n
        if name == "roc_auc":
            return self.auc()[0]
        if name == "f1_macro":
            present = sorted({t for t, _ in self.confusion} | {p for _, p in self.confusion}, key=str)
            return float(np.mean([self._prf(c)[2] for c in present]))
        precision, recall, f1 = self._prf(metrics._positive_label(self._labels()))
        return {"precision": precision, "recall": recall, "f1": f1}[name]

    def _counts(self, positive: Any) -> tuple[int, int, int]:
        """(true positives, predicted positive, truly positive) for one class."""
        tp = self.confusion.get((positive, positive), 0)
        predicted = sum(c for (_, p), c in self.confusion.items() if p == positive)
        actual = sum(c for (t, _), c in self.confusion.items() if t == positive)
        return tp, predicted, actual

    def _prf(self, positive: Any) -> tuple[float, float, float]:
        tp, predicted, actual = self._counts(positive)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * tp / (actual + predicted) if (actual + predicted) else 0.0
        return precision, recall, f1

    def auc(self) -> tuple[float, float, float]:
        """(ROC AUC, DeLong standard deviation, the most binning can move the AUC) from the histograms."""
        if self.pos_hist is None or self.neg_hist is None:
            return float("nan"), float("nan"), 0.0
        pos, neg = self.pos_hist.astype(np.float64), self.neg_hist.astype(np.float64)
        m, n = pos.sum(), neg.sum()
        if m < 1 or n < 1:
            return float("nan"), float("nan"), 0.0
        neg_below = np.cumsum(neg) - neg
        pos_above = m - np.cumsum(pos)
        v10 = (neg_below + 0.5 * neg) / n  # per positive in a bin: share of negatives it outranks
        v01 = (pos_above + 0.5 * pos) / m  # per negative in a bin: share of positives outranking it
        auc = float((pos * v10).sum() / m)
        if m < 2 or n < 2:
            sd = float("nan")
        else:
            var10 = float((pos * (v10 - auc) ** 2).sum() / (m - 1))
            var01 = float((neg * (v01 - auc) ** 2).sum() / (n - 1))
            sd = math.sqrt(max(var10 / m + var01 / n, 0.0))
        tie = float(0.5 * (pos * neg).sum() / (m * n))
        return auc, sd, tie

    # ------------------------------------------------------------------ closed-form bounds
    def bounds(self, name: str, confidence: float) -> tuple[float | None, float | None, str] | None:
        """One-sided bounds at `confidence` each, and the method; None when no closed form exists."""
        from scipy.special import ndtri

        from .stats import share_interval

        z = float(ndtri(confidence))
        n = self.rows
        if self.task == "regression":
            if name == "r2" or n < 2:
                return None
            _sy, _sy2, se2, se4, sae, _ = self.sums
            if name == "mae":
                mean = sae / n
                sd = math.sqrt(max(se2 / n - mean * mean, 0.0) / n)
                return max(0.0, mean - z * sd), mean + z * sd, "normal bounds on the mean absolute error"
            mse = se2 / n
            sd = math.sqrt(max(se4 / n - mse * mse, 0.0) / n)
            return (
                math.sqrt(max(mse - z * sd, 0.0)),
                math.sqrt(mse + z * sd),
                "normal bounds on the mean squared error, square-rooted",
            )
        if name == "accuracy":
            correct = sum(c for (t, p), c in self.confusion.items() if t == p)
            interval = share_interval(correct, n, confidence)
            return (
                interval.lower,
                interval.upper,
                "exact binomial (Clopper-Pearson) bounds on the share of correct rows",
            )
        if name in ("precision", "recall"):
            tp, predicted, actual = self._counts(metrics._positive_label(self._labels()))
            interval = share_interval(tp, predicted if name == "precision" else actual, confidence)
            return interval.lower, interval.upper, f"exact binomial (Clopper-Pearson) bounds on the {name}"
        if name == "log_loss" and self.has_loss and n >= 2:
            mean = self.loss_sum / n
            sd = math.sqrt(max(self.loss_sq / n - mean * mean, 0.0) / n)
            return max(0.0, mean - z * sd), mean + z * sd, "normal bounds on the mean per-row log loss"
        if name == "roc_auc":
            auc, sd, tie = self.auc()
            if not math.isfinite(sd):
                return None, None, "DeLong variance of the AUC (too few rows of a class)"
            return (
                max(0.0, auc - z * sd - tie),
                min(1.0, auc + z * sd + tie),
                f"DeLong variance from per-chunk score histograms, normal bounds widened by {tie:.2g} "
                "(the most score binning can move the AUC)",
            )
        return None

    # ------------------------------------------------------------------ the trivial predictor
    def trivial(self, name: str) -> float:
        """The metric of the predictor that ignores its input (class prior and majority class; the mean)."""
        n = self.rows
        if self.task == "regression":
            sy, sy2, *_ = self.sums
            var = max(sy2 / n - (sy / n) ** 2, 0.0)
            if name == "rmse":
                return math.sqrt(var)
            if name == "r2":
                return 0.0
            raise KeyError(name)  # mae: needs the mean before the pass; the caller uses the sample
        truth = Counter()
        for (t, _), c in self.confusion.items():
            truth[t] += c
        classes = self._labels()
        prior = np.array([truth.get(c, 0) for c in classes], dtype=np.float64) / n
        majority = classes[int(np.argmax(prior))]
        if name == "accuracy":
            return truth.get(majority, 0) / n
        if name == "roc_auc":
            return 0.5
        if name == "log_loss":
            p = np.clip(prior, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
            p = p / p.sum()
            return float(-sum(truth.get(c, 0) * math.log(p[i]) for i, c in enumerate(classes)) / n)
        if name == "f1_macro":
            present = set(truth) | {majority}
            return float(
                np.mean([2 * truth[majority] / (truth[majority] + n) if c == majority else 0.0 for c in present])
            )
        positive = metrics._positive_label(classes)
        if majority != positive:
            return 0.0
        actual = truth.get(positive, 0)
        return {"precision": actual / n, "recall": 1.0 if actual else 0.0, "f1": 2 * actual / (actual + n)}[name]


def order_bins(score: np.ndarray) -> np.ndarray:
    """Bin numbers that follow the order of the scores as float32 (NaN excluded by the caller)."""
    bits = np.asarray(score, dtype=np.float32).view(np.uint32)
    key = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))
    return (key >> np.uint32(_SHIFT)).astype(np.int64)


# --------------------------------------------------------------------------- what the checks read
class Measure:
    """Metric values and one-sided bounds over the reference rows (or a group of them)."""

    rows: int
    method_note: str = ""

    def value(self, name: str) -> float:
        raise NotImplementedError

    def bounds(
        self, name: str, *, confidence: float, rng: np.random.Generator, n_resamples: int
    ) -> tuple[float | None, float | None, str]:
        raise NotImplementedError

    def trivial(self, name: str) -> float:
        raise NotImplementedError

    def available(self, name: str) -> bool:
        """Whether the outputs carry what metric `name` needs (log_loss needs probabilities)."""
        raise NotImplementedError


class InMemory(Measure):
    """Every row's prediction in memory: the metrics as `readiness.metrics` computes them."""

    def __init__(self, task: str, y: np.ndarray, pred: Predictions) -> None:
        self.task, self.y, self.pred, self.rows = task, np.asarray(y), pred, len(y)

    def value(self, name: str) -> float:
        return metrics.compute(name, self.task, self.y, self.pred)

    def bounds(
        self, name: str, *, confidence: float, rng: np.random.Generator, n_resamples: int
    ) -> tuple[float | None, float | None, str]:
        return metrics.metric_bounds(
            name, self.task, self.y, self.pred, confidence=confidence, rng=rng, n_resamples=n_resamples
        )

    def trivial(self, name: str) -> float:
        trivial = metrics.trivial_predictions(self.task, self.y, self.pred.classes)
        return metrics.compute(name, self.task, self.y, trivial)

    def available(self, name: str) -> bool:
        return metrics.available(name, self.pred)


class Streamed(Measure):
    """Exact values from merged chunk statistics; a bounded sample (`y`, `pred`) for what has no closed form."""

    def __init__(self, stats: Stats, y: np.ndarray, pred: Predictions) -> None:
        self.stats, self.task, self.rows = stats, stats.task, stats.rows
        self.sample = InMemory(stats.task, y, pred)

    def value(self, name: str) -> float:
        return self.stats.value(name)

    def bounds(
        self, name: str, *, confidence: float, rng: np.random.Generator, n_resamples: int
    ) -> tuple[float | None, float | None, str]:
        closed = self.stats.bounds(name, confidence)
        if closed is not None:
            return closed
        m = self.sample.rows
        lo, hi = metrics.bootstrap_ci(
            name,
            self.task,
            self.sample.y,
            self.sample.pred,
            rng=rng,
            n_resamples=n_resamples,
            confidence=max(2 * confidence - 1, 0.01),
        )
        if lo is None or hi is None or m < 2:
            return None, None, "no bound: too few sampled rows for a bootstrap"
        lo, hi = metrics.to_all_rows(
            lo, hi, centre=self.sample.value(name), exact=self.value(name), sample=m, rows=self.rows
        )
        return (
            lo,
            hi,
            f"seeded percentile bootstrap ({n_resamples} resamples) on a sample of {m} of {self.rows} rows, "
            f"half-widths scaled by sqrt({m}/{self.rows}) around the exact value",
        )

    def trivial(self, name: str) -> float:
        try:
            return self.stats.trivial(name)
        except KeyError:
            return self.sample.trivial(name)

    def available(self, name: str) -> bool:
        return self.sample.available(name)


# --------------------------------------------------------------------------- the pass over every row
@dataclass
class Evidence:
    """One model's statistics over every reference row: overall and per slice group."""

    overall: Stats
    groups: dict[tuple[str, str], Stats]
    notes: list[str]
    nonfinite: int = 0
    nonfinite_rows: list[int] = field(default_factory=list)
    scored_by: str = "this process"

    def group(self, col: str, name: str) -> Stats:
        """The statistics of one slice group; past MAX_GROUPS groups of a column, its "<other>" group."""
        if (col, name) not in self.groups and sum(1 for c, _ in self.groups if c == col) >= MAX_GROUPS:
            name = "<other>"
        return self.groups.setdefault((col, name), Stats(self.overall.task))

    def merge(self, other: Evidence) -> None:
        self.overall.merge(other.overall)
        for (col, name), stats in other.groups.items():
            self.group(col, name).merge(stats)
        self.nonfinite += other.nonfinite
        self.nonfinite_rows = (self.nonfinite_rows + other.nonfinite_rows)[:20]


MAX_GROUPS = 1000  # per slice column; rows of further values are counted under "<other>"
RAY_CHUNKS_ENV = "READINESS_RAY_CHUNKS"  # a Ray address: score this run's Parquet files there, in parallel


@dataclass
class _Job:
    """What scoring one part needs besides the model (picklable: it travels to Ray workers)."""

    task: str
    target: str
    features: list[str]
    columns: list[str]
    cutters: dict[str, Callable[[Any], Any]]
    # (host, temporary directory) of the run, which holds that node's machine lock shared already
    holder: tuple[str, str] = ("", "")


def stream(
    ctx: Context,
    task: str,
    *,
    predictor: Context | None = None,
    slices: Sequence[str] = (),
) -> Evidence:
    """Score every reference row chunk by chunk with `predictor` (default: the model of `ctx`) and
    gather `Stats` overall and per group of each column in `slices` (a numeric column with more
    than 20 distinct values is cut at the sample's quartiles).

    Each Parquet file gives its own statistics, merged in file order. When the run may use a Ray
    cluster (`READINESS_RAY_CHUNKS`, set for the bundles of `readiness check --ray`), the files are
    scored there as tasks, in parallel, and merge to the same statistics."""
    model = predictor or ctx
    reference = ctx.reference_data
    target = ctx.bundle.target or ""
    columns = list(dict.fromkeys([*model.feature_columns, *([target] if target else []), *slices]))
    cutters = {col: slice_cutter(ctx.reference[col])[0] for col in slices}
    job = _Job(task, target, list(model.feature_columns), columns, cutters, _node())
    parts = reference.parts()
    ray = _ray_cluster() if len(parts) > 1 and model.bundle.serving is not None else None
    if ray is None:
        with one_pass_at_a_time(ctx):
            results = [_score_part(model, job, reference.part_batches(part, columns)) for part in parts]
        scored_by = "this process"
    else:
        results = _score_on_ray(ray, _portable(model.bundle), job, parts)
        scored_by = f"{len(parts)} Ray tasks, one per Parquet file"
    evidence = Evidence(Stats(task), {}, [], scored_by=scored_by)
    for result in results:
        evidence.merge(result)
    return evidence


@contextlib.contextmanager
def one_pass_at_a_time(ctx: Context) -> Iterator[None]:
    """Hold the run's lock on passes over every reference row: checks running side by side would
    each hold a chunk at once (the passes are mostly Python, so little time is lost). The wait is
    in short steps, so a check stopped by its time limit is interrupted while waiting."""
    import threading

    lock = ctx.memo("context:full_pass_lock", threading.Lock)
    while not lock.acquire(timeout=0.05):
        pass
    try:
        yield
    finally:
        lock.release()


def _score_part(model: Context, job: _Job, batches: Iterator[Any]) -> Evidence:
    from .outputs import nonfinite_rows

    evidence = Evidence(Stats(job.task), {}, [])
    for chunk in batches:
        pred = model.predict(chunk[job.features])
        y = chunk[job.target].to_numpy()
        bad = nonfinite_rows(pred.probabilities, pred.values)
        if bad is not None and bad.any():
            evidence.nonfinite += int(bad.sum())
            if len(evidence.nonfinite_rows) < 20:
                evidence.nonfinite_rows += chunk.index[bad].tolist()[: 20 - len(evidence.nonfinite_rows)]
            continue  # no metric is judged once any row is NaN: the checks fail on the count
        evidence.overall.add(y, pred)
        for col, cut in job.cutters.items():
            keys = cut(chunk[col]).to_numpy()
            for key in np.unique(keys):
                mask = keys == key
                evidence.group(col, str(key)).add(y[mask], pred.take(mask))
    return evidence


def _ray_cluster() -> Any:
    """The `ray` module, connected to the cluster `READINESS_RAY_CHUNKS` names; None when not asked or unavailable."""
    import os

    address = os.environ.get(RAY_CHUNKS_ENV)
    if not address:
        return None
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    return ray


def _portable(bundle: Any) -> Any:
    """The bundle without its data, schema or baseline: what a worker needs to score rows with the model."""
    import dataclasses

    return dataclasses.replace(bundle, reference=None, reference_data=None, baseline=None, schema=None)


def _node() -> tuple[str, str]:
    import socket
    import tempfile

    return socket.gethostname(), tempfile.gettempdir()


def _score_remote(bundle: Any, job: _Job, part: Any) -> Evidence:
    """One Parquet file scored on a Ray worker, holding its node's machine lock shared (never beside timing).

    On the run's own node the run holds that lock already: taking it again could wait behind a
    timing run that waits for the run itself, so there the task goes ahead."""
    from .context import Context
    from .reference import file_batches
    from .runner import machine_lock

    lock = contextlib.nullcontext() if _node() == job.holder else machine_lock(None, shared=True)
    with lock:
        return _score_part(Context(bundle), job, file_batches(part, job.columns))


def _score_on_ray(ray: Any, bundle: Any, job: _Job, parts: Sequence[Any]) -> list[Evidence]:
    """Every part as a Ray task, at most one per CPU of the cluster at a time; results in the parts' order.

    The tasks ask for no CPU of their own: the bundle's task already holds one, and tasks waiting for
    CPUs that bundles hold would never start."""
    task = ray.remote(num_cpus=0, max_retries=0)(_score_remote)
    width = max(1, int(ray.cluster_resources().get("CPU", 1)))
    bundle_ref, job_ref = ray.put(bundle), ray.put(job)
    refs: list[Any] = []
    try:
        for part in parts:
            while len(refs) >= width and len(ray.wait(refs, num_returns=len(refs), timeout=0.5)[1]) >= width:
                pass  # short waits: a check stopped by its time limit is interrupted between them
            refs.append(task.remote(bundle_ref, job_ref, part))
        while ray.wait(refs, num_returns=len(refs), timeout=0.5)[1]:
            pass
        return list(ray.get(refs))
    except BaseException:
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise


def slice_cutter(sample: Any) -> tuple[Callable[[Any], Any], str | None]:
    """How a slice column's values become group keys, decided on the sample in memory."""
    import pandas as pd

    if sample.dtype.kind in "fiu" and sample.nunique(dropna=True) > 20:
        _, edges = pd.qcut(sample, 4, duplicates="drop", retbins=True)
        edges = np.concatenate([[-np.inf], edges[1:-1], [np.inf]])

        def cut(col: Any) -> Any:
            return pd.cut(col, edges).astype(str).where(col.notna(), "<missing>")

        return cut, "binned into quartiles of the sample (more than 20 distinct values)"
    return (lambda col: col.astype(object).where(col.notna(), "<missing>").astype(str)), None


def nonfinite_message(evidence: Evidence, rows: int, whose: str = "the model") -> tuple[str, dict, dict] | None:
    """As `metrics.nonfinite_outputs`, for rows counted while streaming."""
    if not evidence.nonfinite:
        return None
    share = evidence.nonfinite / rows
    message = (
        f"{evidence.nonfinite} of {rows} reference rows ({share:.1%}) get NaN or infinite outputs from {whose}, "
        "so its quality cannot be measured (see SCH004)"
    )
    measured = {"nonfinite_rows": evidence.nonfinite, "nonfinite_share": round(share, 6), "rows": rows}
    return message, measured, {"nonfinite_row_index": evidence.nonfinite_rows}


def reference_evidence(ctx: Context, task: str) -> Evidence:
    """The model's statistics over every reference row, overall and per `[data].slices` group (once per run)."""
    return ctx.memo("context:reference_stream", lambda: stream(ctx, task, slices=ctx.manifest.data.slices))
