"""Schema-driven fuzzing of a served model: edge values first, then a seeded hypothesis search.

The oracle: a request row must score without a runtime error, every numeric output
must be finite, and outputs must honour their declared contract (probabilities in
[0, 1] summing to 1, labels within `classes`).

1. Edge cases, explicitly: each column at its bounds, at zero and at the smallest
   positive float32 where the bounds allow them, at each allowed category, with every
   other column at a typical value (the median, or the most frequent value).
2. A seeded hypothesis search over schema-valid rows from pandera's per-column
   strategies (the schema's checks compiled to hypothesis strategies, as
   `schema.strategy()` uses them, without its per-DataFrame cost), bounded in
   examples and seconds, shrinking what it finds.
   Where pandera's strategies cannot express a check (a custom check without a
   strategy), rows come from a generator built from the column bounds, filtered by
   the schema; without a schema, from the ranges of the rows the model is fed
   (reference data, or rows synthesised from the graph's inputs).

Columns holding one tensor per row (inputs of rank >= 3, scalars, inputs without a batch
axis; see `synth.from_inputs`) are fuzzed element-wise: `TensorValue` recipes (a fill value,
a small literal or a seeded uniform draw, optionally with element 0 set) stand for the tensors,
so the evidence and the reproduce line stay short. The typical row is scored first, then each
dtype edge value over the whole tensor and in one element, then seeded random tensors within
the synthesised range (`_tensor_search`, no shrinking).

`run(ctx, max_examples=..., max_seconds=...)` returns a `FuzzReport`; ROB001 judges it.

Modules: `domain` (what each request column may take), `tensors` (per-row tensor recipes),
`oracle` (score rows and judge each output; shared with ROB003/ROB004) and `search` (ROB001's search).
"""

from __future__ import annotations

from .domain import Domain, data_domain, domains, edge_rows, schema_domain, tensor_domain, typical_value
from .oracle import Probe, probe, reproduce_command, request_frame, row_problems
from .search import Finding, FuzzReport, polish, run
from .tensors import TensorSpec, TensorValue, jsonable

__all__ = [
    "Domain",
    "Finding",
    "FuzzReport",
    "Probe",
    "TensorSpec",
    "TensorValue",
    "data_domain",
    "domains",
    "edge_rows",
    "jsonable",
    "polish",
    "probe",
    "reproduce_command",
    "request_frame",
    "row_problems",
    "run",
    "schema_domain",
    "tensor_domain",
    "typical_value",
]
