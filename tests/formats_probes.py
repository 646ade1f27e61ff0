"""Probe checks for the format tests (readiness/formats).

The built-in checks are written elsewhere; these probes read the context exactly as
a built-in check would, so the tests show what every check sees for each format:
the contract (inputs, outputs, batching), predictions on the rows it is given, and
the skip reason when an input is absent. `contract_mismatches` judges a serving
config against the graph the way SCH001 is specified (`readiness explain SCH001`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from readiness.registry import Registry, check, failed, passed
from readiness.runtime import ORT_TYPES


def contract_mismatches(ctx: Any) -> list[str]:
    """Serving inputs vs graph inputs: names, dtypes, ranks, static dims, a dynamic batch axis when batching."""
    graph = {gi.name: gi for gi in ctx.session.get_inputs()}
    problems = []
    for spec in ctx.inputs:
        gi = graph.get(spec.name)
        if gi is None:
            problems.append(f"{spec.name}: not a graph input")
            continue
        if ORT_TYPES.get(gi.type) != spec.dtype:
            problems.append(f"{spec.name}: dtype {spec.dtype} but the graph has {gi.type}")
        gshape = [d if isinstance(d, int) and d > 0 else -1 for d in gi.shape]
        if len(gshape) != len(spec.shape):
            problems.append(f"{spec.name}: rank {len(spec.shape)} but the graph has {len(gshape)}")
            continue
        for axis, (want, have) in enumerate(zip(spec.shape, gshape, strict=True)):
            if want != -1 and have != -1 and want != have:
                problems.append(f"{spec.name}: dim {axis} is {want} but the graph has {have}")
        if ctx.max_batch_size > 1 and gshape and gshape[0] != -1:
            problems.append(f"{spec.name}: batching up to {ctx.max_batch_size} needs a dynamic batch axis")
    return problems


def probe_registry() -> Registry:
    reg = Registry()

    @check("ZCPA001", "the model scores the rows it is given", category="probe", severity="major", requires=["session"])
    def scores(ctx: Any) -> Any:
        pred = ctx.predict(ctx.sample_frame)
        values = pred.numeric() if pred.numeric() is not None else pred.labels
        finite = bool(np.all(np.isfinite(np.asarray(values, dtype=float))))
        rows = len(pred)
        return (passed if finite else failed)(f"{rows} rows scored", measured={"rows": rows})

    @check("ZCPA002", "needs a schema", category="probe", severity="major", requires=["schema"])
    def needs_schema(ctx: Any) -> Any:
        return passed("schema present")

    @check("ZCPA003", "needs a serving config", category="probe", severity="major", requires=["serving"])
    def needs_serving(ctx: Any) -> Any:
        return passed("serving config present")

    @check("ZCPA004", "needs reference data", category="probe", severity="major", requires=["reference", "target"])
    def needs_reference(ctx: Any) -> Any:
        return passed(f"{len(ctx.reference)} reference rows")

    @check("ZCPA005", "serving contract matches the graph", category="probe", severity="blocker", requires=["session"])
    def contract(ctx: Any) -> Any:
        problems = contract_mismatches(ctx)
        return failed("; ".join(problems)) if problems else passed("contract matches")

    for func in (scores, needs_schema, needs_serving, needs_reference, contract):
        reg.add_object(func)
    return reg
