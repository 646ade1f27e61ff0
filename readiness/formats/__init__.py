"""Formats users already have, turned into the bundle readiness checks.

- a bare ONNX file (`readiness check model.onnx`): a model-only bundle (`model_only`);
- an MLflow model directory (a directory with an `MLmodel` file): `mlflow`;
- a Triton `config.pbtxt` or a KServe `InferenceService` YAML as `[serving].config`:
  `triton` and `kserve`.

Every reader produces the same pydantic objects as the native files (`config.Manifest`,
`config.ServingConfig`), so every check judges all formats the same way. Readers build a
`bundle_data.Bundle` and never import `readiness.bundle` (which imports them); every file
a format names is confined to the workspace root (`readiness.workspace`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ServingConfig
from ..contract import assign_features, candidate_columns, graph_contract

if TYPE_CHECKING:
    from ..bundle_data import Bundle

ONNX_SUFFIXES = (".onnx",)
MLMODEL = "MLmodel"


def load_special(path: str | os.PathLike[str], trust: bool, workspace: Path | None = None) -> Bundle | None:
    """A bundle for a path that is not a manifest (an ONNX file, an MLflow model directory), else None."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() in ONNX_SUFFIXES:
        from .model_only import load_model_only

        return load_model_only(p, trust=trust, workspace=workspace)
    if p.is_file() and p.name == MLMODEL:
        p = p.parent
    if p.is_dir() and (p / MLMODEL).is_file() and not (p / "readiness.toml").is_file():
        from .mlflow import load_mlflow

        return load_mlflow(p, trust=trust, workspace=workspace)
    return None


def serving_format(path: Path, documents: list[Any] | None = None) -> str:
    """native, triton or kserve: which reader understands the serving config at PATH.

    DOCUMENTS are the file's parsed YAML documents when the caller has them (parsed once)."""
    if path.suffix.lower() == ".pbtxt":
        return "triton"
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        from .kserve import KIND, is_inference_service

        if documents is not None:
            return "kserve" if any(isinstance(d, dict) and d.get("kind") == KIND for d in documents) else "native"
        if is_inference_service(path):
            return "kserve"
    return "native"


def read_serving(path: Path, documents: list[Any] | None = None) -> ServingConfig | None:
    """The serving config from a Triton or KServe file; None for the native `serving.yaml` format."""
    kind = serving_format(path, documents)
    if kind == "triton":
        from .triton import read_triton

        return read_triton(path).serving
    if kind == "kserve":
        from .kserve import read_kserve

        return read_kserve(path).serving
    return None


def finish(bundle: Bundle) -> None:
    """Complete a bundle whose serving config came from another format (called at the end of loading).

    Triton and KServe configs do not name the schema columns, so the columns of the
    reference data (else the schema) are mapped onto the inputs the way a graph-derived
    contract would; the format's own settings are recorded in `bundle.details`.
    """
    if bundle.serving_path is None or bundle.serving is None:
        return
    kind = bundle.serving_format or serving_format(bundle.serving_path)
    if kind == "native":
        bundle.serving_format = bundle.serving_format or "native"
        return
    if kind == "triton":
        from .triton import read_triton, unservable_outputs

        parsed = read_triton(bundle.serving_path)
        details = dict(parsed.details)
        bad = unservable_outputs(bundle.model_path)
        if bad:
            details["unservable_outputs"] = bad
            bundle.notes.append(
                f"Triton cannot serve output(s) {', '.join(bad)} of {bundle.model_path.name}: they are sequences or "
                "maps (e.g. a ZipMap); export with zipmap=False so every output is a tensor"
            )
    else:
        from .kserve import read_kserve

        parsed = read_kserve(bundle.serving_path, model_path=bundle.model_path)
        details = dict(parsed.details)
    serving = parsed.serving
    if not serving.inputs:
        derived = graph_contract(bundle.model_path)
        if derived is None:
            bundle.notes.append(
                f"{bundle.serving_path.name} does not list inputs and {bundle.model_path.name} cannot be read; "
                "the contract is derived when the model loads"
            )
            bundle.serving = None
            bundle.serving_format = kind
            bundle.details = details
            return
        serving = serving.model_copy(update={"inputs": derived[0], "outputs": serving.outputs or derived[1]})
    columns = candidate_columns(bundle)
    serving = serving.model_copy(
        update={"inputs": [assign_features(s, serving.inputs, columns) for s in serving.inputs]}
    )
    bundle.serving = serving
    bundle.serving_format = kind
    bundle.details = details
    bundle.notes.extend(parsed.notes)
