"""Template values that a person has not filled in yet count as missing (`[card]`, `[monitoring]`, `[lineage]`).

A starter manifest (and many copied examples) carries values such as `"..."`, `"TODO"`,
`"TBD"`, `"sha256:..."` or an empty string. Checks that judge whether a field is recorded
(OPS001, OPS002, RPR005) treat such a value exactly like an absent key.
"""

from __future__ import annotations

import re
from typing import Any

# "...", "…", "sha256:...", "  ...  "; "TODO", "todo: fill in", "TBD.", "FIXME"; case-insensitive
_ELLIPSIS = re.compile(r"(?:[\w-]+:)?\s*(?:\.{2,}|\u2026)")
_MARKER = re.compile(r"(?:todo|tbd|fixme)(?:\b.*)?", re.IGNORECASE | re.DOTALL)


def is_placeholder(value: Any) -> bool:
    """True for None, an empty or blank string, or a template marker (`...`, `TODO`, `TBD`, `FIXME`)."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    text = value.strip()
    return not text or bool(_ELLIPSIS.fullmatch(text)) or bool(_MARKER.fullmatch(text))


def model_only(ctx: Any) -> bool:
    """Whether this run checks an ONNX file alone (no manifest whose tables could be judged)."""
    return getattr(ctx.bundle, "format", None) == "model-only"
