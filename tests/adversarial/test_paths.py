"""Every path a bundle names stays inside the workspace root; escaping paths are exit 2 and never opened."""

from __future__ import annotations

import json
import os
from pathlib import Path

import onnx
import pytest
import yaml
from builders import prob_model, tabular_data, write_bundle

from ._confine_helpers import SECRET, assert_refused, outside, run_cli

pytest_plugins = ["pytester"]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace (no git work tree above it): the bundle's own directory is the root."""
    return write_bundle(tmp_path / "ws" / "bundle")


def _set(bundle: Path, text: str) -> None:
    (bundle / "readiness.toml").write_text((bundle / "readiness.toml").read_text() + "\n" + text + "\n")


def _replace(bundle: Path, old: str, new: str) -> None:
    path = bundle / "readiness.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    "key, old, new",
    [
        ("[data].reference", 'reference = "reference.csv"', 'reference = "../../outside/ci_env.txt"'),
        ("[data].schema", 'schema = "schema.yaml"', 'schema = "{out}/ci_env.txt"'),
        ("[serving].config", 'config = "serving.yaml"', 'config = "sub/../../../outside/ci_env.txt"'),
        ("[model].path", 'path = "model.onnx"', 'path = "../../outside/model.onnx"'),
    ],
)
def test_a_manifest_key_escaping_the_root_is_refused_unopened(tmp_path, ws, key, old, new):
    out = outside(tmp_path)
    onnx.save_model(prob_model(), out / "model.onnx")
    _replace(ws, old, new.format(out=out))
    run = run_cli("check", ws)
    assert_refused(run, key, secret_dir=out)
    assert "outside the workspace root" in run.output and str(ws.resolve()) in run.output


@pytest.mark.parametrize("name, key", [("schema.yaml", "[data].schema"), ("serving.yaml", "[serving].config")])
def test_a_symlink_out_of_the_root_is_refused_unopened(tmp_path, ws, name, key):
    out = outside(tmp_path)
    (ws / name).unlink()
    os.symlink(out / "ci_env.txt", ws / name)
    assert_refused(run_cli("check", ws), key, secret_dir=out)


@pytest.mark.parametrize(
    "section, key",
    [
        ('[lineage]\ntraining_data = "../../outside/ci_env.txt"', "[lineage].training_data"),
        ('[lineage]\nenvironment = "../../outside/ci_env.txt"', "[lineage].environment"),
        ('[baseline]\nmanifest = "../../outside/readiness.toml"', "[baseline].manifest"),
    ],
)
def test_lineage_and_baseline_paths_are_confined(tmp_path, ws, section, key):
    out = outside(tmp_path)
    write_bundle(out / "prod")
    (out / "readiness.toml").write_text((out / "prod" / "readiness.toml").read_text())
    _set(ws, section)
    assert_refused(run_cli("check", ws), key, secret_dir=out)


def test_a_source_model_symlinked_out_is_refused(tmp_path, ws):
    out = outside(tmp_path)
    os.symlink(out / "ci_env.txt", ws / "model.skops")
    _replace(ws, 'path = "model.onnx"', 'path = "model.onnx"\nsource = "model.skops"')
    assert_refused(run_cli("check", ws), "[model].source", secret_dir=out)


def test_the_manifest_itself_symlinked_out_is_refused(tmp_path, ws):
    out = outside(tmp_path)
    (out / "readiness.toml").write_text((ws / "readiness.toml").read_text())
    (ws / "readiness.toml").unlink()
    os.symlink(out / "readiness.toml", ws / "readiness.toml")
    assert_refused(run_cli("check", ws), "the manifest itself", secret_dir=out)


def test_a_baselines_own_paths_are_confined_to_the_same_root(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)  # a git work tree: the root is repo/
    out = outside(tmp_path)
    cand = write_bundle(repo / "candidate")
    prod = write_bundle(repo / "prod")
    _replace(prod, 'reference = "reference.csv"', 'reference = "../../outside/ci_env.txt"')
    _set(cand, '[baseline]\nmanifest = "../prod/readiness.toml"')
    run = run_cli("check", cand)
    assert_refused(run, "[data].reference", secret_dir=out)
    assert "[baseline].manifest" in run.output and str(repo.resolve()) in run.output


def test_a_sibling_baseline_inside_the_git_work_tree_is_accepted(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    cand = write_bundle(repo / "candidate")
    write_bundle(repo / "prod")
    _set(cand, '[baseline]\nmanifest = "../prod/readiness.toml"')
    run = run_cli("check", cand, "--select", "SEC001")
    assert run.code == 0, run.output


def test_root_option_widens_and_narrows_the_workspace(tmp_path):
    cand = write_bundle(tmp_path / "w" / "candidate")
    write_bundle(tmp_path / "w" / "prod")
    _set(cand, '[baseline]\nmanifest = "../prod/readiness.toml"')
    assert run_cli("check", cand, "--select", "SEC001").code == 2  # the bundle's own directory is the root
    assert run_cli("check", cand, "--select", "SEC001", "--root", tmp_path / "w").code == 0
    narrow = run_cli("check", cand, "--select", "SEC001", "--root", cand / "nowhere")
    assert narrow.code == 2 and "--root" in narrow.output


def test_an_absolute_path_inside_the_root_is_accepted(ws):
    _replace(ws, 'schema = "schema.yaml"', f'schema = "{ws / "schema.yaml"}"')
    run = run_cli("check", ws, "--select", "SEC001")
    assert run.code == 0, run.output


def test_a_non_csv_reference_inside_the_root_never_echoes_its_content(ws):
    (ws / "env.txt").write_text(f"{SECRET}\nAWS_SECRET=abc\nOTHER=1\n")
    _replace(ws, 'reference = "reference.csv"', 'reference = "env.txt"')
    assert_refused(run_cli("check", ws), "[data].target")


def test_a_model_file_symlinked_out_is_refused_in_a_model_only_run(tmp_path):
    out = outside(tmp_path)
    onnx.save_model(prob_model(), out / "model.onnx")
    ws = tmp_path / "ws"
    ws.mkdir()
    os.symlink(out / "model.onnx", ws / "model.onnx")
    assert_refused(run_cli("check", ws / "model.onnx"), "the model file", secret_dir=out)


def _mlflow_dir(directory: Path, *, data: str = "model.onnx", example: str | None = None) -> Path:
    directory.mkdir(parents=True)
    onnx.save_model(prob_model(), directory / "model.onnx")
    meta = {"flavors": {"onnx": {"data": data, "onnx_version": "1.17"}}, "run_id": "r1"}
    if example is not None:
        meta["saved_input_example_info"] = {"artifact_path": example, "type": "dataframe"}
    (directory / "MLmodel").write_text(yaml.safe_dump(meta))
    return directory


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"data": "../../outside/model.onnx"}, "flavors.onnx.data"),
        ({"example": "../../outside/ci_env.txt"}, "saved_input_example_info.artifact_path"),
    ],
)
def test_mlflow_paths_are_confined(tmp_path, kwargs, key):
    out = outside(tmp_path)
    onnx.save_model(prob_model(), out / "model.onnx")
    model_dir = _mlflow_dir(tmp_path / "ws" / "mlmodel", **kwargs)
    assert_refused(run_cli("check", model_dir), key, secret_dir=out)


def test_triton_label_file_is_confined_to_the_config_directory(tmp_path):
    out = outside(tmp_path)
    bundle = write_bundle(tmp_path / "ws" / "b", serving=False)
    (bundle / "config.pbtxt").write_text(
        'platform: "onnxruntime_onnx"\nmax_batch_size: 8\n'
        'input [ { name: "input" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        'output [ { name: "probabilities" data_type: TYPE_FP32 dims: [ 2 ] '
        'label_filename: "../../outside/ci_env.txt" } ]\n'
    )
    _set(bundle, '[serving]\nconfig = "config.pbtxt"')
    assert_refused(run_cli("check", bundle), "label_filename", secret_dir=out)


def test_error_messages_quote_at_most_200_characters_of_bundle_content(ws):
    long_value = "A" * 100_000
    _replace(ws, 'name = "test-model"', f'name = "test-model"\ntask = "{long_value}"')
    run = run_cli("check", ws)
    assert run.code == 2 and "Traceback" not in run.output
    assert "A" * 201 not in run.output and len(run.output) < 2000, len(run.output)


def test_reference_data_named_by_absolute_path_outside_is_refused(tmp_path, ws):
    out = outside(tmp_path)
    tabular_data().to_csv(out / "holdout.csv", index=False)
    _replace(ws, 'reference = "reference.csv"', f"reference = {json.dumps(str(out / 'holdout.csv'))}")
    assert_refused(run_cli("check", ws), "[data].reference", secret_dir=out)


def test_init_refuses_a_data_sample_outside_the_root_unless_root_widens_it(tmp_path):
    out = outside(tmp_path)
    tabular_data().to_csv(out / "holdout.csv", index=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    onnx.save_model(prob_model(), ws / "model.onnx")
    run = run_cli("init", ws / "model.onnx", "--data", out / "holdout.csv", "--target", "label")
    assert_refused(run, "--data", secret_dir=out)
    assert not (ws / "readiness.toml").exists()
    widened = run_cli("init", ws / "model.onnx", "--data", out / "holdout.csv", "--target", "label", "--root", tmp_path)
    assert widened.code == 0, widened.output
    assert run_cli("check", ws, "--select", "SEC001", "--root", tmp_path).code == 0


def test_pytest_plugin_confines_paths_and_takes_readiness_root(pytester: pytest.Pytester):
    write_bundle(pytester.path / "models" / "candidate", manifest={"baseline": {"manifest": "../prod/readiness.toml"}})
    write_bundle(pytester.path / "models" / "prod")
    pytester.makeini("[pytest]\nreadiness_bundles = models/candidate\naddopts = -p no:cacheprovider\n")
    args = ("--readiness", "--collect-only", "-q", "-p", "no:hypothesispytest")
    refused = pytester.runpytest(*args)
    assert refused.ret != 0
    text = refused.stdout.str() + refused.stderr.str()
    assert "[baseline].manifest" in text and "outside the workspace root" in text
    widened = pytester.runpytest(*args, "--readiness-root", "models")
    assert widened.ret == 0, widened.stdout.str()
