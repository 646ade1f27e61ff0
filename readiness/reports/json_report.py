"""The JSON scorecard (docs/reference/scorecard.md; JSON Schema in readiness/schemas/)."""

from __future__ import annotations

from ..scorecard import Scorecard


def render(scorecard: Scorecard) -> str:
    return scorecard.to_json()
