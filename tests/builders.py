"""Bundle builders for this test suite: re-exported from `readiness.testing` (which ships them
to plugin authors), plus the few helpers only readiness' own tests use.

    from builders import prob_model, write_bundle, tabular_data, run_check
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from readiness.testing import *  # noqa: F403
from readiness.testing import __all__ as _testing_all

__all__ = [*_testing_all, "with_nan_at_zero"]


def with_nan_at_zero(model: onnx.ModelProto, column: int, input_name: str = "input") -> onnx.ModelProto:
    """A copy of `model` whose outputs are NaN exactly when feature `column` of its 2-D float input is 0.

    Prepends `input + 0 * log(|input[:, column]|)` in front of every consumer of the input.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    guarded = f"{input_name}__nan_at_zero"
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == input_name:
                node.input[i] = guarded

    def const(name: str, value: Any, dtype: Any) -> Any:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, dtype), name))

    prefix = [
        const("naz_s", [column], np.int64),
        const("naz_e", [column + 1], np.int64),
        const("naz_a", [1], np.int64),
        const("naz_zero", [0.0], np.float32),
        helper.make_node("Slice", [input_name, "naz_s", "naz_e", "naz_a"], ["naz_x"]),
        helper.make_node("Abs", ["naz_x"], ["naz_abs"]),
        helper.make_node("Log", ["naz_abs"], ["naz_log"]),
        helper.make_node("Mul", ["naz_log", "naz_zero"], ["naz_term"]),
        helper.make_node("Add", [input_name, "naz_term"], [guarded]),
    ]
    nodes = prefix + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model
