"""An MLflow model directory (`mlruns/<exp>/<run>/artifacts/model`, or any directory with an `MLmodel` file).

The `MLmodel` YAML is read directly (no MLflow server, no `mlflow` import):

- the `onnx` flavour's `data` is the model (a directory without one is refused: readiness
  checks the ONNX artifact that will be served);
- a `sklearn` flavour in the same directory is the source model (`.skops` loads with
  skops; a pickle needs `--trust`, as for any bundle);
- the `signature` is the input contract: a column-based signature becomes a pandera
  schema (types and required columns), a tensor-based one the serving inputs/outputs;
- the saved `input_example` becomes the (unlabelled) sample the checks feed the model.

Run id, model uuid and the MLflow version are recorded in `bundle.format_details.mlflow`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..bundle_data import Bundle
from ..config import InputSpec, Manifest, ModelSection, OutputSpec, ServingConfig
from ..contract import assign_features, graph_contract, output_kind
from ..errors import BundleError
from ..parsing import check_structure, clip, load_json, load_yaml, quote
from ..workspace import confine, find_root, require_file

# MLflow column types -> pandas dtypes
COLUMN_TYPES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "str",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
TENSOR_DTYPES = {
    "float32", "float64", "float16", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "bool", "str", "object",
}  # fmt: skip


def _parse_spec(mlmodel: Path, key: str, raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    try:
        spec = json.loads(raw, parse_constant=_refuse) if isinstance(raw, str) else raw
    except (ValueError, RecursionError) as exc:
        raise BundleError(
            mlmodel, key, f"not valid JSON: {clip(exc)}", "write the signature with mlflow.models.infer_signature"
        ) from None
    check_structure(spec, mlmodel, key)
    if not isinstance(spec, list) or not all(isinstance(item, dict) for item in spec):
        raise BundleError(
            mlmodel, key, "must be a JSON list of column or tensor specs", "see MLflow's model signature format"
        )
    return spec


def _schema_from_columns(mlmodel: Path, columns: list[dict[str, Any]]) -> Any:
    import pandera.pandas as pa

    cols = {}
    for i, col in enumerate(columns):
        name = col.get("name")
        ctype = col.get("type")
        if not name:
            raise BundleError(mlmodel, f"signature.inputs[{i}].name", "a column has no name", "name every input column")
        if ctype not in COLUMN_TYPES:
            raise BundleError(
                mlmodel,
                f"signature.inputs[{i}].type",
                f"unknown column type {quote(ctype)}",
                f"use one of {', '.join(COLUMN_TYPES)}",
            )
        cols[name] = pa.Column(COLUMN_TYPES[ctype], required=bool(col.get("required", True)), coerce=True)
    return pa.DataFrameSchema(cols, name="mlflow-signature", description=f"from the signature in {mlmodel}")


def _tensor_specs(mlmodel: Path, key: str, specs: list[dict[str, Any]]) -> list[tuple[str, str, list[int]]]:
    out = []
    for i, spec in enumerate(specs):
        tensor = spec.get("tensor-spec") or {}
        name = spec.get("name")
        dtype = str(tensor.get("dtype", ""))
        if not name:
            raise BundleError(
                mlmodel, f"{key}[{i}].name", "a tensor has no name", "name it like the ONNX graph's input or output"
            )
        if dtype not in TENSOR_DTYPES:
            raise BundleError(
                mlmodel, f"{key}[{i}].tensor-spec.dtype", f"unknown dtype {quote(dtype)}", "use a numpy dtype name"
            )
        dtype = "string" if dtype in ("str", "object") else dtype
        try:
            shape = [int(d) for d in tensor.get("shape", [])]
        except (TypeError, ValueError):
            raise BundleError(
                mlmodel, f"{key}[{i}].tensor-spec.shape", "must be a list of integers", "use -1 for a dynamic axis"
            ) from None
        out.append((name, dtype, shape))
    return out


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _input_example(
    root: Path, mlmodel: Path, info: Any, columns: list[str] | None, workspace: Path
) -> tuple[Any, Path] | None:
    """The saved input example as request rows (a DataFrame), when there is one."""
    import pandas as pd

    if not isinstance(info, dict) or not info.get("artifact_path"):
        return None
    key = "saved_input_example_info.artifact_path"
    raw = str(info["artifact_path"])
    path = confine(raw, base=root, root=workspace, file=mlmodel, key=key)
    if not path.is_file():
        raise BundleError(
            mlmodel,
            key,
            f"{quote(raw)} does not exist",
            "restore the file or remove saved_input_example_info",
        )
    data = load_json(path)
    try:
        if isinstance(data, dict) and "columns" in data and "data" in data:  # pandas "split" orient
            frame = pd.DataFrame(data["data"], columns=data["columns"])
        elif isinstance(data, dict) and "dataframe_split" in data:
            split = data["dataframe_split"]
            frame = pd.DataFrame(split["data"], columns=split["columns"])
        elif isinstance(data, dict) and "inputs" in data:  # an ndarray, or {name: ndarray}
            inputs = data["inputs"]
            if isinstance(inputs, dict):
                if len(inputs) != 1:
                    return None  # several named tensors: no single request table to build
                inputs = next(iter(inputs.values()))
            import numpy as np

            arr = np.asarray(inputs)
            arr = arr.reshape(len(arr), -1) if arr.ndim != 1 else arr.reshape(1, -1)
            names = (
                columns if columns and len(columns) == arr.shape[1] else [f"column_{i}" for i in range(arr.shape[1])]
            )
            frame = pd.DataFrame(arr, columns=names)
        else:
            frame = pd.DataFrame(data)
    except Exception as exc:  # noqa: BLE001 - pandas raises many types
        raise BundleError(
            path, None, f"cannot turn the input example into rows: {clip(exc)}", "save it with MLflow"
        ) from None
    if frame.empty:
        return None
    return frame, path


def load_mlflow(root: Path, *, trust: bool = False, workspace: Path | None = None) -> Bundle:
    """A bundle from an MLflow model directory; every file it names must lie inside the workspace root."""
    workspace = workspace if workspace is not None else find_root(root)
    mlmodel = confine("MLmodel", base=root, root=workspace, file=root / "MLmodel", key="MLmodel")
    root = root.resolve()
    mlmodel = root / "MLmodel"
    meta = load_yaml(mlmodel)
    if not isinstance(meta, dict) or not isinstance(meta.get("flavors"), dict):
        raise BundleError(
            mlmodel, "flavors", "no flavors mapping", "write the directory with mlflow.<flavor>.log_model"
        )
    flavors = meta["flavors"]
    onnx_flavor = flavors.get("onnx")
    if not isinstance(onnx_flavor, dict) or not onnx_flavor.get("data"):
        have = clip(", ".join(map(str, flavors)) or "none")
        raise BundleError(
            mlmodel,
            "flavors.onnx",
            f"no ONNX flavour (flavours: {have}); readiness checks the ONNX model that will be served",
            "log the ONNX export with mlflow.onnx.log_model, or write a readiness.toml whose "
            "[model].source points at the scikit-learn model",
        )
    model_path = confine(str(onnx_flavor["data"]), base=root, root=workspace, file=mlmodel, key="flavors.onnx.data")
    if not model_path.is_file():
        raise BundleError(
            mlmodel, "flavors.onnx.data", f"{quote(str(onnx_flavor['data']))} does not exist", "restore the model file"
        )
    source_path = None
    sk = flavors.get("sklearn")
    if isinstance(sk, dict) and sk.get("pickled_model"):
        raw = str(sk["pickled_model"])
        source_path = confine(raw, base=root, root=workspace, file=mlmodel, key="flavors.sklearn.pickled_model")
        require_file(source_path, raw, mlmodel, "flavors.sklearn.pickled_model")
    signature = meta.get("signature") if isinstance(meta.get("signature"), dict) else {}
    inputs = _parse_spec(mlmodel, "signature.inputs", signature.get("inputs"))
    outputs = _parse_spec(mlmodel, "signature.outputs", signature.get("outputs"))

    manifest = Manifest(
        model=ModelSection(
            path=model_path.name if model_path.parent == root else str(onnx_flavor["data"]),
            source=str(sk["pickled_model"]) if source_path is not None else None,
            name=root.name,
        )
    )
    bundle = Bundle(
        root=root,
        manifest_path=mlmodel,
        manifest=manifest,
        model_path=model_path,
        trust=trust,
        source_path=source_path,
        workspace=workspace,
    )
    bundle.format = "mlflow"
    columns: list[str] | None = None
    if inputs and all(item.get("type") != "tensor" for item in inputs):
        bundle.schema = _schema_from_columns(mlmodel, inputs)
        bundle.schema_path = mlmodel
        columns = [str(item["name"]) for item in inputs]
        bundle.notes.append(
            "the schema comes from the MLflow signature: column types only, no bounds or categories "
            "(add a pandera schema via readiness.toml to judge values)"
        )
    elif inputs:
        tensors = _tensor_specs(mlmodel, "signature.inputs", inputs)
        out_specs = None
        if outputs and all(item.get("type") == "tensor" for item in outputs):
            outs = _tensor_specs(mlmodel, "signature.outputs", outputs)
            out_specs = [OutputSpec(name=n, kind=output_kind(n, d, "tensor", len(outs))) for n, d, _ in outs]  # type: ignore[arg-type]
        if out_specs is None:
            derived = graph_contract(model_path)
            out_specs = derived[1] if derived else None
        if out_specs is not None:
            specs = [InputSpec(name=n, dtype=d, shape=s) for n, d, s in tensors]  # type: ignore[arg-type]
            specs = [assign_features(s, specs, None) for s in specs]
            bundle.serving = ServingConfig(inputs=specs, outputs=out_specs)
            bundle.serving_path = mlmodel
            bundle.serving_format = "mlflow-signature"
            if len(specs) == 1 and specs[0].features:
                columns = list(specs[0].features)
    else:
        bundle.notes.append("the MLmodel has no signature: the input contract was derived from the graph")
    example = _input_example(root, mlmodel, meta.get("saved_input_example_info"), columns, workspace)
    if example is not None:
        bundle.reference, bundle.reference_path = example
        bundle.notes.append(
            f"the MLflow input example ({len(bundle.reference)} unlabelled rows) is the sample the model is fed; "
            "add labelled data via readiness.toml to run the quality checks"
        )
    bundle.details = {
        "mlflow": {
            "run_id": meta.get("run_id"),
            "model_uuid": meta.get("model_uuid"),
            "mlflow_version": meta.get("mlflow_version"),
            "utc_time_created": meta.get("utc_time_created"),
            "artifact_path": meta.get("artifact_path"),
            "flavors": sorted(flavors),
            "onnx_version": onnx_flavor.get("onnx_version"),
            "signature": "columns" if columns and bundle.schema is not None else ("tensors" if inputs else None),
        }
    }
    return bundle
