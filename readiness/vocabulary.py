"""The words every part of readiness shares: statuses, severities, report formats,
ML Test Score bands, the raw-times encoding, and how values become JSON.

A leaf module (standard library only): the engine, the checks, the renderers and
third-party plugins all import their vocabulary from here, so each word is defined once.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any, Literal

# --------------------------------------------------------------------------- statuses
Status = Literal["pass", "fail", "error", "skip", "inconclusive", "waived"]
STATUSES: tuple[str, ...] = ("pass", "fail", "error", "skip", "inconclusive", "waived")
#: Statuses that block the gate at or above `fail_on` (and that a waiver may cover).
BLOCKING_STATUSES: tuple[str, ...] = ("fail", "error", "inconclusive")

# --------------------------------------------------------------------------- severities
Severity = Literal["blocker", "major", "minor", "info"]
SEVERITIES: tuple[str, ...] = ("blocker", "major", "minor", "info")  # most severe first
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}  # info 0 .. blocker 3
#: Weight of a check in the category and overall scores.
SEVERITY_WEIGHTS: dict[str, float] = {"blocker": 10.0, "major": 5.0, "minor": 2.5, "info": 0.0}

# --------------------------------------------------------------------------- report formats
#: Report formats a scorecard renders to (`--json`, `--html`, ...), each with the module rendering it.
REPORT_FORMATS: dict[str, str] = {
    "json": "readiness.reports.json_report",
    "html": "readiness.reports.html",
    "markdown": "readiness.reports.markdown",
    "junit": "readiness.reports.junit",
    "sarif": "readiness.reports.sarif",
}

# --------------------------------------------------------------------------- ML Test Score bands
#: The paper's interpretation of the final ML Test Score (Breck et al. 2017, table 1):
#: (upper bound inclusive, meaning), checked in order.
MLTS_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "More of a research project than a productionized system."),
    (1.0, "Not totally untested, but it is worth considering the possibility of serious holes in reliability."),
    (2.0, "There's been first pass at basic productionization, but additional investment may be needed."),
    (3.0, "Reasonably tested, but it's possible that more of those tests and procedures may be automated."),
    (5.0, "Strong levels of automated testing and monitoring, appropriate for mission-critical systems."),
    (math.inf, "Exceptional levels of automated testing and monitoring."),
)


def mlts_band(score: float) -> str:
    """The meaning of an ML Test Score (the band it falls in)."""
    for upper, meaning in MLTS_BANDS:
        if score <= upper:
            return meaning
    return MLTS_BANDS[-1][1]  # NaN lands here


# --------------------------------------------------------------------------- raw times
RAW_TIMES_ENCODING = "base64(zlib(int64 little-endian))"
MAX_RAW_TIMES = 1_000_000
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0}


def encode_times(ns: Iterable[int]) -> dict[str, Any]:
    """Per-call times (integers, ns) as a compact, exact JSON object: zlib-compressed little-endian int64, base64."""
    values = [int(v) for v in ns]
    packed = struct.pack(f"<{len(values)}q", *values)
    return {
        "unit": "ns",
        "count": len(values),
        "encoding": RAW_TIMES_ENCODING,
        "data": base64.b64encode(zlib.compress(packed, 6)).decode("ascii"),
    }


def decode_times(raw: Mapping[str, Any], *, max_count: int = MAX_RAW_TIMES) -> list[int]:
    """The per-call times stored by `encode_times`, in the object's unit.

    Raises ValueError when the object is not this encoding, is corrupt, or holds more than
    `max_count` values (a hostile scorecard cannot make the reader allocate without bound).
    """
    if raw.get("encoding") != RAW_TIMES_ENCODING or not isinstance(raw.get("data"), str):
        raise ValueError(f"raw times are not encoded as {RAW_TIMES_ENCODING}")
    count = raw.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= max_count:
        raise ValueError(f"raw times are corrupt: count {count!r} is not an integer in [0, {max_count}]")
    try:
        packed = zlib.decompressobj().decompress(base64.b64decode(raw["data"], validate=True), count * 8 + 1)
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"raw times are corrupt: {exc}") from None
    if len(packed) != count * 8:
        raise ValueError("raw times are corrupt: count does not match")
    return list(struct.unpack(f"<{count}q", packed))


def decode_times_ms(raw: Mapping[str, Any], *, max_count: int = MAX_RAW_TIMES) -> list[float] | None:
    """The stored per-call times in milliseconds; None when the object is malformed (renderers draw nothing)."""
    scale = _UNIT_MS.get(str(raw.get("unit", "ns")))
    if scale is None:
        return None
    try:
        values = decode_times(raw, max_count=max_count)
    except ValueError:
        return None
    return [v * scale for v in values] if values else None


# --------------------------------------------------------------------------- JSON values
NAN, POS_INF, NEG_INF = "NaN", "Infinity", "-Infinity"


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays converted, mapping keys as strings, paths in
    POSIX form, dates in ISO form, and non-finite floats spelled "NaN", "Infinity", "-Infinity"
    (strict JSON has no such numbers). An object may say how it reads in JSON with a
    `__jsonable__(self)` method. The runner applies this to every check's result."""
    hook = getattr(type(value), "__jsonable__", None)
    if hook is not None:
        return jsonable(hook(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return NAN
        if math.isinf(value):
            return POS_INF if value > 0 else NEG_INF
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    if hasattr(value, "item"):
        return jsonable(value.item())
    return str(value)


__all__ = [
    "BLOCKING_STATUSES",
    "MLTS_BANDS",
    "RAW_TIMES_ENCODING",
    "REPORT_FORMATS",
    "SEVERITIES",
    "SEVERITY_RANK",
    "SEVERITY_WEIGHTS",
    "STATUSES",
    "Severity",
    "Status",
    "decode_times",
    "decode_times_ms",
    "encode_times",
    "jsonable",
    "mlts_band",
]
