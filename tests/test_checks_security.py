"""SEC001-SEC003: each with a bundle that has the defect (fail) and one that does not (pass)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import feature_names, prob_model, run_check, serving_config, tabular_data, write_bundle
from onnx import helper

from readiness import evaluate
from readiness.registry import default_registry


def every_check_but_latency() -> list[str]:
    return [spec.id for spec in default_registry() if not spec.id.startswith("LAT")]


# --------------------------------------------------------------------------- SEC001
def external_bundle(tmp_path: Path, location: str) -> Path:
    """A bundle whose model keeps its weights in external data, then points `W` at `location`."""
    bundle = write_bundle(tmp_path / "bundle")
    onnx.save_model(prob_model(), bundle / "model.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    model = onnx.load(bundle / "model.onnx", load_external_data=False)
    for tensor in model.graph.initializer:
        if tensor.name == "W":
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
    (bundle / "model.onnx").write_bytes(model.SerializeToString())
    return bundle


def test_sec001_passes_external_data_inside_the_bundle(tmp_path):
    rec = run_check(external_bundle(tmp_path, "w.bin"), "SEC001")
    assert rec.status == "pass", rec.message
    assert rec.measured == {"external_tensors": 3, "unsafe": 0}


def test_sec001_passes_inline_tensors(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "SEC001")
    assert rec.status == "pass" and "no external data" in rec.message


@pytest.mark.parametrize(
    "location, why",
    [
        ("../secret.bin", "'..' component"),
        ("sub/../../secret.bin", "'..' component"),
        ("/etc/passwd", "absolute path"),
    ],
)
def test_sec001_fails_paths_leaving_the_bundle(tmp_path, location, why):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    rec = run_check(external_bundle(tmp_path, location), "SEC001")
    assert rec.status == "fail"
    assert repr(location) in rec.message and why in rec.message and "'W'" in rec.message


def test_sec001_fails_a_symlink_out_of_the_bundle_and_nothing_loads_it(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(4, dtype=np.float32).tobytes())
    bundle = external_bundle(tmp_path, "link.bin")
    os.symlink(secret, bundle / "link.bin")
    card, _ = evaluate(bundle, select=every_check_but_latency())
    checks = {c.id: c for c in card.checks}
    assert checks["SEC001"].status == "fail" and "through a link" in checks["SEC001"].message
    assert checks["ART001"].status == "fail" and "SEC001" in checks["ART001"].message
    # every check that needs the session refuses to load it rather than following the link
    assert checks["SCH004"].status == "error" and "SEC001" in checks["SCH004"].message
    assert "SEC001" in card.gate["blocking"]


# --------------------------------------------------------------------------- SEC002
class _CreatesMarker:
    """Unpickling this object creates a marker file (a stand-in for arbitrary code)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_sec002_passes_without_a_source(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b"), "SEC002")
    assert rec.status == "pass" and "no source model" in rec.message


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib", "model.bin"])
def test_sec002_refuses_a_pickle_and_never_unpickles_it(tmp_path, name):
    marker = tmp_path / "unpickled.txt"
    bundle = write_bundle(tmp_path / "b", manifest={"model": {"source": name}})
    (bundle / name).write_bytes(pickle.dumps(_CreatesMarker(marker), protocol=4))
    card, _ = evaluate(bundle, select=every_check_but_latency())
    rec = {c.id: c for c in card.checks}["SEC002"]
    assert rec.status == "fail"
    assert "--trust or convert to .skops" in rec.message and name in rec.message
    assert not card.gate["released"]
    assert not marker.exists()


def test_sec002_allows_a_pickle_with_trust(tmp_path):
    marker = tmp_path / "unpickled.txt"
    bundle = write_bundle(tmp_path / "b", manifest={"model": {"source": "model.pkl"}})
    (bundle / "model.pkl").write_bytes(pickle.dumps(_CreatesMarker(marker)))
    rec = run_check(bundle, "SEC002", trust=True)
    assert rec.status == "pass" and "--trust" in rec.message
    assert not marker.exists()  # the check judges; it does not load


def _double(x):
    return x * 2


def _skops_bundle(tmp_path: Path, estimator) -> Path:
    import skops.io as sio

    frame = tabular_data()
    estimator.fit(frame[feature_names(4)].to_numpy(), frame["label"].to_numpy())
    bundle = write_bundle(tmp_path / "b", manifest={"model": {"source": "model.skops"}})
    sio.dump(estimator, bundle / "model.skops")
    return bundle


def test_sec002_passes_a_skops_file_of_trusted_types(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rec = run_check(_skops_bundle(tmp_path, make_pipeline(StandardScaler(), LogisticRegression())), "SEC002")
    assert rec.status == "pass", rec.message
    assert rec.measured["refused_types"] == []


def test_sec002_names_untrusted_types_in_a_skops_file(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipeline = make_pipeline(FunctionTransformer(func=_double), LogisticRegression())
    bundle = _skops_bundle(tmp_path, pipeline)
    rec = run_check(bundle, "SEC002")
    assert rec.status == "fail"
    assert f"{__name__}._double" in rec.message and "--trust" in rec.message
    assert rec.measured["refused_types"] == [f"{__name__}._double"]
    assert run_check(bundle, "SEC002", trust=True).status == "pass"


# --------------------------------------------------------------------------- SEC003
def test_sec003_passes_standard_domains(tmp_path):
    rec = run_check(write_bundle(tmp_path / "b", prob_model(ml_opset=3)), "SEC003")
    assert rec.status == "pass", rec.message
    assert rec.measured == {"custom_domains": [], "libraries": []}


def test_sec003_fails_a_custom_op_domain_and_so_do_art001_and_art002(tmp_path):
    model = prob_model(extra_nodes=[helper.make_node("MyOp", ["logit"], ["logit_out"], domain="com.acme")])
    model.opset_import.append(helper.make_opsetid("com.acme", 1))
    card, _ = evaluate(write_bundle(tmp_path / "b", model), select=["ART001", "ART002", "SEC003"])
    checks = {c.id: c for c in card.checks}
    assert checks["SEC003"].status == "fail" and "com.acme (MyOp)" in checks["SEC003"].message
    assert checks["ART001"].status == "fail" and checks["ART002"].status == "fail"


def test_sec003_fails_a_custom_op_library_in_the_serving_config(tmp_path):
    runtime = {"providers": ["CPUExecutionProvider"], "custom_op_library": "libacme_ops.so"}
    rec = run_check(write_bundle(tmp_path / "b", serving=serving_config(runtime=runtime)), "SEC003")
    assert rec.status == "fail" and "libacme_ops.so" in rec.message


def test_sec002_fails_a_corrupt_skops_file(tmp_path):
    bundle = write_bundle(tmp_path / "b", manifest={"model": {"source": "model.skops"}})
    (bundle / "model.skops").write_bytes(b"PK\x03\x04 definitely not a zip")
    rec = run_check(bundle, "SEC002")
    assert rec.status == "fail" and "cannot be inspected as a .skops file" in rec.message


def test_sec001_fails_a_sparse_initializer_reading_outside_the_bundle(tmp_path):
    """The onnxruntime 1.26 proof of concept read through *sparse* initializer external data."""
    from onnx import TensorProto

    bundle = write_bundle(tmp_path / "b")
    model = onnx.load(bundle / "model.onnx")
    values = helper.make_tensor("sparse_values", TensorProto.FLOAT, [1], [0.0])
    values.data_location = TensorProto.EXTERNAL
    entry = values.external_data.add()
    entry.key, entry.value = "location", "../../etc/shadow"
    indices = helper.make_tensor("sparse_indices", TensorProto.INT64, [1], [0])
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    (bundle / "model.onnx").write_bytes(model.SerializeToString())
    rec = run_check(bundle, "SEC001")
    assert rec.status == "fail"
    assert "sparse_initializer.values" in rec.message and "'../../etc/shadow'" in rec.message


def test_art001_checks_and_loads_a_model_with_external_data_inside_the_bundle(tmp_path):
    rec = run_check(external_bundle(tmp_path, "w.bin"), "ART001")
    assert rec.status == "pass", rec.message
