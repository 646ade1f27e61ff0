"""Feature selection shared by training and serving."""

from __future__ import annotations

import re

import pandas as pd

# The "mean" cell-nucleus measurements of the Wisconsin breast-cancer data, in model order.
FEATURES = [
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "mean_smoothness",
    "mean_compactness",
    "mean_concavity",
    "mean_concave_points",
]


def snake(name: str) -> str:
    """'mean concave points' -> 'mean_concave_points'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def select_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, snake-cased, in model order, as float64."""
    renamed = frame.rename(columns=snake)
    missing = [c for c in FEATURES if c not in renamed.columns]
    if missing:
        raise KeyError(f"missing feature columns: {missing}")
    return renamed[FEATURES].astype("float64")
