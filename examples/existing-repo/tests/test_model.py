"""Ordinary tests that read the bundle through the readiness fixtures (nothing is loaded twice)."""

import numpy as np
from tumour.features import FEATURES


def test_serving_config_uses_the_features_the_code_selects(readiness_bundle):
    assert readiness_bundle.serving.inputs[0].features == FEATURES


def test_probabilities_sum_to_one(readiness_context):
    proba = readiness_context.reference_predictions.probabilities
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_holdout_accuracy_above_90_percent(readiness_context):
    predicted = readiness_context.reference_predictions.labels
    assert (predicted == readiness_context.y_true).mean() > 0.9
