"""Train the classifier and write it as a readiness bundle (model.onnx, schema, serving config, holdout).

python -m tumour.train OUT_DIR
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .features import FEATURES, select_features

SEED = 7

SERVING = """\
inputs:
  - name: input
    dtype: float32
    shape: [-1, {n}]
    features: [{features}]
outputs:
  - {{name: label, kind: label, classes: [0, 1]}}
  - {{name: probabilities, kind: probabilities, classes: [0, 1]}}
runtime:
  providers: [CPUExecutionProvider]
  intra_op_threads: 1
batching:
  max_batch_size: 32
slo:
  latency:
    - {{batch_size: 1, p99_ms: 20}}
resources:
  max_model_mb: 5
"""

MANIFEST = """\
[model]
path = "model.onnx"
name = "tumour-classifier"
version = "0.1.0"
task = "binary_classification"

[data]
schema = "schema.yaml"
reference = "holdout.csv"
target = "label"

[serving]
config = "serving.yaml"

[card]
owner = "ml-team@example.com"
intended_use = "Example of readiness checks inside an existing test suite; not for clinical use."
limitations = "Eight features of one public data set."

[monitoring]
owner = "ml-team@example.com"
alert_metric = "roc_auc"
drift = {{ default = 0.1 }}

[lineage]
code_version = "tumour.train (this repository)"
data_fingerprint = "sha256:{data_sha256}"
seed = {seed}
environment = "the repository's pyproject.toml test dependencies"

[policy]
fail_on = "major"
"""


def schema_yaml(frame: pd.DataFrame) -> str:
    import pandera.pandas as pa

    columns = {}
    for col in FEATURES:
        lo, hi = float(frame[col].min()), float(frame[col].max())
        margin = 0.1 * (hi - lo)
        columns[col] = pa.Column(float, pa.Check.in_range(max(0.0, lo - margin), hi + margin), nullable=False)
    columns["label"] = pa.Column(int, pa.Check.isin([0, 1]), nullable=False, required=False)
    return pa.DataFrameSchema(columns, strict=True, name="tumour").to_yaml()


def build(out: Path) -> Path:
    """Train (seeded), export to ONNX and write the bundle into `out`; return the manifest path."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    raw = load_breast_cancer(as_frame=True)
    X, y = select_features(raw.data), raw.target.rename("label")
    X_train, X_ref, y_train, y_ref = train_test_split(X, y, test_size=0.3, random_state=SEED, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    model.fit(X_train.to_numpy(dtype=np.float32), y_train.to_numpy())
    onx = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, len(FEATURES)]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onx.doc_string = "Logistic regression on eight breast-cancer features."
    for key, value in {"name": "tumour-classifier", "version": "0.1.0"}.items():
        prop = onx.metadata_props.add()
        prop.key, prop.value = key, value

    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(onx.SerializeToString())
    (out / "schema.yaml").write_text(schema_yaml(X))
    X_ref.assign(label=y_ref.to_numpy()).to_csv(out / "holdout.csv", index=False, float_format="%.10g")
    (out / "serving.yaml").write_text(SERVING.format(n=len(FEATURES), features=", ".join(FEATURES)))
    train_csv = X_train.assign(label=y_train.to_numpy()).to_csv(index=False, float_format="%.10g")
    digest = hashlib.sha256(train_csv.encode()).hexdigest()
    (out / "readiness.toml").write_text(MANIFEST.format(data_sha256=digest, seed=SEED))
    return out / "readiness.toml"


if __name__ == "__main__":
    print(f"wrote {build(Path(sys.argv[1]))}")
