"""Quality metrics agree with scikit-learn, have directions, a configurable primary metric, and a seeded CI."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from readiness import metrics
from readiness.runtime import Predictions


def _classifier(loader, seed: int = 0):
    X, y = loader(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, random_state=seed, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_tr, y_tr)
    proba = model.predict_proba(X_te)
    classes = list(model.classes_)
    pred = Predictions(raw={}, probabilities=proba, labels=model.predict(X_te), classes=classes)
    return y_te, pred


@pytest.fixture(scope="module")
def binary():
    return _classifier(load_breast_cancer)


@pytest.fixture(scope="module")
def multiclass():
    return _classifier(load_wine)


@pytest.fixture(scope="module")
def regression():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.4, random_state=0)
    values = LinearRegression().fit(X_tr, y_tr).predict(X_te)
    return y_te, Predictions(raw={}, values=values)


def test_binary_metrics_agree_with_sklearn(binary):
    y, pred = binary
    expected = {
        "roc_auc": skm.roc_auc_score(y, pred.probabilities[:, 1]),
        "accuracy": skm.accuracy_score(y, pred.labels),
        "f1": skm.f1_score(y, pred.labels),
        "precision": skm.precision_score(y, pred.labels),
        "recall": skm.recall_score(y, pred.labels),
        "log_loss": skm.log_loss(y, pred.probabilities),
    }
    got = metrics.compute_all("binary_classification", y, pred)
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_multiclass_metrics_agree_with_sklearn(multiclass):
    y, pred = multiclass
    got = metrics.compute_all("multiclass_classification", y, pred)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred.labels), abs=1e-9)
    assert got["f1_macro"] == pytest.approx(skm.f1_score(y, pred.labels, average="macro"), abs=1e-9)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, pred.probabilities), abs=1e-9)


def test_regression_metrics_agree_with_sklearn(regression):
    y, pred = regression
    got = metrics.compute_all("regression", y, pred)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred.values), abs=1e-9)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred.values)), abs=1e-9)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred.values), abs=1e-9)


def test_every_task_metric_has_a_direction():
    for task, names in metrics.TASK_METRICS.items():
        for name in names:
            assert name in metrics.HIGHER_IS_BETTER, (task, name)
    assert not metrics.HIGHER_IS_BETTER["log_loss"] and not metrics.HIGHER_IS_BETTER["rmse"]
    assert metrics.meets("log_loss", 0.2, 0.3) and not metrics.meets("log_loss", 0.4, 0.3)
    assert metrics.meets("roc_auc", 0.95, 0.9) and not metrics.meets("roc_auc", 0.85, 0.9)


def test_primary_metric_defaults_and_is_configurable():
    assert metrics.primary_metric("binary_classification") == "roc_auc"
    assert metrics.primary_metric("multiclass_classification") == "accuracy"
    assert metrics.primary_metric("regression") == "r2"
    assert metrics.primary_metric("binary_classification", "f1") == "f1"
    assert metrics.primary_metric("regression", {"regression": "mae", "binary_classification": "f1"}) == "mae"
    assert metrics.primary_metric("multiclass_classification", {"regression": "mae"}) == "accuracy"
    with pytest.raises(metrics.UnknownMetric, match="rmse.*binary_classification"):
        metrics.primary_metric("binary_classification", "rmse")


def test_regression_amount_follows_the_metric_direction():
    assert metrics.regression_amount("roc_auc", 0.90, 0.95) == pytest.approx((0.05, 0.05 / 0.95))
    assert metrics.regression_amount("roc_auc", 0.97, 0.95)[0] == pytest.approx(-0.02)
    assert metrics.regression_amount("rmse", 12.0, 10.0) == pytest.approx((2.0, 0.2))
    assert metrics.regression_amount("rmse", 8.0, 10.0)[0] == pytest.approx(-2.0)


def test_bootstrap_ci_is_seeded_and_brackets_the_point_value(binary):
    y, pred = binary
    point = metrics.compute("accuracy", "binary_classification", y, pred)

    def ci(seed):
        rng = np.random.default_rng(seed)
        return metrics.bootstrap_ci("accuracy", "binary_classification", y, pred, rng=rng, n_resamples=300)

    lo, hi = ci(1)
    assert (lo, hi) == ci(1)
    assert ci(2) != (lo, hi)
    assert lo < point < hi
    assert hi - lo < 0.1
    wide = metrics.bootstrap_ci(
        "accuracy", "binary_classification", y[:30], pred.take(np.arange(30)), rng=np.random.default_rng(1)
    )
    assert wide[1] - wide[0] > hi - lo


def test_bootstrap_interval_on_many_rows_matches_the_normal_approximation():
    """Above BOOTSTRAP_MAX_ROWS the interval comes from a subsample, scaled to the full size: its width
    must still be the full data's (accuracy's is 2 * 1.96 * sqrt(p(1-p)/n)), not the subsample's."""
    from readiness.runtime import Predictions

    n = 10 * metrics.BOOTSTRAP_MAX_ROWS
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    labels = np.where(rng.random(n) < 0.9, y, 1 - y)
    pred = Predictions(raw={}, labels=labels, classes=[0, 1])
    lo, hi = metrics.bootstrap_ci(
        "accuracy", "binary_classification", y, pred, rng=np.random.default_rng(1), n_resamples=400
    )
    acc = float(np.mean(labels == y))
    expected = 2 * 1.96 * np.sqrt(acc * (1 - acc) / n)
    assert lo < acc < hi
    assert (hi - lo) == pytest.approx(expected, rel=0.2)


def _two_correlated_models(n: int = 1500, seed: int = 3):
    """Labels and two binary models that share most of their signal (so their AUCs are correlated)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = y * 1.2 + rng.normal(size=n)
    scores = [shared + rng.normal(scale=s, size=n) for s in (0.3, 0.8)]
    preds = []
    for s in scores:
        p1 = 1 / (1 + np.exp(-s))
        preds.append(
            Predictions(raw={}, probabilities=np.c_[1 - p1, p1], labels=(p1 > 0.5).astype(int), classes=[0, 1])
        )
    return y, preds[0], preds[1]


def test_paired_auc_interval_is_delongs_test_for_correlated_aucs():
    """Against DeLong et al. (1988) written out over every (positive, negative) pair, on 120 rows."""
    y, a, b = _two_correlated_models(n=120)
    lo, hi, method = metrics.paired_delta_interval(
        "roc_auc", "binary_classification", y, a, b, rng=np.random.default_rng(0), confidence=0.95
    )
    assert "DeLong" in method

    def components(score):
        x, v = score[y == 1], score[y == 0]
        psi = (x[:, None] > v[None, :]) + 0.5 * (x[:, None] == v[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = (components(p.probabilities[:, 1]) for p in (a, b))
    s10, s01 = np.cov(np.c_[v10_a, v10_b].T), np.cov(np.c_[v01_a, v01_b].T)
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(v10_a) + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / len(v01_a)
    assert (lo + hi) / 2 == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * np.sqrt(var), rel=1e-5)


@pytest.mark.parametrize("name", ["roc_auc", "accuracy", "log_loss"])
def test_paired_closed_form_interval_agrees_with_the_paired_bootstrap(name):
    """The closed form replaces 1000 paired resamples; on 1,500 correlated rows the two intervals
    must agree (the bootstrap's own noise at 1000 resamples is a few percent of the width)."""
    y, a, b = _two_correlated_models()
    task = "binary_classification"
    lo, hi, method = metrics.paired_delta_interval(name, task, y, a, b, rng=np.random.default_rng(0))
    assert "bootstrap" not in method
    blo, bhi = metrics.paired_bootstrap_delta(name, task, y, a, b, rng=np.random.default_rng(0), n_resamples=1000)
    assert hi - lo == pytest.approx(bhi - blo, rel=0.15)
    assert (lo + hi) / 2 == pytest.approx((blo + bhi) / 2, abs=0.15 * (bhi - blo))
    change = metrics.compute(name, task, y, a) - metrics.compute(name, task, y, b)
    assert lo < change < hi


def test_paired_interval_falls_back_to_the_bootstrap_without_a_closed_form():
    y, a, b = _two_correlated_models(n=400)
    lo, hi, method = metrics.paired_delta_interval(
        "f1", "binary_classification", y, a, b, rng=np.random.default_rng(0), n_resamples=200
    )
    assert "bootstrap" in method and lo < hi


def test_rankdata_matches_scipy_with_ties_and_nan():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    for values in (rng.integers(0, 20, 500).astype(np.float32), rng.normal(size=300), np.array([3.0]), np.array([])):
        np.testing.assert_array_equal(metrics.rankdata(values), rankdata(values))
    with_nan = np.array([1.0, np.nan, 0.5])
    np.testing.assert_array_equal(metrics.rankdata(with_nan), rankdata(with_nan))


def test_paired_auc_interval_reads_each_model_by_its_own_classes():
    """A baseline that lists its classes the other way round ranks by its own positive class, as
    `compute` does: the change interval is about the same AUCs, not one model's read backwards."""
    y, a, b = _two_correlated_models()
    flipped = Predictions(raw={}, probabilities=b.probabilities[:, ::-1], labels=b.labels, classes=[1, 0])
    task = "binary_classification"
    change = metrics.compute("roc_auc", task, y, a) - metrics.compute("roc_auc", task, y, flipped)
    assert change == pytest.approx(metrics.compute("roc_auc", task, y, a) - metrics.compute("roc_auc", task, y, b))
    lo, hi, _ = metrics.paired_delta_interval("roc_auc", task, y, a, b, rng=np.random.default_rng(0))
    flo, fhi, method = metrics.paired_delta_interval("roc_auc", task, y, a, flipped, rng=np.random.default_rng(0))
    assert "bootstrap" in method  # different positive classes: no pairing of their components
    assert flo < change < fhi
    assert fhi - flo == pytest.approx(hi - lo, rel=0.15)
