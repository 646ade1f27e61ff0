"""The scorecard: the single, versioned data model of a run (docs/reference/scorecard.md).

Every renderer works from a `Scorecard` and nothing else, so a saved JSON
scorecard can be re-rendered later (`readiness report`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .vocabulary import jsonable

SCHEMA_VERSION = 1
TIMING_KEYS = frozenset({"duration_s", "started_at", "finished_at"})

# Read once at import: os.umask can only be read by setting it, which is not thread-safe later.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@dataclass
class CheckRecord:
    id: str
    title: str
    category: str
    severity: str
    status: str
    message: str
    measured: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    remediation: str = ""
    mlts: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    caused_by: list[str] = field(default_factory=list)  # checks whose failure would explain this result


@dataclass
class Scorecard:
    tool: dict[str, Any]
    model: dict[str, Any]
    gate: dict[str, Any]
    scores: dict[str, Any]
    checks: list[CheckRecord]
    waivers: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    bundle: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def released(self) -> bool:
        return bool(self.gate.get("released"))

    def check(self, check_id: str) -> CheckRecord:
        for record in self.checks:
            if record.id == check_id:
                return record
        raise KeyError(check_id)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for record in self.checks:
            out[record.status] = out.get(record.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        data = {
            "schema_version": self.schema_version,
            "tool": self.tool,
            "model": self.model,
            "gate": self.gate,
            "scores": self.scores,
            "checks": [asdict(c) for c in self.checks],
            "waivers": self.waivers,
            "environment": self.environment,
            "bundle": self.bundle,
            "run": self.run,
        }
        return jsonable(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorecard:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported scorecard schema_version {version!r}; this readiness reads version {SCHEMA_VERSION}"
            )
        names = {f.name for f in fields(CheckRecord)}
        checks = [CheckRecord(**{k: v for k, v in c.items() if k in names}) for c in data.get("checks", [])]
        return cls(
            tool=data.get("tool", {}),
            model=data.get("model", {}),
            gate=data.get("gate", {}),
            scores=data.get("scores", {}),
            checks=checks,
            waivers=data.get("waivers", []),
            environment=data.get("environment", {}),
            bundle=data.get("bundle", {}),
            run=data.get("run", {}),
            schema_version=version,
        )


def load(path: str | os.PathLike[str]) -> Scorecard:
    """Read a JSON scorecard written by `readiness check --json`."""
    with open(path, encoding="utf-8") as fh:
        return Scorecard.from_dict(json.load(fh))


def write_atomic(path: str | os.PathLike[str], text: str | bytes) -> Path:
    """Write a report file atomically: a temporary file in the same directory, then rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a report is as readable as any file the user writes
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def strip_timings(data: Any) -> Any:
    """A copy of a scorecard dict without timing fields, for comparing two runs.

    Timing fields are durations and timestamps anywhere, and the measurements of
    latency checks (whose numbers are timings by nature; their status is kept).
    """
    if isinstance(data, dict):
        if data.get("category") == "latency" and "status" in data:
            data = {k: v for k, v in data.items() if k not in ("message", "measured", "evidence")}
        return {k: strip_timings(v) for k, v in data.items() if k not in TIMING_KEYS}
    if isinstance(data, list):
        return [strip_timings(v) for v in data]
    return data
