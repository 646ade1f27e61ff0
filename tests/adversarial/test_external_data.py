"""External data is found wherever a model can hold a tensor, and no session is created when it escapes.

Each placement is built with onnx.helper: a tensor whose external data points outside
the model's directory (`../x`, an absolute path, `sub/../../x`, a symlink out) is put
in one place a tensor can live. SEC001 must fail naming it, and no onnxruntime session
may be created (onnxruntime would open the file from native code, which an audit hook
cannot see: the session counter is the proof that nothing read it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import prob_model, write_bundle
from onnx import TensorProto, helper, numpy_helper

from readiness import evaluate
from readiness.security import external_data_locations, unsafe_external_data


def _external(name: str, location: str) -> TensorProto:
    tensor = numpy_helper.from_array(np.ones(4, dtype=np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _sparse(location: str, *, in_indices: bool = False) -> onnx.SparseTensorProto:
    values = _external("sp_values", location)
    indices = numpy_helper.from_array(np.arange(4, dtype=np.int64), "sp_indices")
    if in_indices:
        values = numpy_helper.from_array(np.ones(4, dtype=np.float32), "sp_values")
        indices = _external("sp_indices", location)
    return helper.make_sparse_tensor(values, indices, [8])


def _graph_with_constant(location: str) -> onnx.GraphProto:
    node = helper.make_node("Constant", [], ["c"], value=_external("sub_t", location))
    out = helper.make_tensor_value_info("c", TensorProto.FLOAT, [4])
    return helper.make_graph([node], "sub", [], [out])


def _add_node(model: onnx.ModelProto, node: onnx.NodeProto) -> None:
    model.graph.node.insert(0, node)


def _function(model: onnx.ModelProto, node: onnx.NodeProto) -> None:
    model.functions.append(
        helper.make_function("local", "Evil", [], [node.output[0]], [node], [helper.make_opsetid("", 17)])
    )
    model.opset_import.append(helper.make_opsetid("local", 1))


def _training_info(model: onnx.ModelProto, location: str) -> None:
    info = model.training_info.add()
    info.initialization.CopyFrom(helper.make_graph([], "init", [], [], [_external("ti", location)]))


PLACEMENTS: dict[str, Callable[[onnx.ModelProto, str], None]] = {
    "initializer": lambda m, loc: m.graph.initializer.append(_external("evil", loc)),
    "sparse_initializer.values": lambda m, loc: m.graph.sparse_initializer.append(_sparse(loc)),
    "sparse_initializer.indices": lambda m, loc: m.graph.sparse_initializer.append(_sparse(loc, in_indices=True)),
    "attribute t": lambda m, loc: _add_node(m, helper.make_node("Constant", [], ["k"], value=_external("t", loc))),
    "attribute tensors": lambda m, loc: _add_node(
        m, helper.make_node("Identity", ["input"], ["k"], extra=[_external("ts", loc)])
    ),
    "attribute sparse_tensor": lambda m, loc: _add_node(
        m, helper.make_node("Constant", [], ["k"], sparse_value=_sparse(loc))
    ),
    "attribute sparse_tensors": lambda m, loc: _add_node(
        m, helper.make_node("Identity", ["input"], ["k"], extra=[_sparse(loc)])
    ),
    "subgraph g (If)": lambda m, loc: _add_node(
        m,
        helper.make_node(
            "If", ["cond"], ["k"], then_branch=_graph_with_constant(loc), else_branch=_graph_with_constant("w.bin")
        ),
    ),
    "subgraphs graphs": lambda m, loc: _add_node(
        m, helper.make_node("Identity", ["input"], ["k"], bodies=[_graph_with_constant(loc)])
    ),
    "function Constant sparse_value": lambda m, loc: _function(
        m, helper.make_node("Constant", [], ["y"], sparse_value=_sparse(loc))
    ),
    "function If subgraph": lambda m, loc: _function(
        m,
        helper.make_node(
            "If", ["c"], ["y"], then_branch=_graph_with_constant(loc), else_branch=_graph_with_constant(loc)
        ),
    ),
    "training_info": _training_info,
}


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outside") / "x"
    path.write_bytes(np.full(4, 7.0, dtype=np.float32).tobytes())
    return path


def _bundle(tmp_path: Path, placement: str, location: str, secret: Path) -> Path:
    bundle = write_bundle(tmp_path / "ws" / "bundle")
    (bundle / "w.bin").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    if location == "link":
        os.symlink(secret, bundle / "link.bin")
        location = "link.bin"
    elif location == "absolute":
        location = str(secret)
    model = prob_model()
    PLACEMENTS[placement](model, location)
    (bundle / "model.onnx").write_bytes(model.SerializeToString())
    return bundle


LOCATIONS = ["../x", "absolute", "sub/../../x", "link"]


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_the_walker_finds_every_placement(tmp_path, secret, placement, location):
    bundle = _bundle(tmp_path, placement, location, secret)
    proto = onnx.load(bundle / "model.onnx", load_external_data=False)
    assert len(external_data_locations(proto)) >= 1
    bad = unsafe_external_data(proto, bundle)
    assert bad, placement


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_inside_the_model_directory_every_placement_is_accepted(tmp_path, secret, placement):
    bundle = _bundle(tmp_path, placement, "w.bin", secret)
    proto = onnx.load(bundle / "model.onnx", load_external_data=False)
    assert external_data_locations(proto) and not unsafe_external_data(proto, bundle)


@pytest.mark.parametrize(
    "placement, location",
    [(p, "../x") for p in PLACEMENTS] + [("function Constant sparse_value", loc) for loc in LOCATIONS[1:]],
)
def test_no_session_is_created_and_sec001_fails(tmp_path, secret, placement, location):
    bundle = _bundle(tmp_path, placement, location, secret)
    card, ctx = evaluate(bundle, select=["SEC001", "ART001", "QLT001"])
    records = {c.id: c for c in card.checks}
    assert records["SEC001"].status == "fail", records["SEC001"].message
    assert not card.released
    assert ctx.counters["sessions_created"] == 0
    assert "SEC001" in records["QLT001"].message or records["QLT001"].status != "pass", records["QLT001"].message
