"""Bounded parsing: tiny hostile config files cannot exhaust memory, the stack or the terminal.

Each attack is exit 2 with one line, never an internal error (exit 3) or a traceback.
The billion-laughs file is also loaded in a child process whose peak memory is compared
with its memory before loading (a bound, not a timing; the subprocess timeout is generous).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from builders import schema_yaml, serving_config, tabular_data, write_bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readiness.bundle import load_bundle
from readiness.errors import BundleError

from ._confine_helpers import run_cli

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return write_bundle(tmp_path / "b")


def _refused(run, needle: str) -> None:
    assert run.code == 2, run.output
    assert "Traceback" not in run.output and "RecursionError" not in run.output, run.output
    assert len(run.output.strip().splitlines()) == 1, run.output
    assert needle in run.output, run.output


@pytest.mark.parametrize("name", ["serving.yaml", "schema.yaml"])
def test_a_billion_laughs_yaml_is_refused(bundle, name):
    (bundle / name).write_text(BILLION_LAUGHS)
    _refused(run_cli("check", bundle), "aliases")


def test_a_billion_laughs_kserve_or_mlmodel_is_refused(tmp_path):
    model_dir = tmp_path / "mlmodel"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text(BILLION_LAUGHS + "flavors: {onnx: {data: model.onnx}}\n")
    _refused(run_cli("check", model_dir), "aliases")


def test_a_recursive_alias_is_refused(bundle):
    (bundle / "serving.yaml").write_text("inputs: &a [*a]\noutputs: []\n")
    _refused(run_cli("check", bundle), "recursive alias")


def test_a_few_anchors_in_a_real_serving_config_still_load(bundle):
    cfg = serving_config(4)
    text = yaml.safe_dump(cfg, sort_keys=False).replace("runtime:", "runtime: &rt", 1)
    (bundle / "serving.yaml").write_text(text)
    assert load_bundle(bundle).serving is not None


_BILLION_LAUGHS_PROBE = textwrap.dedent(
    """
    import resource, sys, time
    from pathlib import Path
    from readiness.bundle import load_bundle
    from readiness.errors import BundleError
    load_bundle(sys.argv[2])  # warm: every import the loader needs
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        load_bundle(sys.argv[1])
        print("LOADED")
    except BundleError as exc:
        print("REFUSED", exc)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("PEAK_GROWTH_KB", after - before, "SECONDS", round(time.perf_counter() - t0, 3))
    """
)


def test_the_billion_laughs_is_refused_within_100_mb_in_a_child_process(tmp_path):
    hostile = write_bundle(tmp_path / "hostile")
    (hostile / "serving.yaml").write_text(BILLION_LAUGHS)
    clean = write_bundle(tmp_path / "clean")
    proc = subprocess.run(
        [sys.executable, "-c", _BILLION_LAUGHS_PROBE, str(hostile), str(clean)],
        capture_output=True,
        text=True,
        timeout=120,  # generous: a loader without limits runs for minutes and grows past gigabytes
    )
    assert proc.returncode == 0, proc.stderr
    assert "REFUSED" in proc.stdout and "aliases" in proc.stdout, proc.stdout
    growth_kb = int(proc.stdout.split("PEAK_GROWTH_KB")[1].split()[0])
    assert growth_kb < 100 * 1024, proc.stdout


@pytest.mark.parametrize(
    "name, text, needle",
    [
        ("serving.yaml", "[" * 100_000 + "]" * 100_000, "nesting is deeper than 100"),
        ("serving.yaml", "".join("  " * i + "- \n" for i in range(2000)), "nesting is deeper than 100"),
        ("schema.yaml", "columns: " + "{a: " * 150 + "1" + "}" * 150, "nesting is deeper than 100"),
    ],
)
def test_deeply_nested_yaml_is_exit_2_not_a_recursion_error(bundle, name, text, needle):
    (bundle / name).write_text(text)
    _refused(run_cli("check", bundle), needle)


def test_deeply_nested_toml_is_exit_2(bundle):
    (bundle / "readiness.toml").write_text(
        (bundle / "readiness.toml").read_text() + "\n[policy.thresholds]\nx = " + "[" * 50_000 + "]" * 50_000 + "\n"
    )
    _refused(run_cli("check", bundle), "nesting is deeper than 100")


def test_deeply_nested_json_schema_is_exit_2(bundle):
    (bundle / "schema.json").write_text('{"columns": ' + "[" * 100_000 + "]" * 100_000 + "}")
    path = bundle / "readiness.toml"
    path.write_text(path.read_text().replace('schema = "schema.yaml"', 'schema = "schema.json"'))
    _refused(run_cli("check", bundle), "nesting is deeper than 100")


@pytest.mark.parametrize("name", ["serving.yaml", "readiness.toml", "config.pbtxt"])
def test_a_config_over_10_mib_is_refused_before_parsing(bundle, name):
    path = bundle / name
    original = path.read_text() if path.exists() else 'platform: "onnxruntime_onnx"\n'
    path.write_text(original + ("#" * 1023 + "\n") * (10 * 1024 + 1))
    if name == "config.pbtxt":
        toml = bundle / "readiness.toml"
        toml.write_text(toml.read_text().replace('config = "serving.yaml"', 'config = "config.pbtxt"'))
    _refused(run_cli("check", bundle), "over the limit")


@pytest.mark.parametrize(
    "edit, needle",
    [
        (("readiness.toml", "\n[checks]\ntimeout_s = inf\n"), "numbers must be finite"),
        (("readiness.toml", "\n[checks]\ntimeout_s = nan\n"), "numbers must be finite"),
        (("readiness.toml", "\n[lineage]\nseed = 99999999999999999999999\n"), "out of range"),
        (("serving.yaml", "timeout_ms: .inf\n"), "numbers must be finite"),
        (("serving.yaml", "batching: {max_batch_size: 1" + "0" * 30 + "}\n"), "out of range"),
    ],
)
def test_numbers_out_of_range_are_exit_2(bundle, edit, needle):
    name, extra = edit
    path = bundle / name
    text = path.read_text()
    if name == "serving.yaml" and extra.startswith("batching"):
        text = text.split("batching:")[0] + "slo: {}\n"
    path.write_text(text + extra)
    _refused(run_cli("check", bundle), needle)


def test_an_error_never_embeds_an_unbounded_input(bundle):
    (bundle / "serving.yaml").write_text("inputs: " + json.dumps(["x" * 50] * 20_000) + "\noutputs: []\n")
    run = run_cli("check", bundle)
    assert run.code == 2 and len(run.output) < 3000, len(run.output)


# --------------------------------------------------------------------------- property: never exit 3
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_nested = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
_PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tabular_data(40)
    bundle = write_bundle(tmp_path_factory.mktemp("prop") / "b", reference=data, schema=schema_yaml(data))
    return bundle


def _load_never_crashes(bundle: Path) -> None:
    try:
        load_bundle(bundle)
    except BundleError as exc:
        assert "\n" not in str(exc).strip() or len(str(exc)) < 5000
        assert len(str(exc)) < 5000, len(str(exc))


def _write_and_load(base: Path, name: str, content: bytes) -> None:
    path = base / name
    original = path.read_bytes()
    try:
        path.write_bytes(content)
        _load_never_crashes(base)
    finally:
        path.write_bytes(original)


@_PROPERTY
@given(name=st.sampled_from(["readiness.toml", "serving.yaml", "schema.yaml"]), content=st.binary(max_size=300))
def test_random_bytes_are_exit_2_or_success(base, name, content):
    _write_and_load(base, name, content)


@_PROPERTY
@given(name=st.sampled_from(["serving.yaml", "schema.yaml"]), data=_nested)
def test_random_yaml_structures_are_exit_2_or_success(base, name, data):
    _write_and_load(base, name, yaml.safe_dump(data).encode())


@_PROPERTY
@given(table=st.dictionaries(st.sampled_from(["model", "data", "serving", "checks", "lineage", "x"]), _nested))
def test_random_manifest_structures_are_exit_2_or_success(base, table):
    import tomli_w

    def tomlable(value):  # TOML has no null; drop what it cannot express
        if isinstance(value, dict):
            return {str(k): tomlable(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [tomlable(v) for v in value if v is not None]
        return value

    try:
        text = tomli_w.dumps(tomlable(table))
    except (TypeError, ValueError):
        return
    _write_and_load(base, "readiness.toml", text.encode())


def _gzip_reference(bundle: Path, unpacked_bytes: int = 0) -> Path:
    """The bundle's reference.csv gzipped (its data rows repeated until it unpacks to at least
    `unpacked_bytes`), named in the manifest."""
    import gzip

    lines = (bundle / "reference.csv").read_text().splitlines(keepends=True)
    target = bundle / "reference.csv.gz"
    with gzip.open(target, "wt", compresslevel=6) as fh:
        fh.writelines(lines)
        body = "".join(lines[1:]) * 1000
        for _ in range(unpacked_bytes // len(body)):
            fh.write(body)
    (bundle / "reference.csv").unlink()
    toml = bundle / "readiness.toml"
    toml.write_text(toml.read_text().replace('"reference.csv"', '"reference.csv.gz"'))
    return target


def test_a_gzipped_reference_is_read(bundle):
    expected = load_bundle(bundle).reference
    _gzip_reference(bundle)
    loaded = load_bundle(bundle).reference
    assert loaded.equals(expected)


def test_a_gzip_bomb_is_refused_before_it_is_unpacked(bundle):
    """Rows repeated until the CSV is some 150 MB, gzipped to under a megabyte: past 64 MiB (or 50
    times the file) the reading stops with exit 2, in one line that says what to do."""
    import readiness.bundle

    packed = _gzip_reference(bundle, unpacked_bytes=150_000_000)
    assert packed.stat().st_size * readiness.bundle.MAX_UNPACK_RATIO < readiness.bundle.MIN_UNPACKED_CAP
    _refused(run_cli("check", bundle, "--select", "SCH001"), "unpacks to more than 67,108,864 bytes")
