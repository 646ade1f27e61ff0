"""LAT checks time requests drawn from the whole reference data, so a slow path that a few rows take
shows in the percentiles it affects (p99), not in the median."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from builders import serving_config, write_bundle
from onnx import TensorProto, helper, numpy_helper

from readiness import evaluate

SLOW_SHARE = 0.03  # rows whose second feature switches the slow path on


def slow_path_model(iterations: int = 200, size: int = 32) -> onnx.ModelProto:
    """y = x @ w, plus a Loop of `iterations` (size x size) MatMuls that runs only when the batch's
    feature f1 is > 0.5 (its trip count is iterations * max(f1 > 0.5)): at batch size 1, the rows
    with f1 = 1 take the slow path."""
    rng = np.random.default_rng(0)
    state0 = numpy_helper.from_array(np.eye(size, dtype=np.float32), "state0")
    mat = numpy_helper.from_array((rng.normal(size=(size, size)) / size).astype(np.float32), "mat")
    w = numpy_helper.from_array(np.array([[1.0], [0.5]], dtype=np.float32), "w")
    consts = {
        "start": np.array([1], np.int64),
        "end": np.array([2], np.int64),
        "axis": np.array([1], np.int64),
        "half": np.array(0.5, np.float32),
        "iters": np.array(iterations, np.int64),
        "zero": np.array(0.0, np.float32),
    }
    nodes = [helper.make_node("Constant", [], [k], value=numpy_helper.from_array(v, k)) for k, v in consts.items()]
    body = helper.make_graph(
        [helper.make_node("MatMul", ["s_in", "mat"], ["s_mm"]), helper.make_node("Tanh", ["s_mm"], ["s_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [size, size]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [size, size]),
        ],
    )
    body.node.insert(0, helper.make_node("Identity", ["cond_in"], ["cond_out"]))
    nodes += [
        helper.make_node("Slice", ["input", "start", "end", "axis"], ["f1"]),
        helper.make_node("ReduceMax", ["f1"], ["f1max"], keepdims=0),
        helper.make_node("Greater", ["f1max", "half"], ["slow"]),
        helper.make_node("Cast", ["slow"], ["slow_i"], to=TensorProto.INT64),
        helper.make_node("Mul", ["slow_i", "iters"], ["trips"]),
        helper.make_node("Loop", ["trips", "", "state0"], ["state"], body=body),
        helper.make_node("ReduceSum", ["state"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("MatMul", ["input", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "nothing"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "slow_path",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        initializer=[state0, mat, w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def slow_bundle(tmp_path_factory: pytest.TempPathFactory):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"f0": rng.uniform(-1, 1, n).round(4), "f1": (rng.random(n) < SLOW_SHARE).astype(float)})
    frame.loc[: int(n * SLOW_SHARE), "f1"] = 0.0  # the first rows (the old fixed batches) are all fast
    frame["label"] = rng.normal(size=n).round(4)
    serving = serving_config(2, max_batch_size=1, outputs=[{"name": "score", "kind": "regression"}])
    return write_bundle(
        tmp_path_factory.mktemp("slow") / "b",
        slow_path_model(),
        serving=serving,
        reference=frame,
        schema=False,
        manifest={"model": {"task": "regression"}},
        n_features=2,
    ), frame


def test_a_slow_path_taken_by_few_rows_shows_in_p99_not_p50(slow_bundle):
    bundle, frame = slow_bundle
    card, _ = evaluate(bundle, select=["LAT001"], seed=3)
    record = card.check("LAT001")
    row = record.measured["batch_1"]
    # every request row was timed (the calls outnumber the rows), and the evidence says so
    assert row["distinct_rows"] == len(frame) and row["samples"] > len(frame)
    assert record.evidence["request_rows"]["batch_1"]["request_rows"] == len(frame)
    assert f"timed on up to {len(frame)} distinct of {len(frame)} request rows" in record.message
    slow_share = float((frame["f1"] > 0.5).mean())
    assert 0.015 < slow_share < 0.05
    # the slow path (~1-2% of calls or more) lifts p99 far above the median, which it leaves alone
    assert row["p99_ms"] > 5 * row["p50_ms"], row
    from readiness.timing import decode_times

    times = decode_times(record.evidence["raw_times"]["batch_1"])
    assert np.mean(times > 5 * np.median(times)) > 0.01
