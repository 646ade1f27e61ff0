"""A .skops source model cannot run code without --trust, and cannot exhaust memory even with it.

The hostile files are built at test time from a real skops dump whose schema is edited
to call `builtins.eval` (skops' ConstructorFromReduceNode calls the named type with the
given arguments). The eval'd code would create a marker file: it must never exist.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest
import skops.io as sio
from builders import sklearn_onnx, tabular_data, write_bundle
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from readiness.sources import MAX_SKOPS_MEMBERS, skops_untrusted_types

from ._confine_helpers import run_cli

CHECKS = "SEC002,RPR003"  # SEC002 judges the file; RPR003 is the check that would load it


def _fit(estimator):
    data = tabular_data(120)
    return estimator.fit(data.drop(columns="label").to_numpy(), data["label"].to_numpy()), data


def _eval_node(code: str) -> dict:
    text = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "content": json.dumps(code)}
    args = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": [text]}
    return {"__class__": "eval", "__module__": "builtins", "__loader__": "ConstructorFromReduceNode", "content": args}


def _rewrite_schema(data: bytes, edit) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    schema = edit(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            target.writestr(name, json.dumps(schema) if name == "schema.json" else source.read(name))
    return out.getvalue()


@pytest.fixture(scope="module")
def model_and_data():
    return _fit(LogisticRegression(max_iter=300))


def _bundle(directory: Path, model_and_data, skops_bytes: bytes) -> Path:
    model, data = model_and_data
    write_bundle(
        directory,
        sklearn_onnx(model, 4),
        reference=data,
        manifest={"model": {"source": "model.skops", "task": "binary_classification"}},
    )
    (directory / "model.skops").write_bytes(skops_bytes)
    return directory


def _hostile(model, marker: Path, *, stealthy: bool) -> bytes:
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    if not stealthy:  # the whole file is one eval call (the format's version keys kept)
        return _rewrite_schema(sio.dumps(model), lambda schema: {**_eval_node(code), "protocol": schema["protocol"]})

    def add_attribute(schema: dict) -> dict:  # evals, then returns the real, working model
        attrs = schema["content"]
        attrs["content"]["_note"] = _eval_node(code)
        attrs["key_types"]["content"].append(dict(attrs["key_types"]["content"][0]))  # the new key is a str
        return schema

    return _rewrite_schema(sio.dumps(model), add_attribute)


@pytest.mark.parametrize("stealthy", [False, True], ids=["eval", "eval-then-real-model"])
def test_a_skops_file_naming_builtins_eval_never_runs_it(tmp_path, model_and_data, stealthy):
    marker = tmp_path / "marker"
    bundle = _bundle(tmp_path / "b", model_and_data, _hostile(model_and_data[0], marker, stealthy=stealthy))
    assert "builtins.eval" in skops_untrusted_types(bundle / "model.skops")[1]
    run = run_cli("check", bundle, "--select", CHECKS)
    assert run.code == 1, run.output  # BLOCKED, never RELEASED
    assert "Traceback" not in run.output
    assert "SEC002" in run.output and "builtins.eval" in run.output
    assert not marker.exists()


def test_a_forest_of_allow_listed_types_passes_sec002_and_loads(tmp_path):
    forest, data = _fit(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0))
    bundle = _bundle(tmp_path / "b", (forest, data), sio.dumps(forest))
    assert skops_untrusted_types(bundle / "model.skops") == (["sklearn.tree._tree.Tree"], [])
    run = run_cli("check", bundle, "--select", CHECKS)
    assert run.code == 0, run.output


def _declare_size(data: bytes, member: str, size: int) -> bytes:
    """The zip with MEMBER's unpacked size in the central directory set to SIZE (its bytes unchanged)."""
    blob = bytearray(data)
    pos = blob.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", blob, pos + 28)[0]
        name = bytes(blob[pos + 46 : pos + 46 + name_len]).decode()
        if name == member:
            struct.pack_into("<I", blob, pos + 24, size)
        pos = blob.find(b"PK\x01\x02", pos + 4)
    return bytes(blob)


def test_a_skops_archive_declaring_gigabytes_is_refused_before_reading(tmp_path, model_and_data):
    data = sio.dumps(model_and_data[0])
    member = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".npy"))
    bomb = _declare_size(data, member, 0xFFFF_FFF0)  # about 4 GiB
    bundle = _bundle(tmp_path / "b", model_and_data, bomb)
    for extra in ((), ("--trust",)):
        run = run_cli("check", bundle, "--select", CHECKS, *extra)
        assert run.code == 1, run.output
        assert "Traceback" not in run.output and "over the limit" in run.output, run.output


def test_a_skops_archive_with_too_many_members_is_refused(tmp_path, model_and_data):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", "{}")
        for i in range(MAX_SKOPS_MEMBERS + 1):
            archive.writestr(f"{i}.npy", b"")
    bundle = _bundle(tmp_path / "b", model_and_data, out.getvalue())
    run = run_cli("check", bundle, "--select", "SEC002")
    assert run.code == 1 and "archive members" in run.output, run.output
