"""Load the source model (`[model].source`) and score rows with it, for export-parity checks.

Supported kinds (see `readiness.sources.source_kind`):

- `.skops`: loaded with skops, trusting only skops' defaults and the reviewed exact type
  names in `sources.SKOPS_ALLOWED_TYPES`; other types need `--trust`. The archive's
  unpacked size is bounded first (`sources.check_skops_archive`).
- XGBoost `.json`/`.ubj` and LightGBM `.txt`: loaded by their own libraries when
  installed (no code runs); otherwise the caller skips with the reason.
- `.pkl`/`.pickle`/`.joblib`: only with `--trust` (unpickling runs code).

Nothing is loaded before `sources.assert_loadable` has agreed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import sources
from .runtime import Predictions


class SourceUnavailable(Exception):
    """The source model cannot be used here (a library is missing, or the format is unsupported)."""


@dataclass
class SourceModel:
    """A loaded source model and how it was loaded."""

    kind: str  # skops, xgboost, lightgbm, pickle
    model: Any
    path: Path
    trusted_types: list[str] = field(default_factory=list)  # types skops was allowed to build
    note: str = ""

    @property
    def description(self) -> str:
        text = f"{self.path.name} ({self.kind})"
        if self.kind == "skops":
            shown = ", ".join(self.trusted_types) if self.trusted_types else "none"
            text += f", loaded with skops trusting, beyond skops' defaults: {shown}"
        return text


def load_source(path: Path, *, trust: bool = False) -> SourceModel:
    """Load the source model at `path`.

    Raises `sources.UnsafeSource` when loading would run untrusted code, and
    `SourceUnavailable` when the format or its library is not available here.
    """
    kind = sources.source_kind(path)
    if kind not in ("skops", "xgboost", "lightgbm", "pickle"):
        raise SourceUnavailable(
            f"{path.name}: unsupported source format {path.suffix!r}; use .skops, XGBoost .json/.ubj or LightGBM .txt"
        )
    sources.assert_loadable(path, trust)
    if kind == "skops":
        import skops.io as sio

        allowed, refused = sources.skops_untrusted_types(path)
        trusted = allowed + (refused if trust else [])
        return SourceModel(kind, sio.load(path, trusted=trusted), path, trusted_types=sorted(trusted))
    if kind == "xgboost":
        try:
            import xgboost as xgb
        except ImportError:
            raise SourceUnavailable(
                f"{path.name} is an XGBoost model but xgboost is not installed; pip install 'readiness[xgboost]' to compare it"
            ) from None
        booster = xgb.Booster()
        booster.load_model(str(path))
        return SourceModel(kind, booster, path)
    if kind == "lightgbm":
        try:
            import lightgbm as lgb
        except ImportError:
            raise SourceUnavailable(
                f"{path.name} is a LightGBM model but lightgbm is not installed; pip install 'readiness[lightgbm]' to compare it"
            ) from None
        return SourceModel(kind, lgb.Booster(model_file=str(path)), path)
    # pickle / joblib: assert_loadable has required --trust
    if path.suffix.lower() == ".joblib":
        import joblib

        return SourceModel(kind, joblib.load(path), path, note="unpickled with --trust")
    import pickle

    with path.open("rb") as fh:
        return SourceModel(kind, pickle.load(fh), path, note="unpickled with --trust")  # noqa: S301 - trusted


def model_input(model: Any, frame: Any) -> Any:
    """What to feed the source model: a DataFrame when it was fitted on named columns, else a float64 array."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ValueError(f"the source model was fitted on column(s) the reference data lacks: {missing[:5]}")
        return frame[list(names)]
    return frame.to_numpy(dtype=np.float64)


def predict(source: SourceModel, frame: Any, task: str | None, classes: list[Any] | None = None) -> Predictions:
    """Score `frame` (feature columns in the ONNX model's order) with the source model."""
    if source.kind == "xgboost":
        return _predict_xgboost(source.model, frame, task, classes)
    if source.kind == "lightgbm":
        return _predict_lightgbm(source.model, frame, task, classes)
    model = source.model
    X = model_input(model, frame)
    if task == "regression" or not hasattr(model, "predict_proba"):
        values = np.asarray(model.predict(X), dtype=np.float64).reshape(len(frame), -1)[:, 0]
        return Predictions(raw={}, values=values)
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    model_classes = list(getattr(model, "classes_", range(proba.shape[1])))
    labels = np.asarray(model.predict(X))
    return Predictions(raw={}, probabilities=proba, labels=labels, classes=model_classes)


def _from_scores(raw: np.ndarray, task: str | None, classes: list[Any] | None) -> Predictions:
    raw = np.asarray(raw, dtype=np.float64)
    if task == "regression":
        return Predictions(raw={}, values=raw.reshape(len(raw), -1)[:, 0])
    proba = np.stack([1 - raw, raw], axis=1) if raw.ndim == 1 else raw
    cls = list(classes) if classes else list(range(proba.shape[1]))
    labels = np.asarray(cls, dtype=object)[np.argmax(proba, axis=1)]
    try:
        labels = labels.astype(np.asarray(cls).dtype)
    except (TypeError, ValueError):
        pass
    return Predictions(raw={}, probabilities=proba, labels=labels, classes=cls)


def _predict_xgboost(booster: Any, frame: Any, task: str | None, classes: list[Any] | None) -> Predictions:
    import xgboost as xgb

    config = json.loads(booster.save_config())
    objective = config.get("learner", {}).get("objective", {}).get("name", "")
    if task != "regression" and objective and not objective.startswith(("binary:logistic", "multi:softprob")):
        raise SourceUnavailable(f"XGBoost objective {objective!r} gives no probabilities to compare")
    matrix = xgb.DMatrix(frame.to_numpy(dtype=np.float32), feature_names=None)
    return _from_scores(booster.predict(matrix), task, classes)


def _predict_lightgbm(booster: Any, frame: Any, task: str | None, classes: list[Any] | None) -> Predictions:
    return _from_scores(booster.predict(frame.to_numpy(dtype=np.float64)), task, classes)


# --------------------------------------------------------------------------- float32 split thresholds
def _estimators(model: Any) -> list[Any]:
    """Every fitted scikit-learn decision tree inside `model` (single tree, forest, boosting)."""
    if hasattr(model, "tree_"):
        return [model]
    found: list[Any] = []
    members = getattr(model, "estimators_", None)
    if members is not None:
        for member in np.asarray(members, dtype=object).ravel():
            found.extend(_estimators(member))
    return found


def split_points(model: Any) -> dict[int, np.ndarray] | None:
    """Split thresholds per input feature of the tree model at the end of `model`, or None if it has no trees."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    trees = _estimators(final)
    if not trees:
        return None
    per_feature: dict[int, list[np.ndarray]] = {}
    for tree in trees:
        t = tree.tree_
        internal = t.feature >= 0
        for feat in np.unique(t.feature[internal]):
            per_feature.setdefault(int(feat), []).append(t.threshold[internal & (t.feature == feat)])
    return {f: np.unique(np.concatenate(parts)) for f, parts in per_feature.items()}


def near_split_rows(source: SourceModel, frame: Any, ulps: float) -> np.ndarray | None:
    """Boolean mask of rows with a tree input within `ulps` float32 ulps of a split threshold.

    ONNX tree ensembles hold float32 thresholds and compare float32 inputs, while
    scikit-learn keeps float64 thresholds; a row whose value sits that close to a
    threshold may take the other branch in one of them. None: not a scikit-learn tree model.
    """
    model = source.model
    if source.kind not in ("skops", "pickle"):
        return None
    splits = split_points(model)
    if splits is None:
        return None
    X = model_input(model, frame)
    if hasattr(model, "steps") and len(model.steps) > 1:
        X = model[:-1].transform(X)
    return rows_near_thresholds(np.asarray(X, dtype=np.float64), splits, ulps)


def rows_near_thresholds(X: np.ndarray, splits: dict[int, np.ndarray], ulps: float) -> np.ndarray:
    """Rows of `X` with a value within `ulps` float32 ulps of the closest split threshold of its feature."""
    near = np.zeros(len(X), dtype=bool)
    for feat, thresholds in splits.items():
        if not 0 <= feat < X.shape[1] or not len(thresholds):
            continue
        values = X[:, feat]
        idx = np.clip(np.searchsorted(thresholds, values), 1, len(thresholds) - 1) if len(thresholds) > 1 else None
        if idx is None:
            closest = np.full(len(values), thresholds[0])
        else:
            lo, hi = thresholds[idx - 1], thresholds[idx]
            closest = np.where(np.abs(values - lo) <= np.abs(values - hi), lo, hi)
        band = ulps * np.spacing(np.abs(closest).astype(np.float32)).astype(np.float64)
        with np.errstate(invalid="ignore"):
            near |= np.abs(values - closest) <= band
    return near
