"""Test helpers for readiness checks, built-in and third-party: small seeded models and
bundles built at test time, and a one-call way to run a check on them.

    from readiness.testing import prob_model, write_bundle, run_check

    def test_acme001_fails_a_model_without_a_licence(tmp_path):
        bundle = write_bundle(tmp_path / "b")                    # a clean 4-feature classifier
        assert run_check(bundle, "ACME001").status == "fail"

Or, as pytest ships `pytester`, a fixture (enable it with
`pytest_plugins = ["readiness.testing"]` in your conftest.py):

    def test_acme001_passes_a_licensed_model(readiness_tester):
        bundle = readiness_tester.bundle(model=readiness_tester.prob_model(metadata={"license": "MIT"}))
        assert readiness_tester.run("ACME001", bundle).status == "pass"

`run_check` accepts a check id (of any installed check) or a function decorated with
`@check` that is not installed yet (it is added to the installed checks for that run).
Models are made with `onnx.helper` (for defects no exporter would produce) or with
scikit-learn + skl2onnx (`sklearn_onnx`, needs `readiness[sklearn]`). Nothing is cached on
disk between runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import pandas as pd
import tomli_w
import yaml
from onnx import TensorProto, helper, numpy_helper

from .bundle import Bundle
from .engine import evaluate
from .registry import CheckSpec, Registry, default_registry
from .scorecard import CheckRecord, Scorecard

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OPSET = 17
IR_VERSION = 9


def make_model(
    nodes: Sequence[Any],
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    initializers: Sequence[Any] = (),
    *,
    opset: int = OPSET,
    ml_opset: int | None = None,
    doc: str = "test model",
    metadata: dict[str, str] | None = None,
    producer: str = "readiness-tests",
) -> onnx.ModelProto:
    """An ONNX model from `onnx.helper` nodes and value infos (IR 9, opset 17 unless told)."""
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    opsets = [helper.make_opsetid("", opset)]
    if ml_opset is not None:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ml_opset))
    model = helper.make_model(graph, opset_imports=opsets, producer_name=producer, producer_version="1.0")
    model.ir_version = IR_VERSION
    model.doc_string = doc
    model.model_version = 1
    for k, v in (metadata or {}).items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    return model


def weights(n_features: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """Seeded logistic-regression weights and bias (what `prob_model` and `tabular_data` share)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=n_features).astype(np.float32), float(rng.normal())


def prob_model(
    n_features: int = 4,
    seed: int = 0,
    *,
    extra_nodes: Sequence[Any] = (),
    logit: str = "logit",
    **kw: Any,
) -> onnx.ModelProto:
    """A logistic binary classifier: input [N, n] float32 -> label [N] int64, probabilities [N, 2].

    `extra_nodes` may rewrite the logit: they read `logit` and must write `logit_out`.
    """
    w, b = weights(n_features, seed)
    inits = [
        numpy_helper.from_array(w.reshape(n_features, 1), "W"),
        numpy_helper.from_array(np.array([b], dtype=np.float32), "B"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logit"]),
    ]
    final = "logit"
    if extra_nodes:
        nodes.extend(extra_nodes)
        final = "logit_out"
    nodes += [
        helper.make_node("Sigmoid", [final], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_features])]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
    ]
    return make_model(nodes, inputs, outputs, inits, **kw)


def feature_names(n_features: int) -> list[str]:
    """The column names the builders use: f0, f1, ..."""
    return [f"f{i}" for i in range(n_features)]


def tabular_data(n_rows: int = 200, n_features: int = 4, seed: int = 0, *, model_seed: int = 0) -> pd.DataFrame:
    """Features uniform in [-3, 3] and a 0/1 `label` that prob_model(seed=model_seed) mostly gets right."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n_rows, n_features)).round(4)
    w, b = weights(n_features, model_seed)
    logit = X @ w + b + rng.normal(scale=0.5, size=n_rows)
    frame = pd.DataFrame(X, columns=feature_names(n_features))
    frame["label"] = (logit > 0).astype(int)
    return frame


def schema_yaml(
    frame: pd.DataFrame,
    *,
    target: str | None = "label",
    bounds: tuple[float, float] | None = (-3.0, 3.0),
    nullable: bool = False,
) -> str:
    """A strict pandera schema (YAML) describing `frame`: numeric columns within `bounds`, others enumerated."""
    import pandera.pandas as pa

    cols = {}
    for col in frame.columns:
        if col == target:
            cols[col] = pa.Column(int, pa.Check.isin(sorted(set(frame[col].tolist()))), required=False)
        elif not pd.api.types.is_numeric_dtype(frame[col]):
            cols[col] = pa.Column(str, pa.Check.isin(sorted(set(frame[col].tolist()))), nullable=nullable)
        else:
            checks = [pa.Check.in_range(*bounds)] if bounds else []
            cols[col] = pa.Column(float, checks, nullable=nullable)
    return str(pa.DataFrameSchema(cols, strict=True).to_yaml())


def serving_config(
    n_features: int = 4,
    *,
    max_batch_size: int = 16,
    features: list[str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A serving config (as data) for `prob_model`: one [-1, n] float32 input, label and probabilities out."""
    cfg: dict[str, Any] = {
        "inputs": [
            {
                "name": "input",
                "dtype": "float32",
                "shape": [-1, n_features],
                "features": features or feature_names(n_features),
            }
        ],
        "outputs": [
            {"name": "label", "kind": "label", "classes": [0, 1]},
            {"name": "probabilities", "kind": "probabilities", "classes": [0, 1]},
        ],
        "runtime": {"providers": ["CPUExecutionProvider"], "intra_op_threads": 1},
        "batching": {"max_batch_size": max_batch_size},
    }
    cfg.update(overrides)
    return cfg


def write_bundle(
    directory: Path,
    model: onnx.ModelProto | bytes | None = None,
    *,
    serving: dict[str, Any] | Literal[False] | None = None,
    reference: pd.DataFrame | Literal[False] | None = None,
    schema: str | None = None,
    target: str | None = "label",
    manifest: dict[str, Any] | None = None,
    n_features: int = 4,
) -> Path:
    """Write a bundle; defaults give a clean 4-feature binary classifier bundle. Returns the directory.

    `serving=False` or `reference=False` leave that part out; `manifest` merges tables into
    readiness.toml (e.g. `{"card": {...}}`, `{"policy": {"thresholds": {...}}}`).
    """
    directory.mkdir(parents=True, exist_ok=True)
    model = prob_model(n_features) if model is None else model
    (directory / "model.onnx").write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    reference = tabular_data(n_features=n_features) if reference is None else reference
    serving = serving_config(n_features) if serving is None else serving
    table: dict[str, Any] = {"model": {"path": "model.onnx", "name": "test-model", "version": "1.0.0"}}
    if serving is not False:
        (directory / "serving.yaml").write_text(yaml.safe_dump(serving, sort_keys=False))
        table["serving"] = {"config": "serving.yaml"}
    data: dict[str, Any] = {}
    if reference is not False:
        reference.to_csv(directory / "reference.csv", index=False)
        data["reference"] = "reference.csv"
        if target:
            data["target"] = target
    schema = schema_yaml(reference, target=target) if schema is None and reference is not False else schema
    if schema:
        (directory / "schema.yaml").write_text(schema)
        data["schema"] = "schema.yaml"
    if data:
        table["data"] = data
    for key, value in (manifest or {}).items():
        if isinstance(value, dict) and isinstance(table.get(key), dict):
            table[key].update(value)
        else:
            table[key] = value
    (directory / "readiness.toml").write_text(tomli_w.dumps(table))
    return directory


def sklearn_onnx(estimator: Any, n_features: int, *, zipmap: bool = False) -> onnx.ModelProto:
    """A fitted scikit-learn estimator as ONNX (needs `pip install readiness[sklearn]`)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(estimator): {"zipmap": False}} if not zipmap and hasattr(estimator, "predict_proba") else None
    return convert_sklearn(
        estimator,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options=options,
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )


def edit_manifest(bundle: Path, edit: Callable[[dict[str, Any]], Any]) -> None:
    """Apply `edit(table)` to the bundle's readiness.toml as data (a table may already exist)."""
    toml = bundle / "readiness.toml"
    table = tomllib.loads(toml.read_text())
    edit(table)
    toml.write_text(tomli_w.dumps(table))


def update_manifest(bundle: Path, **tables: Any) -> None:
    """Merge tables into the bundle's readiness.toml: `update_manifest(b, lineage={"seed": 1})` merges,
    a non-table value replaces, None removes the table (`update_manifest(b, lineage=None)`)."""

    def edit(table: dict[str, Any]) -> None:
        for key, value in tables.items():
            if value is None:
                table.pop(key, None)
            elif isinstance(value, dict) and isinstance(table.get(key), dict):
                table[key].update(value)
            else:
                table[key] = value

    edit_manifest(bundle, edit)


def set_thresholds(bundle: Path, **values: Any) -> None:
    """Merge `values` into the manifest's [policy.thresholds]."""
    edit_manifest(bundle, lambda t: t.setdefault("policy", {}).setdefault("thresholds", {}).update(values))


# --------------------------------------------------------------------------- running checks
CheckLike = str | Callable[..., Any] | CheckSpec


def _spec_of(check: CheckLike) -> CheckSpec | None:
    if isinstance(check, CheckSpec):
        return check
    spec = getattr(check, "__readiness_check__", None)
    if isinstance(spec, CheckSpec):
        return spec
    if isinstance(check, str):
        return None
    raise TypeError(f"expected a check id or a function decorated with @check, got {check!r}")


def _registry_with(checks: Sequence[CheckLike]) -> Registry:
    registry = default_registry()
    for item in checks:
        spec = _spec_of(item)
        if spec is not None and spec.id not in registry:
            registry.add(spec)
    return registry


def evaluate_checks(bundle: Path | str | Bundle, *checks: CheckLike, **kwargs: Any) -> Scorecard:
    """Run the given checks (ids, or `@check` functions) on a bundle; return the scorecard.

    Keyword arguments go to `readiness.evaluate` (`seed=`, `trust=`, `fail_on=`, `today=` ...).
    """
    if not checks:
        raise ValueError("name at least one check")
    ids = [spec.id if (spec := _spec_of(c)) is not None else str(c) for c in checks]
    registry = kwargs.pop("registry", None) or _registry_with(checks)
    target = bundle if isinstance(bundle, Bundle) else Path(bundle)
    scorecard, _ = evaluate(target, select=ids, registry=registry, **kwargs)
    return scorecard


def run_checks(bundle: Path | str | Bundle, *checks: CheckLike, **kwargs: Any) -> dict[str, CheckRecord]:
    """Run checks on a bundle; their records by id (every selected check, e.g. all of a prefix "ROB")."""
    return {record.id: record for record in evaluate_checks(bundle, *checks, **kwargs).checks}


def run_check(bundle: Path | str | Bundle, check: CheckLike, **kwargs: Any) -> CheckRecord:
    """Run one check on a bundle and return its record (`.status`, `.message`, `.measured`, `.evidence`)."""
    spec = _spec_of(check)
    check_id = spec.id if spec is not None else str(check)
    return evaluate_checks(bundle, check, **kwargs).check(check_id)


# --------------------------------------------------------------------------- the pytest fixture
class ReadinessTester:
    """Build bundles in a test's temporary directory and run checks on them (the `readiness_tester` fixture)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._count = 0
        self.prob_model = prob_model
        self.make_model = make_model
        self.tabular_data = tabular_data
        self.serving_config = serving_config
        self.schema_yaml = schema_yaml

    def bundle(self, name: str | None = None, **kwargs: Any) -> Path:
        """`write_bundle` into a fresh directory under the test's tmp_path (same keyword arguments)."""
        self._count += 1
        return write_bundle(self.tmp_path / (name or f"bundle{self._count}"), **kwargs)

    def run(self, check: CheckLike, bundle: Path | None = None, **kwargs: Any) -> CheckRecord:
        """Run one check on `bundle` (default: a fresh clean bundle) and return its record."""
        return run_check(self.bundle() if bundle is None else bundle, check, **kwargs)

    def run_many(self, bundle: Path, *checks: CheckLike, **kwargs: Any) -> dict[str, CheckRecord]:
        return run_checks(bundle, *checks, **kwargs)


try:  # the fixture needs pytest; the builders and runners do not
    import pytest
except ImportError:  # pragma: no cover - pytest is not installed
    pass
else:

    @pytest.fixture
    def readiness_tester(tmp_path: Path) -> ReadinessTester:
        """Build bundles and run readiness checks on them (enable with `pytest_plugins = ["readiness.testing"]`)."""
        return ReadinessTester(tmp_path)


__all__ = [
    "IR_VERSION",
    "OPSET",
    "ReadinessTester",
    "edit_manifest",
    "evaluate_checks",
    "feature_names",
    "make_model",
    "prob_model",
    "readiness_tester",
    "run_check",
    "run_checks",
    "schema_yaml",
    "serving_config",
    "set_thresholds",
    "sklearn_onnx",
    "tabular_data",
    "update_manifest",
    "weights",
    "write_bundle",
]
