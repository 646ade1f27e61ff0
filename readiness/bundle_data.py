"""The `Bundle` data class: what loading a bundle produces (a leaf module: `bundle` and `formats` both build it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Manifest, ServingConfig

if TYPE_CHECKING:
    import pandas as pd

    from .reference import Reference

MANIFEST_NAME = "readiness.toml"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (models can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Bundle:
    """Parsed, validated inputs of one run. Paths are absolute."""

    root: Path
    manifest_path: Path | None
    manifest: Manifest
    model_path: Path
    trust: bool = False
    source_path: Path | None = None
    serving: ServingConfig | None = None
    serving_path: Path | None = None
    schema: Any = None  # pandera DataFrameSchema
    schema_path: Path | None = None
    reference: pd.DataFrame | None = None
    reference_path: Path | None = None
    reference_data: Reference | None = None  # every row, streamed (None: `reference` holds them all)
    baseline: Bundle | None = None
    notes: list[str] = field(default_factory=list)
    format: str = "manifest"  # manifest | model-only | mlflow (readiness/formats)
    serving_format: str | None = None  # native | triton | kserve
    details: dict[str, Any] = field(default_factory=dict)  # what a format reader recorded
    workspace: Path | None = None  # the workspace root every path the bundle names was confined to

    @property
    def target(self) -> str | None:
        return self.manifest.data.target

    def relpath(self, path: Path | None) -> str | None:
        """A path as the scorecard shows it: relative to the bundle root when inside it."""
        if path is None:
            return None
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)
