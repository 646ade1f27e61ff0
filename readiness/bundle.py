"""Load a model bundle: manifest, serving config, pandera schema, reference data.

Loading validates everything a person wrote and fails with a `BundleError` (exit 2)
that names the file, the key and the fix. It never executes code from the bundle
unless `trust=True` (a `module:attribute` schema) and never loads the ONNX model:
a broken model file is a check result, not a loading error.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .config import Manifest, ServingConfig, validation_to_bundle_error
from .errors import BundleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    import pandas as pd

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
    baseline: Bundle | None = None
    notes: list[str] = field(default_factory=list)
    format: str = "manifest"  # manifest | model-only | mlflow (readiness/formats)
    serving_format: str | None = None  # native | triton | kserve
    details: dict[str, Any] = field(default_factory=dict)  # what a format reader recorded

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


# --------------------------------------------------------------------------- manifest
def find_manifest(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """Locate the manifest for PATH and return it with its raw table."""
    p = Path(path)
    if not p.exists():
        raise BundleError(p, None, "no such file or directory", "pass a bundle directory or its readiness.toml")
    if p.is_dir():
        candidate = p / MANIFEST_NAME
        if candidate.is_file():
            return candidate, _read_toml(candidate)
        pyproject = p / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("readiness")
            if isinstance(table, dict):
                return pyproject, table
        raise BundleError(
            candidate,
            None,
            "no manifest found (neither readiness.toml nor [tool.readiness] in pyproject.toml)",
            'create readiness.toml with at least [model] path = "model.onnx", or run `readiness init MODEL`',
        )
    if p.name == "pyproject.toml":
        table = _read_toml(p).get("tool", {}).get("readiness")
        if not isinstance(table, dict):
            raise BundleError(p, "[tool.readiness]", "table is missing", "add a [tool.readiness] table")
        return p, table
    if p.suffix == ".toml":
        return p, _read_toml(p)
    raise BundleError(
        p,
        None,
        "not a manifest",
        "pass a directory holding readiness.toml, or the .toml file itself",
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise BundleError(path, None, f"invalid TOML: {exc}", "fix the TOML syntax at the position shown") from None
    except OSError as exc:
        raise BundleError(path, None, f"cannot read: {exc.strerror}", "check the file's permissions") from None


def parse_manifest(path: Path, table: dict[str, Any]) -> Manifest:
    try:
        return Manifest.model_validate(table)
    except ValidationError as exc:
        raise validation_to_bundle_error(exc, str(path), Manifest) from None


def _resolve(root: Path, rel: str, file: Path, key: str, *, must_exist: bool = True) -> Path:
    p = Path(rel)
    p = p if p.is_absolute() else (root / p)
    if must_exist:
        if not p.exists():
            raise BundleError(
                file,
                key,
                f"file {rel!r} does not exist (looked for {p})",
                "fix the path; relative paths resolve against the manifest's directory",
            )
        if not p.is_file():
            raise BundleError(file, key, f"{rel!r} is not a file", "point the key at a file")
        if not os.access(p, os.R_OK):
            raise BundleError(file, key, f"{rel!r} is not readable", "check the file's permissions")
    return p


# --------------------------------------------------------------------------- serving config
def load_yaml(path: Path, key: str | None = None) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(path, key, f"cannot read: {exc}", "check that the file is readable UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BundleError(
            path, key, f"invalid YAML: {where}{problem}", "fix the YAML syntax at the line shown"
        ) from None


def load_serving(path: Path) -> ServingConfig:
    from .formats import read_serving

    special = read_serving(path)  # a Triton config.pbtxt or a KServe InferenceService
    if special is not None:
        return special
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise BundleError(
            path,
            None,
            "serving config must be a mapping with `inputs` and `outputs`",
            "see docs/reference/serving.md for the layout",
        )
    try:
        return ServingConfig.model_validate(data)
    except ValidationError as exc:
        raise validation_to_bundle_error(exc, str(path), ServingConfig, table_style=False) from None


# --------------------------------------------------------------------------- schema
def load_schema(spec: str, root: Path, file: Path, trust: bool) -> tuple[Any, Path | None]:
    """Load a pandera DataFrameSchema from YAML/JSON, or from `module:attribute` with trust."""
    key = "[data].schema"
    candidate = root / spec
    if ":" in spec and not candidate.exists() and not Path(spec).is_absolute():
        if not trust:
            raise BundleError(
                file,
                key,
                f"{spec!r} is Python code and would be imported",
                "pass --trust to import it, or export the schema with schema.to_yaml()",
            )
        module_name, _, attr = spec.partition(":")
        sys.path.insert(0, str(root))
        try:
            module = importlib.import_module(module_name)
            schema = getattr(module, attr)
        except Exception as exc:  # noqa: BLE001 - user code may raise anything
            raise BundleError(
                file, key, f"cannot import {spec!r}: {exc}", "check the module and attribute names"
            ) from None
        finally:
            sys.path.remove(str(root))
        return schema, None
    path = _resolve(root, spec, file, key)
    import pandera.pandas as pa

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(path, None, f"cannot read: {exc}", "check that the file is readable UTF-8 text") from None
    if path.suffix.lower() == ".json":
        loader = pa.DataFrameSchema.from_json
    else:
        _check_schema_keys(path, load_yaml(path, None))  # a syntax error is reported with its line
        loader = pa.DataFrameSchema.from_yaml
    try:
        schema = loader(text)
    except Exception as exc:  # noqa: BLE001 - pandera raises many types
        raise BundleError(
            path,
            None,
            f"not a pandera schema: {type(exc).__name__}: {exc}",
            "write it with pandera's DataFrameSchema.to_yaml()/to_json()",
        ) from None
    return schema, path


_SCHEMA_KEYS = (
    "schema_type", "version", "api", "dataframe_library", "columns", "checks", "parsers", "index", "multiindex",
    "dtype", "coerce", "strict", "name", "ordered", "unique", "report_duplicates", "unique_column_names",
    "add_missing_columns", "title", "description", "metadata", "drop_invalid_rows",
)  # fmt: skip


def _check_schema_keys(path: Path, data: Any) -> None:
    """pandera ignores unknown top-level keys; a typo there must not pass silently."""
    import difflib

    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise BundleError(
            path,
            "columns",
            "not a pandera schema: no `columns` mapping",
            "write it with pandera's DataFrameSchema.to_yaml()",
        )
    for key in data:
        if key not in _SCHEMA_KEYS:
            close = difflib.get_close_matches(str(key), _SCHEMA_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise BundleError(
                path,
                str(key),
                f"unknown top-level schema key; {hint}valid keys: {', '.join(_SCHEMA_KEYS)}",
                "remove or rename it",
            )


# --------------------------------------------------------------------------- reference data
def load_table(path: Path, file: Path, key: str) -> pd.DataFrame:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(path)
        else:
            raise BundleError(
                file,
                key,
                f"{path.name}: unsupported data format {suffix!r}",
                "use a .csv or .parquet file",
            )
    except BundleError:
        raise
    except pd.errors.EmptyDataError:
        raise BundleError(
            path,
            None,
            "the file is empty",
            f"write a header and labelled rows to it, or remove {key}",
        ) from None
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types
        raise BundleError(
            path,
            None,
            f"cannot read data: {type(exc).__name__}: {exc}",
            "write a valid CSV or Parquet file",
        ) from None
    if frame.empty:
        raise BundleError(path, None, "the file has a header but no rows", f"add labelled rows, or remove {key}")
    return frame


# --------------------------------------------------------------------------- the whole bundle
def load_bundle(path: str | os.PathLike[str] = ".", *, trust: bool = False, _follow_baseline: bool = True) -> Bundle:
    """Load and validate the bundle at PATH (a directory, readiness.toml or pyproject.toml)."""
    from . import formats

    special = formats.load_special(path, trust)  # an ONNX file alone, or an MLflow model directory
    if special is not None:
        return special
    manifest_path, table = find_manifest(path)
    manifest = parse_manifest(manifest_path, table)
    root = manifest_path.parent.resolve()
    model_path = _resolve(root, manifest.model.path, manifest_path, "[model].path")
    bundle = Bundle(
        root=root,
        manifest_path=manifest_path.resolve(),
        manifest=manifest,
        model_path=model_path,
        trust=trust,
    )

    if manifest.model.source:
        bundle.source_path = _resolve(root, manifest.model.source, manifest_path, "[model].source")
    if manifest.serving.config:
        bundle.serving_path = _resolve(root, manifest.serving.config, manifest_path, "[serving].config")
        bundle.serving = load_serving(bundle.serving_path)
    data = manifest.data
    if data.schema_:
        bundle.schema, bundle.schema_path = load_schema(data.schema_, root, manifest_path, trust)
    if data.reference:
        bundle.reference_path = _resolve(root, data.reference, manifest_path, "[data].reference")
        bundle.reference = load_table(bundle.reference_path, manifest_path, "[data].reference")
        if data.target and data.target not in bundle.reference.columns:
            cols = ", ".join(map(str, bundle.reference.columns[:20]))
            raise BundleError(
                manifest_path,
                "[data].target",
                f"column {data.target!r} is not in {bundle.reference_path.name} (columns: {cols})",
                "name the label column of the reference data",
            )
        for col in data.slices:
            if col not in bundle.reference.columns:
                raise BundleError(
                    manifest_path,
                    "[data].slices",
                    f"column {col!r} is not in {bundle.reference_path.name}",
                    "list columns of the reference data",
                )
    elif data.target or data.slices:
        raise BundleError(
            manifest_path,
            "[data].reference",
            "target/slices are set but there is no reference data",
            'add [data].reference = "reference.csv"',
        )
    if manifest.lineage.training_data:
        _resolve(root, manifest.lineage.training_data, manifest_path, "[lineage].training_data")
    if manifest.baseline.manifest and _follow_baseline:
        base = _resolve(root, manifest.baseline.manifest, manifest_path, "[baseline].manifest", must_exist=False)
        try:
            bundle.baseline = load_bundle(base, trust=trust, _follow_baseline=False)
        except BundleError as exc:
            raise BundleError(
                manifest_path,
                "[baseline].manifest",
                f"the baseline bundle cannot be used: {exc}",
                "fix the baseline bundle or remove [baseline]",
            ) from None
    formats.finish(bundle)
    return bundle


def raw_model_dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
