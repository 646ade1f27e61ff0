"""A zoo of real models of the kinds users bring, built at test time, small and seeded.

Each builder trains a model on a dataset bundled with scikit-learn, exports it to ONNX
with the converter a user would use (skl2onnx, onnxmltools, or onnx.helper for a
network's logits head), writes a labelled data sample and the source model beside it,
and runs `readiness init` on the result: the bundle is what a new user gets without
editing anything. Used by tests/test_zoo.py and benchmarks/verdict_stability.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 0
ROWS = 150  # rows of the data sample written into each bundle


def _sample(X: pd.DataFrame, y: np.ndarray, directory: Path, rows: int = ROWS) -> Path:
    frame = X.assign(label=y).sample(min(rows, len(X)), random_state=SEED).reset_index(drop=True)
    path = directory / "sample.csv"
    frame.to_csv(path, index=False)
    return path


def _init(directory: Path, sample: Path, source: Path | None) -> Path:
    from readiness.init import init_bundle

    init_bundle(directory / "model.onnx", data=sample, target="label", source=source)
    return directory


def _snake(columns: list[str]) -> list[str]:
    return [c.replace(" ", "_").replace("(", "").replace(")", "") for c in columns]


def lightgbm_binary(directory: Path) -> Path:
    """LightGBM binary classifier through onnxmltools, with its native .txt booster as the source."""
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType
    from sklearn.datasets import load_breast_cancer

    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :8].astype("float32")
    X.columns = _snake(list(X.columns))
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=8, random_state=SEED, verbose=-1).fit(X, y)
    onx = convert_lightgbm(
        model, initial_types=[("input", FloatTensorType([None, X.shape[1]]))], zipmap=False, target_opset=15
    )
    (directory / "model.onnx").write_bytes(onx.SerializeToString())
    model.booster_.save_model(str(directory / "model.txt"))
    return _init(directory, _sample(X, y, directory), directory / "model.txt")


def xgboost_multiclass(directory: Path) -> Path:
    """XGBoost multiclass classifier through onnxmltools, with its .json booster as the source."""
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from sklearn.datasets import load_wine

    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_wine(return_X_y=True, as_frame=True)
    X = X.astype("float32")
    X.columns = _snake(list(X.columns))
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=SEED, n_jobs=1).fit(X.values, y)
    onx = convert_xgboost(model, initial_types=[("input", FloatTensorType([None, X.shape[1]]))], target_opset=15)
    (directory / "model.onnx").write_bytes(onx.SerializeToString())
    model.get_booster().save_model(str(directory / "model.json"))
    return _init(directory, _sample(X, y, directory), directory / "model.json")


def column_transformer(directory: Path) -> Path:
    """A scikit-learn Pipeline: ColumnTransformer (scaled numbers, one-hot string column) + LogisticRegression,
    exported with one ONNX input per column, the skops file as the source."""
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4].astype("float32")
    X.columns = _snake(list(X.columns))
    size = pd.cut(X["mean_radius"], [0, 12, 16, 100], labels=["small", "medium", "large"]).astype(str)
    X = X.assign(size_band=size)
    numeric = [c for c in X.columns if c != "size_band"]
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["size_band"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, y)
    onx = to_onnx(pipe, X[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
    (directory / "model.onnx").write_bytes(onx.SerializeToString())
    sio.dump(pipe, directory / "model.skops")
    return _init(directory, _sample(X, y, directory), directory / "model.skops")


def gradient_boosting_regressor(directory: Path) -> Path:
    """A stock GradientBoostingRegressor on the diabetes data (features with a spread near 0.05)."""
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor

    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.astype("float32")
    model = GradientBoostingRegressor(n_estimators=40, max_depth=2, random_state=SEED).fit(X, y)
    onx = to_onnx(model, X.values[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    (directory / "model.onnx").write_bytes(onx.SerializeToString())
    sio.dump(model, directory / "model.skops")
    return _init(directory, _sample(X, y.astype("float64"), directory), directory / "model.skops")


def mlp_classifier(directory: Path) -> Path:
    """An MLPClassifier on the 64 pixel features of the digits data (10 classes)."""
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_digits(return_X_y=True, as_frame=True)
    X = (X / 16.0).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 300 iterations are plenty for a test model
        model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=SEED).fit(X, y)
    onx = to_onnx(model, X.values[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
    (directory / "model.onnx").write_bytes(onx.SerializeToString())
    sio.dump(model, directory / "model.skops")
    return _init(directory, _sample(X, y, directory), directory / "model.skops")


def logits_head(directory: Path) -> Path:
    """A network's head returning raw class scores (`logits`, float [N, 3]), built with onnx.helper as a
    PyTorch export looks: MatMul + Add, no softmax in the graph. Weights from a fitted multinomial model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    directory.mkdir(parents=True, exist_ok=True)
    X, y = load_iris(return_X_y=True, as_frame=True)
    X = X.astype("float32")
    X.columns = _snake(list(X.columns))
    fitted = LogisticRegression(max_iter=500).fit(X, y)
    weights = numpy_helper.from_array(fitted.coef_.T.astype(np.float32), "weights")
    bias = numpy_helper.from_array(fitted.intercept_.astype(np.float32), "bias")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "weights"], ["xw"]), helper.make_node("Add", ["xw", "bias"], ["logits"])],
        "logits_head",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    (directory / "model.onnx").write_bytes(model.SerializeToString())
    return _init(directory, _sample(X, y, directory), None)


ZOO: dict[str, Callable[[Path], Path]] = {
    "lightgbm": lightgbm_binary,
    "xgboost": xgboost_multiclass,
    "column-transformer": column_transformer,
    "gradient-boosting-regressor": gradient_boosting_regressor,
    "mlp": mlp_classifier,
    "logits": logits_head,
}
