"""Train, export and describe the breast-cancer example bundle.

    python examples/breast-cancer/train.py [OUT_DIR]

Trains a seeded scikit-learn pipeline on the breast-cancer data that ships with
scikit-learn, exports it to ONNX with skl2onnx, and writes the bundle next to
this file (or into OUT_DIR): model.onnx, schema.yaml (pandera), serving.yaml,
reference.csv (a labelled holdout) and readiness.toml; plus the lineage that lets
the reproducibility checks verify it: model.skops (the scikit-learn model before
export), train.csv (the training data, fingerprinted), requirements.lock (the
environment) and the holdout metrics claimed in [lineage].training_metrics.
It also writes production/: the model serving today (version 0.9.0, a more heavily
regularised fit of the same pipeline), the baseline that QLT002, LAT005 and OPS003
compare the candidate with and the rollback target.
"""

from __future__ import annotations

import hashlib
import re
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 42
HERE = Path(__file__).resolve().parent


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def load_data() -> tuple[pd.DataFrame, pd.Series]:
    raw = load_breast_cancer(as_frame=True)
    X = raw.data.rename(columns=snake)
    y = raw.target.rename("label")
    return X, y


def build_schema(X: pd.DataFrame) -> pa.DataFrameSchema:
    """Bounds from the whole data set with a 10% margin of its range; no nulls; a 0/1 label."""
    columns = {}
    for col in X.columns:
        lo, hi = float(X[col].min()), float(X[col].max())
        margin = 0.1 * (hi - lo)
        columns[col] = pa.Column(float, pa.Check.in_range(max(0.0, lo - margin), hi + margin), nullable=False)
    columns["label"] = pa.Column(int, pa.Check.isin([0, 1]), nullable=False, required=False)
    # Not a model input: the slice ROB005 judges quality on (tumour size above or below the median radius).
    columns["size_band"] = pa.Column(str, pa.Check.isin(["large", "small"]), nullable=False, required=False)
    return pa.DataFrameSchema(columns, strict=True, coerce=False, name="breast_cancer")


def export_onnx(model, n_features: int, version: str = "1.0.0") -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onx.doc_string = "Logistic regression on the Wisconsin breast-cancer data (scikit-learn)."
    onx.model_version = 1
    for key, value in {"name": "breast-cancer", "version": version}.items():
        prop = onx.metadata_props.add()
        prop.key, prop.value = key, value
    return onx.SerializeToString()


SERVING = """\
# How one request row becomes the model's input, and what the service promises.
inputs:
  - name: input
    dtype: float32
    shape: [-1, {n}]
    features: [{features}]
    on_invalid: score
outputs:
  - name: label
    kind: label
    classes: [0, 1]
  - name: probabilities
    kind: probabilities
    classes: [0, 1]
runtime:
  engine: onnxruntime
  version: ">=1.17"
  providers: [CPUExecutionProvider]
  intra_op_threads: 1
batching:
  max_batch_size: 64
slo:
  latency:
    - {{ batch_size: 1, p50_ms: 5, p99_ms: 20 }}
    - {{ batch_size: 64, p99_ms: 50 }}
  throughput_rps: 1000
resources:
  max_model_mb: 10
  max_memory_mb: 512
  max_load_ms: 2000
timeout_ms: 100
"""

MANIFEST = """\
[model]
path = "model.onnx"
source = "model.skops"
name = "breast-cancer"
version = "1.0.0"
task = "binary_classification"
description = "Logistic regression that flags malignant tumours from 30 cell-nucleus measurements."

[data]
schema = "schema.yaml"
reference = "reference.csv"
target = "label"
slices = ["size_band"]

[serving]
config = "serving.yaml"

[card]
owner = "ml-examples@example.com"
intended_use = "Demonstration of readiness on a small tabular classifier; not for clinical use."
limitations = "Trained on 398 rows of one public data set; not validated on other populations."

[monitoring]
owner = "ml-examples@example.com"
alert_metric = "roc_auc"
drift = {{ default = 0.1 }}

[lineage]
code_version = "{code_version}"
data_fingerprint = "sha256:{data_sha256}"
seed = {seed}
environment = "requirements.lock"
training_data = "train.csv"
training_metrics = {{ {metrics} }}

[baseline]
manifest = "production/readiness.toml"

[policy]
fail_on = "major"

[policy.thresholds]
min_metric = {{ roc_auc = 0.90 }}
"""

BASELINE_MANIFEST = """\
# The model serving in production today: what the candidate must not regress against.
[model]
path = "model.onnx"
name = "breast-cancer"
version = "0.9.0"
task = "binary_classification"

[serving]
config = "serving.yaml"
"""

LOCKED_PACKAGES = ("numpy", "pandas", "pandera", "scikit-learn", "skl2onnx", "skops", "onnx", "onnxruntime")


def environment_lock() -> str:
    """Pinned versions of the packages that shaped the model (pip requirements format)."""
    lines = [f"# python {sys.version.split()[0]}"]
    for name in LOCKED_PACKAGES:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return "\n".join(lines) + "\n"


def holdout_metrics(model, X_ref: pd.DataFrame, y_ref: pd.Series) -> dict[str, float]:
    """The metrics claimed for the model, measured with scikit-learn on the holdout."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    X = X_ref.to_numpy(dtype=np.float64)
    proba = model.predict_proba(X)
    labels = model.predict(X)
    return {
        "roc_auc": roc_auc_score(y_ref, proba[:, 1]),
        "accuracy": accuracy_score(y_ref, labels),
        "f1": f1_score(y_ref, labels),
        "log_loss": log_loss(y_ref, proba),
    }


def build(out: Path = HERE, seed: int = SEED) -> Path:
    """Write the bundle into `out` and return the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    X, y = load_data()
    X_train, X_ref, y_train, y_ref = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    model.fit(X_train.to_numpy(dtype=np.float32), y_train.to_numpy())

    (out / "model.onnx").write_bytes(export_onnx(model, X.shape[1]))
    (out / "schema.yaml").write_text(build_schema(X).to_yaml())
    reference = X_ref.assign(label=y_ref.to_numpy()).reset_index(drop=True)
    median_radius = float(X["mean_radius"].median())
    reference["size_band"] = np.where(reference["mean_radius"] > median_radius, "large", "small")
    reference.to_csv(out / "reference.csv", index=False, float_format="%.10g")
    features = ", ".join(X.columns)
    (out / "serving.yaml").write_text(SERVING.format(n=X.shape[1], features=features))
    import skops.io as sio

    sio.dump(model, out / "model.skops")
    train = X_train.assign(label=y_train.to_numpy()).reset_index(drop=True)
    train.to_csv(out / "train.csv", index=False, float_format="%.10g")
    (out / "requirements.lock").write_text(environment_lock())
    claimed = holdout_metrics(model, X_ref, y_ref)
    production = out / "production"
    production.mkdir(exist_ok=True)
    previous = make_pipeline(StandardScaler(), LogisticRegression(C=0.001, max_iter=1000, random_state=seed))
    previous.fit(X_train.to_numpy(dtype=np.float32), y_train.to_numpy())
    (production / "model.onnx").write_bytes(export_onnx(previous, X.shape[1], version="0.9.0"))
    (production / "serving.yaml").write_text((out / "serving.yaml").read_text())
    (production / "readiness.toml").write_text(BASELINE_MANIFEST)
    (out / "readiness.toml").write_text(
        MANIFEST.format(
            code_version="train.py@" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12],
            data_sha256=hashlib.sha256((out / "train.csv").read_bytes()).hexdigest(),
            seed=seed,
            metrics=", ".join(f"{name} = {value:.6f}" for name, value in claimed.items()),
        )
    )
    return out / "readiness.toml"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    print(f"wrote {build(target)}")
