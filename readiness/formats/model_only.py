"""`readiness check model.onnx`: a bundle made of the model alone.

No manifest, schema, serving config or data: the input contract is derived from the
graph and request rows are synthesised from its dtypes and shapes (`Context.inputs`,
`Context.sample_frame`). Every check that needs something else is `skip`, naming the
manifest key that would enable it; the scorecard records `bundle.format = "model-only"`.
"""

from __future__ import annotations

from pathlib import Path

from ..bundle_data import Bundle
from ..config import Manifest, ModelSection
from ..errors import BundleError
from ..workspace import confine, find_root

MODEL_ONLY_NOTE = (
    "model-only run: no readiness.toml, so there is no schema, reference data or serving config; "
    "the input contract was derived from the graph and inputs were synthesised from its dtypes and shapes. "
    "Run `readiness init {model}` to write a starter bundle and enable the skipped checks."
)


def load_model_only(path: Path, *, trust: bool = False, workspace: Path | None = None) -> Bundle:
    """A bundle holding only the ONNX file at PATH (the file itself is not parsed here).

    The file must resolve (after symlinks) inside the workspace root."""
    import os

    workspace = workspace if workspace is not None else find_root(path)
    confine(path.name, base=path.absolute().parent, root=workspace, file=path, key="the model file")
    path = path.resolve()
    if not os.access(path, os.R_OK):
        raise BundleError(path, None, "the model file is not readable", "check the file's permissions")
    manifest = Manifest(model=ModelSection(path=path.name))
    bundle = Bundle(
        root=path.parent, manifest_path=None, manifest=manifest, model_path=path, trust=trust, workspace=workspace
    )
    bundle.format = "model-only"
    bundle.notes.append(MODEL_ONLY_NOTE.format(model=path.name))
    if (path.parent / "readiness.toml").is_file():
        bundle.notes.append(
            f"{path.parent / 'readiness.toml'} sits next to the model: `readiness check {path.parent}` uses it"
        )
    return bundle
