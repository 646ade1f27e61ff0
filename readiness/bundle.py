"""Load a model bundle: manifest, serving config, pandera schema, reference data.

Loading validates everything a person wrote and fails with a `BundleError` (exit 2)
that names the file, the key and the fix. It never executes code from the bundle
unless `trust=True` (a `module:attribute` schema) and never loads the ONNX model:
a broken model file is a check result, not a loading error.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from . import formats
from .bundle_data import MANIFEST_NAME, PICKLE_SUFFIXES, Bundle, sha256_file
from .config import Manifest, ServingConfig, validation_to_bundle_error
from .errors import BundleError
from .parsing import clip, load_toml, load_yaml, load_yaml_documents, loads_json, loads_yaml, quote, read_text
from .workspace import confine, find_root, require_file

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MANIFEST_NAME",
    "PICKLE_SUFFIXES",
    "Bundle",
    "find_manifest",
    "load_bundle",
    "load_schema",
    "load_serving",
    "load_table",
    "load_yaml",
    "sha256_file",
]


# --------------------------------------------------------------------------- manifest
def find_manifest(path: str | os.PathLike[str], root: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Locate the manifest for PATH and return it with its raw table.

    With ROOT, a manifest found inside a directory must resolve (after symlinks) inside it.
    """
    p = Path(path)
    if not p.exists():
        raise BundleError(p, None, "no such file or directory", "pass a bundle directory or its readiness.toml")
    if p.is_dir():
        candidate = p / MANIFEST_NAME
        if candidate.is_file() or candidate.is_symlink():
            _confine_found(candidate, root)
            return candidate, load_toml(candidate)
        pyproject = p / "pyproject.toml"
        if pyproject.is_file() or pyproject.is_symlink():
            _confine_found(pyproject, root)
            table = load_toml(pyproject).get("tool", {}).get("readiness")
            if isinstance(table, dict):
                return pyproject, table
        raise BundleError(
            candidate,
            None,
            "no manifest found (neither readiness.toml nor [tool.readiness] in pyproject.toml)",
            'create readiness.toml with at least [model] path = "model.onnx", or run `readiness init MODEL`',
        )
    if p.name == "pyproject.toml":
        table = load_toml(p).get("tool", {}).get("readiness")
        if not isinstance(table, dict):
            raise BundleError(p, "[tool.readiness]", "table is missing", "add a [tool.readiness] table")
        return p, table
    if p.suffix == ".toml":
        return p, load_toml(p)
    raise BundleError(
        p,
        None,
        "not a manifest",
        "pass a directory holding readiness.toml, or the .toml file itself",
    )


def _confine_found(path: Path, root: Path | None) -> None:
    if root is not None:
        confine(path.name, base=path.parent, root=root, file=path, key="(the manifest itself)")


def parse_manifest(path: Path, table: dict[str, Any]) -> Manifest:
    try:
        return Manifest.model_validate(table)
    except ValidationError as exc:
        raise validation_to_bundle_error(exc, str(path), Manifest) from None


def _resolve(
    base: Path, rel: str, file: Path, key: str, *, workspace: Path | None = None, must_exist: bool = True
) -> Path:
    """The path REL names (relative to BASE), confined to the workspace root, then checked to be a file."""
    p = confine(rel, base=base, root=workspace if workspace is not None else base.resolve(), file=file, key=key)
    return require_file(p, rel, file, key) if must_exist else p


# --------------------------------------------------------------------------- serving config
def load_serving(path: Path) -> ServingConfig:
    return _load_serving(path)[0]


def _load_serving(path: Path) -> tuple[ServingConfig, str]:
    """The serving config at PATH and its format (native, triton or kserve); the file is parsed once."""
    documents = None if path.suffix.lower() == ".pbtxt" else load_yaml_documents(path)
    kind = formats.serving_format(path, documents)
    special = formats.read_serving(path, documents)  # a Triton config.pbtxt or a KServe InferenceService
    if special is not None:
        return special, kind
    if documents is not None and len(documents) > 1:
        raise BundleError(path, None, "expected one YAML document, found several", "keep one document per file")
    data = documents[0] if documents else None
    if not isinstance(data, dict):
        raise BundleError(
            path,
            None,
            "serving config must be a mapping with `inputs` and `outputs`",
            "see docs/reference/serving.md for the layout",
        )
    try:
        return ServingConfig.model_validate(data), kind
    except ValidationError as exc:
        raise validation_to_bundle_error(exc, str(path), ServingConfig, table_style=False) from None


# --------------------------------------------------------------------------- schema
def load_schema(
    spec: str, root: Path, file: Path, trust: bool, *, workspace: Path | None = None
) -> tuple[Any, Path | None]:
    """Load a pandera DataFrameSchema from YAML/JSON, or from `module:attribute` with trust."""
    key = "[data].schema"
    if _is_module_spec(spec, root):
        if not trust:
            raise BundleError(
                file,
                key,
                f"{quote(spec)} is Python code and would be imported",
                "pass --trust to import it, or export the schema with schema.to_yaml()",
            )
        module_name, _, attr = spec.partition(":")
        sys.path.insert(0, str(root))
        try:
            module = importlib.import_module(module_name)
            schema = getattr(module, attr)
        except Exception as exc:  # noqa: BLE001 - user code may raise anything
            raise BundleError(
                file, key, f"cannot import {quote(spec)}: {clip(exc)}", "check the module and attribute names"
            ) from None
        finally:
            sys.path.remove(str(root))
        return schema, None
    path = _resolve(root, spec, file, key, workspace=workspace)
    from pandera.io.pandas_io import deserialize_schema

    text = read_text(path)
    if path.suffix.lower() == ".json":
        data = loads_json(text, path)
        _check_schema_keys(path, data)
    else:
        data = loads_yaml(text, path)
        _check_schema_keys(path, data)  # a syntax error is reported with its line
    try:
        schema = deserialize_schema(data)
    except Exception as exc:  # noqa: BLE001 - pandera raises many types
        raise BundleError(
            path,
            None,
            f"not a pandera schema: {type(exc).__name__}: {clip(exc)}",
            "write it with pandera's DataFrameSchema.to_yaml()/to_json()",
        ) from None
    return schema, path


_MODULE_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _is_module_spec(spec: str, root: Path) -> bool:
    """`package.module:attribute` (and not a file of that name in the bundle)."""
    if not _MODULE_SPEC.match(spec):
        return False
    try:
        return not (root / spec).exists()
    except OSError:
        return True


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
# A gzipped CSV may unpack to at most this many times its own size (and at least MIN_UNPACKED_CAP
# bytes): CSV of numbers packs 3 to 10 times, a "zip bomb" a thousand times (10 MB -> 10 GB).
MAX_UNPACK_RATIO = 50
MIN_UNPACKED_CAP = 64 * 1024 * 1024


class _UnpackedTooLarge(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        self.cap = cap


class _CappedGzip(io.RawIOBase):
    """A gzip file's bytes, unpacked as they are read, refusing more than `cap` of them."""

    def __init__(self, path: Path, cap: int) -> None:
        import gzip

        self._gz = gzip.open(path, "rb")
        self.cap, self.count = cap, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._gz.readinto(buffer)
        self.count += n
        if self.count > self.cap:
            raise _UnpackedTooLarge(self.cap)
        return n

    def close(self) -> None:
        self._gz.close()
        super().close()


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    if path.suffix.lower() != ".gz":
        return pd.read_csv(path)
    cap = max(MIN_UNPACKED_CAP, MAX_UNPACK_RATIO * path.stat().st_size)
    with io.BufferedReader(_CappedGzip(path, cap)) as stream:
        return pd.read_csv(stream)


def load_table(path: Path, file: Path, key: str) -> pd.DataFrame:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ".gz"):
            frame = _read_csv(path)
        else:
            raise BundleError(
                file,
                key,
                f"{quote(path.name)}: unsupported data format {quote(suffix)}",
                "use a .csv or .parquet file",
            )
    except BundleError:
        raise
    except _UnpackedTooLarge as exc:
        raise BundleError(
            path,
            None,
            f"the gzipped data unpacks to more than {exc.cap:,} bytes ({MAX_UNPACK_RATIO} times the file's"
            f" size, at least {MIN_UNPACKED_CAP:,}); it was not read further",
            "store large data as Parquet (a file or a directory of files, read in chunks), or unpack it yourself",
        ) from None
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
            f"cannot read data: {type(exc).__name__}: {clip(exc)}",
            "write a valid CSV or Parquet file",
        ) from None
    if frame.empty:
        raise BundleError(path, None, "the file has a header but no rows", f"add labelled rows, or remove {key}")
    return frame


def _load_reference(base: Path, raw: str, manifest_path: Path, workspace: Path, sample_rows: int) -> tuple[Path, Any]:
    """[data].reference: a CSV file read whole, or Parquet (a file or a directory of files) opened as
    `readiness.reference.Reference` (read whole when small, else sampled and streamed)."""
    from .reference import in_memory, is_parquet, open_parquet, parquet_files

    key = "[data].reference"
    path = confine(raw, base=base, root=workspace, file=manifest_path, key=key)
    if not (path.is_dir() and path.exists()):
        path = require_file(path, raw, manifest_path, key)
    if not is_parquet(path):
        return path, in_memory(path, load_table(path, manifest_path, key))
    files = parquet_files(path)
    if not files:
        raise BundleError(
            manifest_path,
            key,
            f"{quote(raw)} holds no .parquet file",
            "point it at a .csv or .parquet file, or a directory of .parquet files",
        )
    for file in files:  # a symlink inside the directory must not lead out of the workspace
        confine(file, base=base, root=workspace, file=manifest_path, key=key)
    try:
        reference = open_parquet(path, files, sample_rows)
    except ValueError as exc:
        raise BundleError(
            manifest_path, key, f"{quote(raw)}: {clip(exc)}", "write every file with the same columns"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
        raise BundleError(
            path, None, f"cannot read data: {type(exc).__name__}: {clip(exc)}", "write valid Parquet file(s)"
        ) from None
    if reference.rows == 0:
        raise BundleError(path, None, "the data has no rows", f"add labelled rows, or remove {key}")
    return path, reference


# --------------------------------------------------------------------------- the whole bundle
def load_bundle(
    path: str | os.PathLike[str] = ".",
    *,
    trust: bool = False,
    root: str | os.PathLike[str] | None = None,
    _follow_baseline: bool = True,
) -> Bundle:
    """Load and validate the bundle at PATH (a directory, readiness.toml or pyproject.toml).

    Every path the bundle names must resolve inside the workspace root: ROOT when given,
    else the nearest enclosing git work tree of PATH, else the bundle's own directory.
    """
    workspace = find_root(path, root)
    special = formats.load_special(path, trust, workspace)  # an ONNX file alone, or an MLflow model directory
    if special is not None:
        return special
    manifest_path, table = find_manifest(path, workspace)
    manifest = parse_manifest(manifest_path, table)
    base = manifest_path.parent.resolve()
    model_path = _resolve(base, manifest.model.path, manifest_path, "[model].path", workspace=workspace)
    bundle = Bundle(
        root=base,
        manifest_path=manifest_path.resolve(),
        manifest=manifest,
        model_path=model_path,
        trust=trust,
        workspace=workspace,
    )

    if manifest.model.source:
        bundle.source_path = _resolve(base, manifest.model.source, manifest_path, "[model].source", workspace=workspace)
    if manifest.serving.config:
        bundle.serving_path = _resolve(
            base, manifest.serving.config, manifest_path, "[serving].config", workspace=workspace
        )
        bundle.serving, bundle.serving_format = _load_serving(bundle.serving_path)
    data = manifest.data
    if data.schema_:
        bundle.schema, bundle.schema_path = load_schema(data.schema_, base, manifest_path, trust, workspace=workspace)
    if data.reference:
        bundle.reference_path, bundle.reference_data = _load_reference(
            base, data.reference, manifest_path, workspace, data.sample_rows
        )
        bundle.reference = bundle.reference_data.frame
        columns = {str(c) for c in bundle.reference.columns}
        if data.target and data.target not in columns:
            raise BundleError(
                manifest_path,
                "[data].target",
                f"column {quote(data.target)} is not among the {len(columns)} column(s) of "
                f"{quote(bundle.reference_path.name)}",
                "name the label column of the reference data (its header row)",
            )
        for col in data.slices:
            if col not in columns:
                raise BundleError(
                    manifest_path,
                    "[data].slices",
                    f"column {quote(col)} is not in {quote(bundle.reference_path.name)}",
                    "list columns of the reference data",
                )
    elif data.target or data.slices:
        raise BundleError(
            manifest_path,
            "[data].reference",
            "target/slices are set but there is no reference data",
            'add [data].reference = "reference.csv"',
        )
    lineage = manifest.lineage
    if lineage.training_data:
        _resolve(base, lineage.training_data, manifest_path, "[lineage].training_data", workspace=workspace)
    if lineage.environment and _looks_like_path(lineage.environment.strip()):
        # a lock file's path (RPR005 hashes it); a free-text description names no file
        confine(lineage.environment.strip(), base=base, root=workspace, file=manifest_path, key="[lineage].environment")
    if manifest.baseline.manifest and _follow_baseline:
        base_manifest = _resolve(
            base,
            manifest.baseline.manifest,
            manifest_path,
            "[baseline].manifest",
            workspace=workspace,
            must_exist=False,
        )
        try:
            bundle.baseline = load_bundle(base_manifest, trust=trust, root=workspace, _follow_baseline=False)
        except BundleError as exc:
            raise BundleError(
                manifest_path,
                "[baseline].manifest",
                f"the baseline bundle cannot be used: {exc}",
                "fix the baseline bundle or remove [baseline]",
            ) from None
    formats.finish(bundle)
    return bundle


def _looks_like_path(text: str) -> bool:
    """A lock file's path (no spaces; a directory part or a file suffix), as opposed to free text."""
    return not re.search(r"\s", text) and ("/" in text or "\\" in text or bool(re.search(r"\.\w+$", text)))


def raw_model_dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
