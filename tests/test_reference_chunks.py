"""Reference data larger than memory: Parquet directories streamed in chunks, metrics merged from chunk statistics.

The bundles here keep `[data].sample_rows` small so the streaming path runs on data a test can
afford; every metric is compared with its exact value computed here, independently, on all rows.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from builders import edit_manifest, evaluate_checks, prob_model, schema_yaml, tabular_data, write_bundle
from sklearn import metrics as skm

from readiness.bundle import load_bundle
from readiness.chunked import Stats, order_bins
from readiness.runtime import Predictions

ROWS = 60_000
SAMPLE = 4_000
METRICS = ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss")


def _frame(rows: int, seed: int) -> pd.DataFrame:
    frame = tabular_data(n_rows=rows, n_features=4, seed=seed)
    rng = np.random.default_rng(seed + 100)
    frame["band"] = rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2])
    return frame


def _write_parquet_dir(frame: pd.DataFrame, directory: Path, parts: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[part].to_parquet(directory / f"part-{i:03d}.parquet", index=False)


def _big_bundle(root: Path, frame: pd.DataFrame, *, sample_rows: int = SAMPLE, bars: dict | None = None) -> Path:
    bundle = write_bundle(
        root,
        prob_model(4),
        reference=frame.head(200),
        schema=schema_yaml(frame),
        manifest={"policy": {"thresholds": {"min_metric": bars or {"roc_auc": 0.5}}}},
    )
    _write_parquet_dir(frame, bundle / "reference", parts=6)
    (bundle / "reference.csv").unlink()

    def edit(table: dict) -> None:
        table["data"].update({"reference": "reference", "sample_rows": sample_rows, "slices": ["band"]})

    edit_manifest(bundle, edit)
    return bundle


def _exact(frame: pd.DataFrame) -> dict[str, float]:
    """Every metric on every row, computed here with onnxruntime and scikit-learn (not with readiness)."""
    session = ort.InferenceSession(prob_model(4).SerializeToString(), providers=["CPUExecutionProvider"])
    X = frame[["f0", "f1", "f2", "f3"]].to_numpy(np.float32)
    label, proba = session.run(None, {"input": X})
    y = frame["label"].to_numpy()
    return {
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "accuracy": skm.accuracy_score(y, label),
        "f1": skm.f1_score(y, label),
        "precision": skm.precision_score(y, label),
        "recall": skm.recall_score(y, label),
        "log_loss": _log_loss(y, proba),
    }


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    p = proba.astype(np.float64)
    p = p / p.sum(axis=1, keepdims=True)  # float32 rows may miss 1 by an ulp
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = _frame(ROWS, seed=1)
    bars = {"roc_auc": 0.5, "accuracy": 0.5, "f1": 0.5, "precision": 0.5, "recall": 0.5, "log_loss": 2.0}
    return _big_bundle(tmp_path_factory.mktemp("big"), frame, bars=bars), frame


@pytest.fixture(scope="module")
def big_card(big: tuple[Path, pd.DataFrame]):
    bundle, _ = big
    return evaluate_checks(bundle, "QLT001", "QLT003", "ROB005", "SCH003", seed=5)


def _checks(card) -> dict:
    return {c.id: c for c in card.checks}


def test_a_parquet_directory_larger_than_sample_rows_keeps_only_a_seeded_sample_in_memory(big) -> None:
    bundle_dir, frame = big
    bundle = load_bundle(bundle_dir)
    assert bundle.reference_data.rows == ROWS
    assert bundle.reference_data.sampled and len(bundle.reference) == SAMPLE
    again = load_bundle(bundle_dir)
    pd.testing.assert_frame_equal(bundle.reference, again.reference)  # the same rows on every run
    # a uniform sample: its class balance is the whole data's, within sampling error
    assert abs(bundle.reference["label"].mean() - frame["label"].mean()) < 0.03
    streamed = pd.concat(list(bundle.reference_data.batches(chunk_rows=7_000)))
    assert streamed.index.tolist() == list(range(ROWS))
    pd.testing.assert_frame_equal(streamed.reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False)


def test_every_metric_is_within_its_stated_bounds_of_the_exact_full_data_value(big, big_card) -> None:
    _, frame = big
    exact = _exact(frame)
    record = _checks(big_card)["QLT001"]
    assert record.status == "pass", record.message
    assert record.evidence["rows"] == ROWS
    assert f"on {ROWS} reference rows" in record.message
    for name in METRICS:
        entry = record.measured[name]
        assert entry["ci_lower"] <= exact[name] <= entry["ci_upper"], (name, entry, exact[name])
        # counts merge exactly; the AUC is binned (pairs sharing one of 2**18 bins count one half)
        assert entry["value"] == pytest.approx(exact[name], abs=1e-4 if name == "roc_auc" else 1e-6), name
    methods = record.evidence["method"]
    assert "histograms" in methods["roc_auc"] and "Clopper-Pearson" in methods["precision"]
    assert "bootstrap" in methods["f1"] and f"sample of {SAMPLE} of {ROWS}" in methods["f1"]
    assert big_card.bundle["reference_rows"] == ROWS


def test_the_trivial_predictor_is_measured_on_every_row(big, big_card) -> None:
    _, frame = big
    record = _checks(big_card)["QLT003"]
    share = frame["label"].mean()
    assert record.measured["accuracy"]["trivial"] == pytest.approx(max(share, 1 - share), abs=1e-6)
    assert record.measured["roc_auc"]["trivial"] == 0.5
    assert record.measured["roc_auc"]["model"] == pytest.approx(_exact(frame)["roc_auc"], abs=1e-4)


def test_slice_groups_count_every_row_and_their_metrics_are_exact(big, big_card) -> None:
    _, frame = big
    record = _checks(big_card)["ROB005"]
    groups = {g["group"]: g for g in record.evidence["groups"]}
    assert set(groups) == {"a", "b", "c"}
    session = ort.InferenceSession(prob_model(4).SerializeToString(), providers=["CPUExecutionProvider"])
    proba = session.run(None, {"input": frame[["f0", "f1", "f2", "f3"]].to_numpy(np.float32)})[1][:, 1]
    for key, entry in groups.items():
        mask = (frame["band"] == key).to_numpy()
        assert entry["size"] == int(mask.sum())
        exact = skm.roc_auc_score(frame["label"][mask], proba[mask])
        assert entry["roc_auc"] == pytest.approx(exact, abs=1e-4)
        assert entry["ci_lower"] <= exact <= entry["ci_upper"]


def test_schema_validation_runs_chunk_by_chunk_and_counts_every_failure(tmp_path: Path) -> None:
    frame = _frame(20_000, seed=2)
    bad = np.random.default_rng(0).choice(len(frame), size=37, replace=False)
    frame.loc[bad, "f2"] = 9.5  # outside the schema's [-3, 3]
    bundle = _big_bundle(tmp_path / "b", frame, sample_rows=1_000)
    (bundle / "schema.yaml").write_text(schema_yaml(frame.drop(index=bad)))
    record = _checks(evaluate_checks(bundle, "SCH003"))["SCH003"]
    assert record.status == "fail"
    assert record.measured["failures"] == 37 and record.measured["failing_rows"] == 37
    assert f"in 37 of {len(frame)} row(s)" in record.message
    group = record.evidence["failures"][0]
    assert group["column"] == "f2" and group["failures"] == 37
    assert set(group["rows"]) <= set(bad.tolist())  # row numbers count across every file


def test_a_defective_model_fails_on_streamed_data_as_on_data_in_memory(tmp_path: Path) -> None:
    frame = _frame(30_000, seed=3)
    frame["label"] = 1 - frame["label"]  # the model now ranks every row the wrong way round
    streamed = _big_bundle(tmp_path / "s", frame, sample_rows=2_000, bars={"roc_auc": 0.8})
    whole = _big_bundle(tmp_path / "w", frame, sample_rows=50_000, bars={"roc_auc": 0.8})
    a = _checks(evaluate_checks(streamed, "QLT001", "QLT003"))
    b = _checks(evaluate_checks(whole, "QLT001", "QLT003"))
    assert a["QLT001"].status == b["QLT001"].status == "fail"
    assert a["QLT003"].status == b["QLT003"].status == "fail"
    assert a["QLT001"].measured["roc_auc"]["value"] == pytest.approx(b["QLT001"].measured["roc_auc"]["value"], abs=1e-4)
    assert "chunks" in a["QLT001"].evidence["scored"] and "in memory" in b["QLT001"].evidence["scored"]


def test_the_same_data_and_seed_give_the_same_streamed_verdicts(big) -> None:
    bundle, _ = big
    one = _checks(evaluate_checks(bundle, "QLT001", seed=9))["QLT001"]
    two = _checks(evaluate_checks(bundle, "QLT001", seed=9))["QLT001"]
    assert one.measured == two.measured and one.message == two.message


def test_regression_metrics_merge_exactly(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from readiness.testing import sklearn_onnx

    rng = np.random.default_rng(7)
    X = rng.uniform(-3, 3, size=(24_000, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.7, size=len(X))
    frame = pd.DataFrame(X, columns=["f0", "f1", "f2", "f3"]).assign(label=y)
    model = sklearn_onnx(LinearRegression().fit(X[:500], y[:500]), 4)
    serving = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4], "features": ["f0", "f1", "f2", "f3"]}],
        "outputs": [{"name": "variable", "kind": "regression"}],
        "batching": {"max_batch_size": 64},
    }
    bars = {"r2": 0.5, "rmse": 2.0, "mae": 2.0}
    bundle = write_bundle(
        tmp_path / "r",
        model,
        serving=serving,
        reference=frame.head(100),
        schema="",
        manifest={"model": {"task": "regression"}, "policy": {"thresholds": {"min_metric": bars}}},
    )
    _write_parquet_dir(frame, bundle / "ref", parts=3)
    edit_manifest(bundle, lambda t: t["data"].update({"reference": "ref", "sample_rows": 1_500}))
    record = _checks(evaluate_checks(bundle, "QLT001"))["QLT001"]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    pred = session.run(None, {"input": X.astype(np.float32)})[0].ravel().astype(np.float64)
    exact = {
        "r2": skm.r2_score(y, pred),
        "rmse": math.sqrt(skm.mean_squared_error(y, pred)),
        "mae": skm.mean_absolute_error(y, pred),
    }
    assert record.status == "pass", record.message
    for name, value in exact.items():
        entry = record.measured[name]
        assert entry["value"] == pytest.approx(value, rel=1e-6), name
        assert entry["ci_lower"] <= value <= entry["ci_upper"], (name, entry, value)


def test_auc_from_merged_histograms_matches_the_exact_auc_within_the_binning_bound() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, size=50_000)
    score = 1 / (1 + np.exp(-(rng.normal(size=len(y)) + 1.2 * y)))
    stats = Stats("binary_classification")
    for part in np.array_split(np.arange(len(y)), 7):  # chunk by chunk
        proba = np.stack([1 - score[part], score[part]], axis=1).astype(np.float32)
        stats.add(
            y[part], Predictions(raw={}, probabilities=proba, labels=(score[part] > 0.5).astype(int), classes=[0, 1])
        )
    auc, sd, tie = stats.auc()
    exact = skm.roc_auc_score(y, score.astype(np.float32))
    assert abs(auc - exact) <= tie + 1e-12
    assert 0 < sd < 0.01
    # bins follow the order of the scores, negatives and logits included
    values = np.array([-1e9, -3.5, -1e-30, 0.0, 1e-30, 0.25, 0.5, 3.5, 1e9], dtype=np.float32)
    assert np.all(np.diff(order_bins(values)) >= 0) and order_bins(values)[0] < order_bins(values)[-1]


def test_a_symlink_in_the_parquet_directory_that_leaves_the_workspace_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _frame(50, seed=1).to_parquet(outside / "secret.parquet", index=False)
    bundle = _big_bundle(tmp_path / "ws" / "b", _frame(3_000, seed=1), sample_rows=1_000)
    (bundle / ".git").mkdir()  # the bundle's own directory is the workspace root
    os.symlink(outside / "secret.parquet", bundle / "reference" / "zz.parquet")
    from click.testing import CliRunner

    from readiness.cli import main

    result = CliRunner().invoke(main, ["check", str(bundle), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "[data].reference" in result.output and "outside the workspace root" in result.output
    assert "Traceback" not in result.output


def test_parquet_files_that_disagree_on_their_columns_are_a_clear_error(tmp_path: Path) -> None:
    bundle = _big_bundle(tmp_path / "b", _frame(3_000, seed=1), sample_rows=1_000)
    _frame(10, seed=2).drop(columns=["f3"]).to_parquet(bundle / "reference" / "part-999.parquet", index=False)
    from click.testing import CliRunner

    from readiness.cli import main

    result = CliRunner().invoke(main, ["check", str(bundle), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "part-999.parquet" in result.output and "[data].reference" in result.output
    assert "Traceback" not in result.output


def test_small_parquet_data_is_read_whole_and_judged_as_before(tmp_path: Path) -> None:
    frame = _frame(3_000, seed=4)
    bundle = _big_bundle(tmp_path / "b", frame, sample_rows=50_000)
    loaded = load_bundle(bundle)
    assert not loaded.reference_data.sampled and len(loaded.reference) == 3_000
    record = _checks(evaluate_checks(bundle, "QLT001"))["QLT001"]
    assert record.measured["roc_auc"]["value"] == pytest.approx(_exact(frame)["roc_auc"], abs=1e-6)


def test_under_ray_the_parquet_files_are_scored_as_tasks_and_merge_to_the_same_statistics(big, monkeypatch) -> None:
    ray = pytest.importorskip("ray", reason="ray (the test extra) is not installed")
    from readiness.chunked import RAY_CHUNKS_ENV

    bundle, _ = big
    here = _checks(evaluate_checks(bundle, "QLT001", "ROB005", seed=5))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        monkeypatch.setenv(RAY_CHUNKS_ENV, ray.get_runtime_context().gcs_address)
        there = _checks(evaluate_checks(bundle, "QLT001", "ROB005", seed=5))
    finally:
        ray.shutdown()
    assert there["QLT001"].status == "pass", there["QLT001"].message
    assert "6 Ray tasks" in there["QLT001"].evidence["scored"]
    assert "this process" in here["QLT001"].evidence["scored"]
    assert there["QLT001"].measured == here["QLT001"].measured
    assert there["ROB005"].evidence["groups"] == here["ROB005"].evidence["groups"]
