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
