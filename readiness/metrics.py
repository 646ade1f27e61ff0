"""Model quality metrics for the three tasks, in numpy/scipy (no scikit-learn at run time).

Each metric has a direction: `HIGHER_IS_BETTER[name]` is True when larger is better.
Values agree with scikit-learn's to 1e-9 (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import OutputMismatch
from .runtime import Predictions

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss"),
    "multiclass_classification": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("r2", "rmse", "mae"),
}
PRIMARY: dict[str, str] = {
    "binary_classification": "roc_auc",
    "multiclass_classification": "accuracy",
    "regression": "r2",
}
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True, "accuracy": True, "f1": True, "precision": True, "recall": True,
    "f1_macro": True, "log_loss": False, "r2": True, "rmse": False, "mae": False,
}  # fmt: skip
KNOWN = tuple(HIGHER_IS_BETTER)


class UnknownMetric(ValueError):
    def __init__(self, name: str, task: str | None = None):
        known = TASK_METRICS.get(task or "", KNOWN)
        super().__init__(f"unknown metric {name!r}" + (f" for {task}" if task else "") + f"; known: {', '.join(known)}")


def _positive_label(classes: Sequence[Any] | None) -> Any:
    return classes[-1] if classes else 1


def rankdata(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank, as `scipy.stats.rankdata` gives them (all NaN
    when any value is NaN), without importing scipy.stats (half a second and 50 MB at start-up)."""
    values = np.asarray(values).ravel()
    if values.dtype.kind == "f" and np.isnan(values).any():
        return np.full(values.shape, np.nan)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(y_true: np.ndarray, score: np.ndarray, positive: Any = 1) -> float:
    pos = np.asarray(y_true) == positive
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _prf(y_true: np.ndarray, y_pred: np.ndarray, positive: Any) -> tuple[float, float, float]:
    t, p = np.asarray(y_true) == positive, np.asarray(y_pred) == positive
    tp = float(np.sum(t & p))
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / t.sum() if t.sum() else 0.0
    f1 = 2 * tp / (t.sum() + p.sum()) if (t.sum() + p.sum()) else 0.0
    return float(precision), float(recall), float(f1)


def row_log_loss(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Each row's log loss: probabilities clipped to [eps, 1 - eps] and renormalised."""
    proba = np.asarray(proba, dtype=np.float64)
    eps = np.finfo(proba.dtype).eps
    proba = np.clip(proba, eps, 1 - eps)
    proba = proba / proba.sum(axis=1, keepdims=True)
    index = {c: i for i, c in enumerate(classes)}
    cols = np.array([index[v] for v in np.asarray(y_true).tolist()])
    return -np.log(proba[np.arange(len(cols)), cols])


def log_loss(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> float:
    return float(np.mean(row_log_loss(y_true, proba, classes)))


def compute(name: str, task: str, y_true: np.ndarray, pred: Predictions) -> float:
    """One metric of `pred` against `y_true` for `task`."""
    if name not in TASK_METRICS.get(task, ()):
        raise UnknownMetric(name, task)
    y_true = np.asarray(y_true)
    if task == "regression":
        y_hat = np.asarray(pred.values, dtype=np.float64)
        err = y_true.astype(np.float64) - y_hat
        if name == "rmse":
            return float(np.sqrt(np.mean(err**2)))
        if name == "mae":
            return float(np.mean(np.abs(err)))
        ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
        return float(1 - np.sum(err**2) / ss_tot) if ss_tot else float("nan")
    classes = _classes(pred, y_true)
    labels = _coerce_labels(pred.labels, y_true)
    if name == "accuracy":
        return accuracy(y_true, labels)
    if name == "log_loss":
        if pred.probabilities is None:
            raise ValueError("log_loss needs probabilities; the model's outputs give none (a `score` output has none)")
        return log_loss(y_true, pred.probabilities, classes)
    if name == "roc_auc":
        return roc_auc(y_true, *_auc_score(pred, y_true))
    if name == "f1_macro":
        present = sorted(set(y_true.tolist()) | set(labels.tolist()))
        return float(np.mean([_prf(y_true, labels, c)[2] for c in present]))
    precision, recall, f1 = _prf(y_true, labels, _positive_label(classes))
    return {"precision": precision, "recall": recall, "f1": f1}[name]


def _classes(pred: Predictions, y_true: np.ndarray) -> list[Any]:
    """The model's classes, else those the labels hold (sorted)."""
    return list(pred.classes) if pred.classes is not None else sorted(set(np.asarray(y_true).tolist()))


def _auc_score(pred: Predictions, y_true: np.ndarray) -> tuple[np.ndarray, Any]:
    """(what ROC AUC ranks each row by, the positive class), as `compute` takes them."""
    classes = _classes(pred, y_true)
    positive = _positive_label(classes)
    return _ranking_score(pred, classes, positive, _coerce_labels(pred.labels, y_true)), positive


def _ranking_score(pred: Predictions, classes: Sequence[Any], positive: Any, labels: np.ndarray) -> np.ndarray:
    """What ROC AUC ranks by: the positive class's probability, else its score, else the label."""
    index = list(classes).index(positive) if positive in list(classes) else -1
    if pred.probabilities is not None:
        return pred.probabilities[:, index]
    if pred.values is not None:
        values = np.asarray(pred.values, dtype=np.float64)
        return values if values.ndim == 1 else values[:, index]
    return labels


def available(name: str, pred: Predictions) -> bool:
    """Whether `pred` carries what metric `name` needs (log_loss needs probabilities)."""
    return name != "log_loss" or pred.probabilities is not None


def nonfinite_outputs(pred: Predictions, whose: str = "the model") -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(message, measured, evidence) when some rows' outputs are NaN or infinite, else None.

    No metric means anything on such rows, so a check computing metrics fails with this
    message (the share of rows) instead of judging, or crashing on, a NaN metric.
    """
    from .outputs import nonfinite_rows

    mask = nonfinite_rows(pred.probabilities, pred.values)
    if mask is None or not mask.any():
        return None
    bad, rows = int(mask.sum()), len(mask)
    share = bad / rows
    message = (
        f"{bad} of {rows} reference rows ({share:.1%}) get NaN or infinite outputs from {whose}, "
        "so its quality cannot be measured (see SCH004)"
    )
    measured = {"nonfinite_rows": bad, "nonfinite_share": round(share, 6), "rows": rows}
    return message, measured, {"nonfinite_row_index": np.flatnonzero(mask)[:20].tolist()}


def _coerce_labels(labels: np.ndarray | None, y_true: np.ndarray) -> np.ndarray:
    if labels is None:
        raise OutputMismatch(
            "the model has no label output and no probabilities, logits or scores to derive labels from: "
            "declare each output's kind in serving.yaml (see SCH004)"
        )
    try:
        return np.asarray(labels).astype(y_true.dtype)
    except (TypeError, ValueError):
        return np.asarray(labels)


def compute_all(
    task: str, y_true: np.ndarray, pred: Predictions, names: Sequence[str] | None = None
) -> dict[str, float]:
    """Every metric of `task` that `pred` can give (log_loss is left out without probabilities)."""
    return {name: compute(name, task, y_true, pred) for name in (names or TASK_METRICS[task]) if available(name, pred)}


def is_better(name: str, candidate: float, reference: float) -> bool:
    return candidate > reference if HIGHER_IS_BETTER[name] else candidate < reference


def metric_function(name: str, task: str) -> Callable[[np.ndarray, Predictions], float]:
    return lambda y, p: compute(name, task, y, p)


# --------------------------------------------------------------------------- configuration, uncertainty, comparison
def primary_metric(task: str, configured: Any = None) -> str:
    """The primary metric for `task`: `configured` (a name, or a table task -> name) else the default.

    Raises UnknownMetric when the configured name is not a metric of the task.
    """
    if task not in TASK_METRICS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASK_METRICS)}")
    name = configured.get(task) if isinstance(configured, Mapping) else configured
    if not name:
        return PRIMARY[task]
    if name not in TASK_METRICS[task]:
        raise UnknownMetric(str(name), task)
    return str(name)


def bootstrap_ci(
    name: str,
    task: str,
    y_true: np.ndarray,
    pred: Predictions,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float | None, float | None]:
    """A percentile bootstrap confidence interval of one metric, resampling rows (seeded by `rng`).

    Returns (None, None) when the interval cannot be estimated (too few rows, or a
    metric undefined on most resamples, e.g. ROC AUC with one class).
    """
    y_true = np.asarray(y_true)
    statistic = _resampled_metric(name, task, y_true, pred)
    return _bootstrap_interval(statistic, len(y_true), rng=rng, n_resamples=n_resamples, confidence=confidence)


def _resampled_metric(name: str, task: str, y_true: np.ndarray, pred: Predictions) -> Callable[[np.ndarray], float]:
    """The metric on the rows `index` names (repeats allowed), as `compute` gives it on `y_true[index]`.

    ROC AUC is computed from per-row weights over the rows sorted once by score (O(n) per resample
    instead of ranking every resample); the others on the rows taken, without the raw outputs."""
    light = Predictions(
        raw={}, probabilities=pred.probabilities, labels=pred.labels, values=pred.values, classes=pred.classes
    )
    if name == "roc_auc" and task == "binary_classification":
        raw_score, positive = _auc_score(pred, y_true)
        score = np.asarray(raw_score, dtype=np.float64)
        order = np.argsort(score, kind="mergesort")
        ordered = score[order]
        is_pos = (y_true == positive)[order].astype(np.float64)
        group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1  # rows of equal score share a group
        n = len(score)

        def auc(index: np.ndarray) -> float:
            weight = np.bincount(np.asarray(index, dtype=np.intp), minlength=n)[order].astype(np.float64)
            pos = np.bincount(group, weight * is_pos)
            neg = np.bincount(group, weight * (1.0 - is_pos))
            m, k = pos.sum(), neg.sum()
            if m == 0 or k == 0:
                return float("nan")
            return float((pos * (np.cumsum(neg) - neg + 0.5 * neg)).sum() / (m * k))

        return auc

    def statistic(index: np.ndarray) -> float:
        index = np.asarray(index, dtype=np.intp)
        return compute(name, task, y_true[index], light.take(index))

    return statistic


def regression_amount(name: str, candidate: float, reference: float) -> tuple[float, float]:
    """How much worse `candidate` is than `reference` on metric `name`: (absolute, relative).

    Positive means worse (in the metric's own direction); relative is divided by |reference|
    (infinite when the reference is 0 and the candidate is worse).
    """
    worse = (reference - candidate) if HIGHER_IS_BETTER[name] else (candidate - reference)
    if reference != 0:
        relative = worse / abs(reference)
    else:
        relative = 0.0 if worse == 0 else float("inf") if worse > 0 else float("-inf")
    return float(worse), float(relative)


def meets(name: str, value: float, bar: float) -> bool:
    """Whether `value` meets the bar `bar` in the metric's direction (>= for higher-is-better)."""
    return value >= bar if HIGHER_IS_BETTER[name] else value <= bar


def paired_bootstrap_delta(
    name: str,
    task: str,
    y_true: np.ndarray,
    candidate: Predictions,
    reference: Predictions,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float | None, float | None]:
    """A percentile bootstrap interval of `metric(candidate) - metric(reference)` on the same rows
    (paired: both models are scored on each resample of rows)."""
    y_true = np.asarray(y_true)
    first, second = _resampled_metric(name, task, y_true, candidate), _resampled_metric(name, task, y_true, reference)

    def statistic(index: np.ndarray) -> float:
        return first(index) - second(index)

    return _bootstrap_interval(statistic, len(y_true), rng=rng, n_resamples=n_resamples, confidence=confidence)


def paired_delta_interval(
    name: str,
    task: str,
    y_true: np.ndarray,
    candidate: Predictions,
    reference: Predictions,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float | None, float | None, str]:
    """A two-sided interval at `confidence` on `metric(candidate) - metric(reference)` on the same
    rows, and how it was found.

    In closed form where one exists: for ROC AUC, DeLong's test for two correlated AUCs (the
    covariance of the two models' structural components, DeLong et al. 1988); for accuracy, log
    loss and MAE, a normal interval on the mean of the per-row differences (each is a mean of
    per-row terms). Otherwise a seeded paired percentile bootstrap (`paired_bootstrap_delta`).
    """
    from scipy.special import ndtri

    y_true = np.asarray(y_true)
    z = float(ndtri(0.5 + confidence / 2))
    if name == "roc_auc" and task == "binary_classification":
        (score_c, positive), (score_b, positive_b) = _auc_score(candidate, y_true), _auc_score(reference, y_true)
        if positive == positive_b:  # (else the bootstrap below, comparing each model's own AUC as `compute` does)
            parts = [_delong_components(y_true, np.asarray(s, dtype=np.float64), positive) for s in (score_c, score_b)]
            if parts[0] is None or parts[1] is None:
                return None, None, "DeLong's test for two correlated ROC AUCs (too few rows of a class)"
            (auc_c, v10_c, v01_c), (auc_b, v10_b, v01_b) = parts
            # Var(A - B) = Var(A) + Var(B) - 2 Cov(A, B), each from the per-row components
            var = float(np.var(v10_c - v10_b, ddof=1)) / len(v10_c) + float(np.var(v01_c - v01_b, ddof=1)) / len(v01_c)
            half = z * math.sqrt(max(var, 0.0))
            return auc_c - auc_b - half, auc_c - auc_b + half, "DeLong's test for two correlated ROC AUCs"
    rows = _paired_row_terms(name, task, y_true, candidate, reference)
    if rows is not None:
        if len(rows) < 2:
            return None, None, "normal interval on the mean per-row difference (too few rows)"
        half = z * float(np.std(rows, ddof=1)) / math.sqrt(len(rows))
        centre = float(np.mean(rows))
        return centre - half, centre + half, "normal interval on the mean per-row difference"
    lo, hi = paired_bootstrap_delta(
        name, task, y_true, candidate, reference, rng=rng, n_resamples=n_resamples, confidence=confidence
    )
    return lo, hi, f"seeded paired percentile bootstrap ({n_resamples} resamples)"


def _paired_row_terms(
    name: str, task: str, y_true: np.ndarray, candidate: Predictions, reference: Predictions
) -> np.ndarray | None:
    """Per-row candidate - reference terms whose mean is the metric's change, for metrics that are
    a mean over rows (accuracy, log loss, MAE); None for the others."""
    if task == "regression" and name == "mae":
        y = y_true.astype(np.float64)
        return np.abs(y - np.asarray(candidate.values, dtype=np.float64)) - np.abs(
            y - np.asarray(reference.values, dtype=np.float64)
        )
    if task == "regression":
        return None
    if name == "accuracy":
        right = [(y_true == _coerce_labels(p.labels, y_true)).astype(np.float64) for p in (candidate, reference)]
        return right[0] - right[1]
    if name == "log_loss" and candidate.probabilities is not None and reference.probabilities is not None:
        return row_log_loss(y_true, candidate.probabilities, _classes(candidate, y_true)) - row_log_loss(
            y_true, reference.probabilities, _classes(reference, y_true)
        )
    return None


# Above this many rows the bootstrap resamples a seeded subsample and scales the interval's
# half-widths by sqrt(subsample / rows), the sqrt(n) rate of every metric here: the cost and
# memory stay those of 20,000 rows (200,000 rows took 50 s and 1.6 GB of resample indices).
BOOTSTRAP_MAX_ROWS = 20_000


def _bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    rng: np.random.Generator,
    n_resamples: int,
    confidence: float,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of `statistic(row_index)` over `n` rows, in bounded memory."""
    from scipy.stats import bootstrap

    if n < 2 or n_resamples < 2:
        return None, None
    rows = np.arange(n) if n <= BOOTSTRAP_MAX_ROWS else np.sort(rng.choice(n, BOOTSTRAP_MAX_ROWS, replace=False))
    res = bootstrap(
        (rows,),
        statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=False,
        batch=100,  # resample indices are drawn 100 resamples at a time, not all at once
        rng=rng,
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None, None
    if len(rows) < n:
        lo, hi = to_all_rows(lo, hi, centre=statistic(rows), exact=statistic(np.arange(n)), sample=len(rows), rows=n)
    return lo, hi


def to_all_rows(lo: float, hi: float, *, centre: float, exact: float, sample: int, rows: int) -> tuple[float, float]:
    """An interval found on `sample` of `rows` rows around `centre` (the value on those rows), moved
    to `exact` (the value on every row) with its half-widths scaled by sqrt(sample / rows): the
    sqrt(n) rate at which every metric here narrows."""
    scale = math.sqrt(sample / rows)
    return exact - (centre - lo) * scale, exact + (hi - centre) * scale


# --------------------------------------------------------------------------- one-sided bounds for a bar
def delong_auc_bounds(
    y_true: np.ndarray, score: np.ndarray, positive: Any, confidence: float
) -> tuple[float | None, float | None]:
    """One-sided bounds at `confidence` on the ROC AUC, from DeLong's variance (no resampling, no seed).

    The AUC's structural components (per positive: the share of negatives it outranks; per
    negative: the share of positives that outrank it) give its variance (DeLong et al. 1988,
    computed from mid-ranks as Sun and Xu 2014 do); the bounds are AUC -/+ z * sd, within [0, 1].
    """
    from scipy.special import ndtri

    parts = _delong_components(y_true, score, positive)
    if parts is None:
        return None, None
    auc, v10, v01 = parts
    sd = math.sqrt(max(float(np.var(v10, ddof=1)) / len(v10) + float(np.var(v01, ddof=1)) / len(v01), 0.0))
    z = float(ndtri(confidence))
    return max(0.0, auc - z * sd), min(1.0, auc + z * sd)


def _delong_components(
    y_true: np.ndarray, score: np.ndarray, positive: Any
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(AUC, per-positive share of negatives it outranks, per-negative share of positives that
    outrank it), from mid-ranks (Sun and Xu 2014); None with fewer than 2 rows of a class."""
    y_true = np.asarray(y_true)
    score = np.asarray(score, dtype=np.float64)
    pos = y_true == positive
    m, n = int(pos.sum()), int((~pos).sum())
    if m < 2 or n < 2:
        return None
    x, y = score[pos], score[~pos]
    tz = rankdata(np.concatenate([x, y]))
    tx, ty = rankdata(x), rankdata(y)
    auc = float((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
    v10 = (tz[:m] - tx) / n  # per positive: share of negatives it outranks
    v01 = 1.0 - (tz[m:] - ty) / m  # per negative: share of positives that outrank it
    return auc, v10, v01


def metric_bounds(
    name: str,
    task: str,
    y_true: np.ndarray,
    pred: Predictions,
    *,
    confidence: float,
    rng: np.random.Generator,
    n_resamples: int = 1000,
) -> tuple[float | None, float | None, str]:
    """One-sided lower and upper bounds, each at `confidence`, on a metric over the rows' population,
    and how they were found: DeLong for ROC AUC, exact binomial (Clopper-Pearson) for accuracy, a
    seeded percentile bootstrap (at 2c - 1 two-sided, i.e. c each side) for the rest."""
    y_true = np.asarray(y_true)
    if name == "roc_auc" and task == "binary_classification" and pred.probabilities is not None:
        classes = _classes(pred, y_true)
        positive = _positive_label(classes)
        score = np.asarray(pred.probabilities)[:, classes.index(positive)]
        lo, hi = delong_auc_bounds(y_true, score, positive, confidence)
        return lo, hi, "DeLong variance of the AUC, normal bounds"
    if name == "accuracy" and task != "regression":
        from .stats import share_interval

        correct = int(np.sum(y_true == _coerce_labels(pred.labels, y_true)))
        interval = share_interval(correct, len(y_true), confidence)
        return interval.lower, interval.upper, "exact binomial (Clopper-Pearson) bounds on the share of correct rows"
    lo, hi = bootstrap_ci(
        name, task, y_true, pred, rng=rng, n_resamples=n_resamples, confidence=max(2 * confidence - 1, 0.01)
    )
    return lo, hi, f"seeded percentile bootstrap over the rows ({n_resamples} resamples)"


def trivial_predictions(task: str, y_true: np.ndarray, classes: list[Any] | None) -> Predictions:
    """A predictor that ignores its input: the class prior (labels = majority class), or the mean."""
    y_true = np.asarray(y_true)
    n = len(y_true)
    if task == "regression":
        return Predictions(raw={}, values=np.full(n, float(np.mean(y_true.astype(np.float64)))))
    classes = list(classes) if classes is not None else sorted(set(y_true.tolist()))
    values = y_true.tolist()
    prior = np.array([values.count(c) for c in classes], dtype=np.float64) / max(n, 1)
    majority = classes[int(np.argmax(prior))]
    labels = np.array([majority] * n)
    return Predictions(raw={}, probabilities=np.tile(prior, (n, 1)), labels=labels, classes=classes)
