"""Sanitised text: every string from a bundle that reaches a line-oriented output passes through here.

A bundle is hostile input. Its model name, column names, waiver reasons and any check
message that quotes its data can carry newlines, terminal escape sequences or Unicode
bidirectional overrides. Printed raw, such a string could start a line of its own
(`RELEASED: ...`, a CI workflow command such as `::error` or `##vso[...]`), recolour the
terminal, or make text read differently from the bytes a reviewer approves.

`clean` makes a string safe for one line of output: control characters (C0, DEL, C1),
line and paragraph separators, bidirectional controls, lone surrogates and Unicode
noncharacters are written as visible escapes (`\\n`, `\\x1b`, `\\u202e`), and the length is
capped. The result is always valid XML 1.0 character data and valid UTF-8. Renderers call
it on every bundle-derived string; `clean_block` serves a whole document (HTML), where
newlines are harmless but bidirectional overrides are not.
"""

from __future__ import annotations

import re

__all__ = ["BIDI_CONTROLS", "MESSAGE_CHARS", "NAME_CHARS", "clean", "clean_block"]

NAME_CHARS = 200  # names: models, columns, versions, owners
MESSAGE_CHARS = 2000  # check messages and reasons
ELLIPSIS = "\u2026"

# Bidirectional formatting characters: embeddings and overrides (U+202A-202E), isolates
# (U+2066-2069), the implicit marks (U+200E LRM, U+200F RLM) and the Arabic letter mark.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# One pass over the string: C0 controls, DEL and C1 controls; U+2028/2029 (line/paragraph
# separators); bidi controls; surrogates (only lone ones survive in a Python str); and the
# noncharacters U+FDD0-FDEF and U+xFFFE/U+xFFFF of every plane (U+FFFE makes XML invalid).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029"
    + "".join(sorted(BIDI_CONTROLS))
    + "\ud800-\udfff\ufdd0-\ufdef"
    + "".join(chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(17))
    + "]"
)


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def clean(value: object, limit: int | None = MESSAGE_CHARS) -> str:
    """`value` as text that cannot break out of its line: unsafe characters escaped visibly, length capped.

    `limit` caps the result (escapes included) at that many characters, the last being an ellipsis;
    None leaves the length alone. Printable text, including non-Latin scripts and emoji, is unchanged.
    """
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > 8 * limit:
        text = text[: 8 * limit]  # bound the work: no escape is longer than 10 characters
    text = _UNSAFE.sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def clean_block(value: str) -> str:
    """A whole document (HTML) made safe: like `clean`, but newlines and tabs stay and the length is not capped.

    Used on a rendered page whose own markup holds none of these characters, so only bundle
    text is affected: bidi overrides, control characters, lone surrogates (which cannot be
    written as UTF-8) and noncharacters become visible escapes.
    """
    return _UNSAFE.sub(lambda m: m.group() if m.group() in "\n\t" else _escape(m), value)
