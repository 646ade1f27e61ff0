"""ML Test Score (Breck et al. 2017). Placeholder until issue 5 maps the rubric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def score(records: Sequence[Any], attestations: Mapping[str, Any]) -> dict[str, Any]:
    return {"sections": {}, "score": None, "tests": []}
