"""ROB001-ROB005 on models built at test time: each defect makes its check fail, a clean model passes."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import (
    feature_names,
    make_model,
    prob_model,
    run_check,
    serving_config,
    set_thresholds,
    tabular_data,
    write_bundle,
)
from onnx import helper, numpy_helper

from readiness import evaluate
from readiness.bundle import load_bundle

QUICK = {"policy": {"thresholds": {"fuzz_max_seconds": 1.0}}}


def _const(name: str, values, dtype=np.int64):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, dtype=dtype), name))


def _column(k: int, out: str) -> list:
    """Nodes slicing feature k of `input` into `out` ([N, 1])."""
    return [
        _const(f"{out}_s", [k]),
        _const(f"{out}_e", [k + 1]),
        _const(f"{out}_a", [1]),
        helper.make_node("Slice", ["input", f"{out}_s", f"{out}_e", f"{out}_a"], [out]),
    ]


def nan_at_zero_model(k: int = 2):
    """NaN probabilities exactly when feature k is 0: logit + 0 * log(|x_k|)."""
    nodes = _column(k, "xk") + [
        helper.make_node("Abs", ["xk"], ["absk"]),
        helper.make_node("Log", ["absk"], ["logk"]),
        _const("zero", [0.0], np.float32),
        helper.make_node("Mul", ["logk", "zero"], ["nanterm"]),
        helper.make_node("Add", ["logit", "nanterm"], ["logit_out"]),
    ]
    return prob_model(4, extra_nodes=nodes)


def nan_in_corner_model():
    """NaN probabilities when f0 < -1 and f1 > 1 at once (no single-column edge case reaches it)."""
    nodes = (
        _column(0, "x0")
        + _column(1, "x1")
        + [
            _const("m1", [-1.0], np.float32),
            _const("plus1", [1.0], np.float32),
            _const("nan", [np.nan], np.float32),
            _const("z", [0.0], np.float32),
            helper.make_node("Less", ["x0", "m1"], ["c0"]),
            helper.make_node("Greater", ["x1", "plus1"], ["c1"]),
            helper.make_node("And", ["c0", "c1"], ["corner"]),
            helper.make_node("Where", ["corner", "nan", "z"], ["term"]),
            helper.make_node("Add", ["logit", "term"], ["logit_out"]),
        ]
    )
    return prob_model(4, extra_nodes=nodes)


def no_zeros(frame: pd.DataFrame) -> pd.DataFrame:
    cols = feature_names(4)
    frame[cols] = frame[cols].mask(frame[cols] == 0, 0.0001)
    return frame


# --------------------------------------------------------------------------- ROB001
def test_rob001_finds_nan_at_zero_with_the_row_and_a_working_reproduce_command(tmp_path: Path):
    reference = no_zeros(tabular_data())
    assert not (reference["f2"] == 0).any()
    bundle = write_bundle(tmp_path / "b", nan_at_zero_model(2), reference=reference)
    rec = run_check(bundle, "ROB001")
    assert rec.status == "fail", rec.message
    ce = rec.evidence["counterexample"]
    assert ce["row"]["f2"] == 0.0
    assert ce["column"] == "f2" and ce["phase"] == "edge"
    assert "not finite" in ce["problem"]
    assert "nan" in str(ce["output"]["probabilities"]).lower()
    assert [f["column"] for f in rec.evidence["edge_failures"]] == ["f2"]
    # the one-line command reproduces the NaN with onnxruntime alone
    cmd = rec.evidence["reproduce"]
    assert cmd.count("\n") == 0
    cd, _, python = cmd.partition(" && ")
    args = shlex.split(python)
    assert args[0] == "python"
    out = subprocess.run([sys.executable, *args[1:]], cwd=shlex.split(cd)[1], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "nan" in out.stdout
    assert "--select ROB001 --seed 0" in rec.evidence["rerun"]


def test_rob001_search_finds_and_shrinks_a_two_column_defect_reproducibly(tmp_path: Path):
    manifest = {"policy": {"thresholds": {"fuzz_max_seconds": 120.0, "fuzz_max_examples": 200}}}
    bundle = write_bundle(tmp_path / "b", nan_in_corner_model(), manifest=manifest)
    first = run_check(bundle, "ROB001", seed=3)
    assert first.status == "fail", first.message
    ce = first.evidence["counterexample"]
    assert ce["phase"] == "search"
    assert ce["row"]["f0"] < -1 and ce["row"]["f1"] > 1
    # shrunk: the columns that do not matter are 0, the two that do are simple numbers
    assert ce["row"]["f2"] == 0 and ce["row"]["f3"] == 0
    assert round(ce["row"]["f0"], 2) == ce["row"]["f0"] and round(ce["row"]["f1"], 2) == ce["row"]["f1"]
    again = run_check(bundle, "ROB001", seed=3)
    assert again.evidence["counterexample"] == ce


def test_rob001_passes_on_the_clean_example_within_its_budget(example_bundle: Path):
    rec = run_check(example_bundle, "ROB001")
    assert rec.status == "pass", rec.message
    assert rec.measured["edge_cases"] >= 30 * 2  # each column at both bounds at least
    assert rec.measured["search_examples"] == 200  # the default example budget, spent well within the time cap
    assert rec.evidence["generator"] == "pandera"
    assert rec.evidence["search"] == "example budget spent"  # the example budget ended it, not the time cap


def test_rob001_model_only_run_falls_back_to_rows_from_the_graph(tmp_path: Path):
    bundle = write_bundle(tmp_path / "b", nan_at_zero_model(1), serving=False, reference=False, target=None)
    rec = run_check(bundle, "ROB001")
    assert rec.status == "fail", rec.message
    assert rec.evidence["counterexample"]["row"]["input_1"] == 0.0
    assert any("synthesised from the graph" in n for n in rec.evidence["notes"])


def test_rob001_model_only_clean_model_passes(tmp_path: Path):
    bundle = write_bundle(tmp_path / "b", prob_model(4), serving=False, reference=False, target=None, manifest=QUICK)
    rec = run_check(bundle, "ROB001")
    assert rec.status == "pass", rec.message
    assert rec.evidence["generator"] == "bounds"


def sqrt_f0_model():
    """NaN probabilities for a negative f0: logit + sqrt(f0)."""
    nodes = _column(0, "x0") + [
        helper.make_node("Sqrt", ["x0"], ["root"]),
        helper.make_node("Add", ["logit", "root"], ["logit_out"]),
    ]
    return prob_model(4, extra_nodes=nodes)


def _custom_check_bundle(path: Path, custom: bool):
    """f0 in [-3, 3] and, with `custom`, also > 0 through a custom check pandera cannot generate data for."""
    import pandera.pandas as pa

    reference = tabular_data()
    reference["f0"] = reference["f0"].abs() + 0.01
    write_bundle(path, sqrt_f0_model(), reference=reference, manifest=QUICK)
    bundle = load_bundle(path)
    columns = {c: pa.Column(float, pa.Check.in_range(-3.0, 3.0)) for c in feature_names(4)}
    if custom:
        columns["f0"] = pa.Column(float, [pa.Check.in_range(-3.0, 3.0), pa.Check(lambda s: s > 0, name="positive")])
    bundle.schema = pa.DataFrameSchema(columns)
    return bundle


def test_rob001_falls_back_to_bounds_when_pandera_cannot_express_a_check(tmp_path: Path):
    bundle = _custom_check_bundle(tmp_path / "b", custom=True)
    # an example budget, not the clock, ends the search (a loaded machine may need more than a second)
    bundle.manifest.policy.thresholds.update(fuzz_max_seconds=120.0, fuzz_max_examples=20)
    rec = run_check(bundle, "ROB001")
    # every row it tried, edge cases included, honoured the custom check: sqrt(f0) never saw a negative
    assert rec.status == "pass", rec.message
    assert rec.evidence["generator"] == "bounds"
    assert any("f0: positive" in n for n in rec.evidence["notes"])
    assert any("3 edge case(s) left out" in n for n in rec.evidence["notes"])
    assert rec.measured["search_examples"] > 0


def test_rob001_without_the_custom_check_the_negative_edge_fails(tmp_path: Path):
    rec = run_check(_custom_check_bundle(tmp_path / "b", custom=False), "ROB001")
    assert rec.status == "fail", rec.message
    assert rec.evidence["counterexample"]["row"]["f0"] < 0


# --------------------------------------------------------------------------- ROB002
def sine_model():
    """A decision that oscillates with f0 a thousand times per unit: tiny noise flips it."""
    nodes = _column(0, "x0") + [
        _const("freq", [1000.0], np.float32),
        helper.make_node("Mul", ["x0", "freq"], ["fx"]),
        helper.make_node("Sin", ["fx"], ["sx"]),
        _const("amp", [50.0], np.float32),
        helper.make_node("Mul", ["sx", "amp"], ["logit_out"]),
    ]
    return prob_model(4, extra_nodes=nodes)


def test_rob002_fails_for_a_hypersensitive_model(tmp_path: Path):
    rec = run_check(write_bundle(tmp_path / "b", sine_model()), "ROB002")
    assert rec.status == "fail", rec.message
    assert rec.measured["flip_rate"] > 0.2
    assert rec.evidence["flipped_examples"]


def step_model(threshold: float = 1.0):
    """A hard step on f0 at `threshold`: label 1 above it, 0 at or below."""
    nodes = _column(0, "x0") + [
        _const("step_at", [threshold], np.float32),
        helper.make_node("Sub", ["x0", "step_at"], ["centred"]),
        helper.make_node("Sign", ["centred"], ["side"]),
        _const("steep", [50.0], np.float32),
        helper.make_node("Mul", ["side", "steep"], ["logit_out"]),
    ]
    return prob_model(4, extra_nodes=nodes)


def test_rob002_fails_for_a_step_function_where_the_data_sits_on_the_step(tmp_path: Path):
    """f0 is recorded in whole units (as counts or ratings are), so many rows sit exactly on the step."""
    reference = tabular_data()
    reference["f0"] = reference["f0"].round()
    on_step = float((reference["f0"] == 1.0).mean())
    assert on_step > 0.15  # precondition: the defect is reachable
    rec = run_check(write_bundle(tmp_path / "b", step_model(1.0), reference=reference), "ROB002")
    assert rec.status == "fail", rec.message
    assert 0.05 < rec.measured["flip_rate"] <= on_step + 1e-9
    # the same step where no row sits (between whole units) is stable under 1% noise
    rec = run_check(write_bundle(tmp_path / "c", step_model(1.5), reference=reference), "ROB002")
    assert rec.status == "pass", rec.message


def test_rob002_passes_for_a_smooth_model_and_leaves_string_columns_alone(tmp_path: Path):
    from onnx import TensorProto

    model = prob_model(4)
    model.graph.input.append(helper.make_tensor_value_info("city", TensorProto.STRING, ["N", 1]))
    reference = tabular_data()
    reference["city"] = np.where(np.arange(len(reference)) % 2, "paris", "oslo")
    serving = serving_config(4)
    serving["inputs"].append({"name": "city", "dtype": "string", "shape": [-1, 1]})
    rec = run_check(write_bundle(tmp_path / "b", model, reference=reference, serving=serving), "ROB002")
    assert rec.status == "pass", rec.message
    assert rec.measured["flip_rate"] <= 0.05
    assert rec.evidence["not_perturbed"] == ["city"]
    assert rec.evidence["perturbed_columns"] == 4


def test_rob002_only_perturbs_numeric_scalar_columns():
    from readiness.checks.robustness import _numeric_scalar_columns

    class Ctx:
        inputs = []

    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0],
            "n": [1, 2],
            "s": ["a", "b"],
            "arr": [np.zeros(3), np.ones(3)],
            "flag": [True, False],
        }
    )
    chosen, left = _numeric_scalar_columns(Ctx(), frame)
    assert chosen == ["x"]
    assert left == ["n", "s", "arr", "flag"]


# --------------------------------------------------------------------------- ROB003
def imputing_model():
    """Replaces NaN inputs by 0 before the logistic layer."""
    model = prob_model(4)
    graph = model.graph
    graph.node.insert(0, helper.make_node("Where", ["isnan", "zeros", "input"], ["clean"]))
    graph.node.insert(0, helper.make_node("IsNaN", ["input"], ["isnan"]))
    graph.initializer.append(numpy_helper.from_array(np.zeros((1, 4), np.float32), "zeros"))
    for node in graph.node:
        if node.op_type == "MatMul":
            node.input[0] = "clean"
    return model


def _nullable_bundle(path: Path, model, **serving_overrides) -> Path:
    from builders import schema_yaml

    reference = tabular_data()
    serving = serving_config(4)
    serving["inputs"][0].update(serving_overrides)
    return write_bundle(path, model, reference=reference, schema=schema_yaml(reference, nullable=True), serving=serving)


def test_rob003_fails_when_a_null_becomes_a_nan_output(tmp_path: Path):
    rec = run_check(_nullable_bundle(tmp_path / "b", prob_model(4)), "ROB003")
    assert rec.status == "fail", rec.message
    assert rec.measured == {"nullable_columns": 4, "failing_columns": 4}
    assert "not finite" in rec.evidence["columns"][0]["problem"]
    assert "reproduce" in rec.evidence


def test_rob003_passes_when_the_model_imputes(tmp_path: Path):
    rec = run_check(_nullable_bundle(tmp_path / "b", imputing_model()), "ROB003")
    assert rec.status == "pass", rec.message
    assert {c["status"] for c in rec.evidence["columns"]} == {"ok"}


def test_rob003_passes_when_the_server_rejects_nulls(tmp_path: Path):
    rec = run_check(_nullable_bundle(tmp_path / "b", prob_model(4), on_null="reject"), "ROB003")
    assert rec.status == "pass", rec.message
    assert rec.evidence["columns"][0]["status"] == "rejected by the server (on_null: reject)"
    assert rec.evidence["columns"][0]["rows_with_problems"] > 0


# --------------------------------------------------------------------------- ROB004
def sqrt_model():
    """Finite within the schema's [-3, 3] for f0, NaN below -3: logit + sqrt(f0 + 3)."""
    nodes = _column(0, "x0") + [
        _const("three", [3.0], np.float32),
        helper.make_node("Add", ["x0", "three"], ["shifted"]),
        helper.make_node("Sqrt", ["shifted"], ["root"]),
        helper.make_node("Add", ["logit", "root"], ["logit_out"]),
    ]
    return prob_model(4, extra_nodes=nodes)


def test_rob004_fails_when_out_of_range_input_is_scored_and_blows_up(tmp_path: Path):
    rec = run_check(write_bundle(tmp_path / "b", sqrt_model()), "ROB004")
    assert rec.status == "fail", rec.message
    first = rec.evidence["cases"][0]
    assert first["column"] == "f0" and first["value"] == -30.0 and first["status"] == "fail"
    assert rec.measured["failures"] == 1


def test_rob004_passes_when_the_server_rejects_invalid_input(tmp_path: Path):
    serving = serving_config(4)
    serving["inputs"][0]["on_invalid"] = "reject"
    rec = run_check(write_bundle(tmp_path / "b", sqrt_model(), serving=serving), "ROB004")
    assert rec.status == "pass", rec.message
    assert rec.measured["rejected_by_server"] == rec.measured["cases"] == 8


def test_rob004_passes_for_a_model_that_stays_finite(tmp_path: Path):
    rec = run_check(write_bundle(tmp_path / "b", prob_model(4)), "ROB004")
    assert rec.status == "pass", rec.message
    assert rec.measured["cases"] == 8  # 4 columns x (x10 above, x10 below)


# --------------------------------------------------------------------------- ROB005
def _sliced_bundle(path: Path, invert: bool) -> Path:
    reference = tabular_data(n_rows=400)
    regions = np.array(["north", "south", "east", "west"], dtype=object)[np.arange(400) % 4]
    regions[:6] = "island"  # a group too small to judge
    reference["region"] = regions
    if invert:
        west = reference["region"] == "west"
        reference.loc[west, "label"] = 1 - reference.loc[west, "label"]
    return write_bundle(path, prob_model(4), reference=reference, manifest={"data": {"slices": ["region"]}})


def test_rob005_fails_when_one_slice_is_inverted(tmp_path: Path):
    rec = run_check(_sliced_bundle(tmp_path / "b", invert=True), "ROB005")
    assert rec.status == "fail", rec.message
    assert rec.measured["worst_group"] == "region=west"
    assert rec.measured["worst"] < 0.5 < rec.measured["overall"]
    assert "region=west" in rec.message


def test_rob005_passes_when_every_slice_is_good_and_reports_small_groups(tmp_path: Path):
    rec = run_check(_sliced_bundle(tmp_path / "b", invert=False), "ROB005")
    assert rec.status == "pass", rec.message
    groups = {g["group"]: g for g in rec.evidence["groups"]}
    assert set(groups) == {"east", "island", "north", "south", "west"}
    assert groups["island"]["judged"] is False and groups["island"]["size"] == 6
    assert all(groups[g]["judged"] for g in ("east", "north", "south", "west"))


def test_rob005_min_metric_bar_is_judged_per_group(tmp_path: Path):
    bundle = _sliced_bundle(tmp_path / "b", invert=False)
    set_thresholds(bundle, min_metric={"roc_auc": 0.999})
    rec = run_check(bundle, "ROB005")
    assert rec.status == "fail", rec.message
    assert "misses the bar 0.999" in rec.message


def test_rob005_is_inconclusive_when_a_group_misses_the_bar_by_less_than_its_uncertainty(tmp_path: Path):
    bundle = _sliced_bundle(tmp_path / "b", invert=False)
    groups = [g for g in run_check(bundle, "ROB005").evidence["groups"] if g["judged"]]
    weakest = min(groups, key=lambda g: g["roc_auc"])
    set_thresholds(bundle, min_metric={"roc_auc": weakest["roc_auc"] + 0.002})  # just above its measured value
    rec = run_check(bundle, "ROB005")
    assert rec.status == "inconclusive", rec.message
    assert f"region={weakest['group']}" in rec.message and "too few rows to be sure" in rec.message
    entry = next(g for g in rec.evidence["groups"] if g["group"] == weakest["group"])
    assert entry["status"] == "inconclusive" and entry["ci_upper"] > weakest["roc_auc"] + 0.002


# --------------------------------------------------------------------------- the example
def test_the_clean_example_passes_all_five(example_bundle: Path):
    set_thresholds(example_bundle, fuzz_max_seconds=1.0)
    scorecard, _ = evaluate(example_bundle, select=["ROB"])
    statuses = {c.id: c.status for c in scorecard.checks}
    assert statuses == {"ROB001": "pass", "ROB002": "pass", "ROB003": "pass", "ROB004": "pass", "ROB005": "pass"}


@pytest.mark.parametrize("invert", [False, True])
def test_rob005_on_the_example_with_a_derived_slice(example_bundle: Path, invert: bool):
    ref = pd.read_csv(example_bundle / "reference.csv")  # the example declares slices = ["size_band"]
    if invert:
        large = ref["size_band"] == "large"
        ref.loc[large, "label"] = 1 - ref.loc[large, "label"]
    ref.to_csv(example_bundle / "reference.csv", index=False, float_format="%.10g")
    rec = run_check(example_bundle, "ROB005")
    assert rec.status == ("fail" if invert else "pass"), rec.message


def test_rob001_finds_nan_at_zero_in_the_example_model_for_every_seed(example_bundle: Path):
    import onnx
    from builders import with_nan_at_zero

    ref = pd.read_csv(example_bundle / "reference.csv")
    assert not (ref["area_error"] == 0).any()
    columns = [c for c in ref.columns if c != "label"]
    model = onnx.load(str(example_bundle / "model.onnx"))
    onnx.save(with_nan_at_zero(model, columns.index("area_error")), str(example_bundle / "model.onnx"))
    for seed in range(3):
        rec = run_check(example_bundle, "ROB001", seed=seed)
        assert rec.status == "fail", rec.message
        assert rec.evidence["counterexample"]["row"]["area_error"] == 0.0
        assert "area_error = 0.0" in rec.message


def test_rob001_search_alone_shrinks_to_the_zero(tmp_path: Path):
    from readiness import fuzz
    from readiness.context import Context

    reference = no_zeros(tabular_data())
    bundle = load_bundle(write_bundle(tmp_path / "b", nan_at_zero_model(3), reference=reference))
    report = fuzz.run(Context(bundle, seed=1), edges=False, max_examples=200)
    assert report.failed and report.counterexample.phase == "search"
    assert report.counterexample.row["f3"] == 0.0
    assert report.reproduce and "f3" not in report.reproduce  # tensors, not column names


# --------------------------------------------------------------------------- regression and categories
def linear_regression_model(scale: float = 1.0, sine: bool = False):
    from builders import make_model
    from onnx import TensorProto

    nodes = [helper.make_node("MatMul", ["input", "W"], ["y0"])]
    if sine:
        nodes += [
            _const("freq", [1000.0], np.float32),
            helper.make_node("Mul", ["y0", "freq"], ["fy"]),
            helper.make_node("Sin", ["fy"], ["sy"]),
            _const("amp", [100.0], np.float32),
            helper.make_node("Mul", ["sy", "amp"], ["variable"]),
        ]
    else:
        nodes += [helper.make_node("Identity", ["y0"], ["variable"])]
    W = numpy_helper.from_array((np.arange(1, 5, dtype=np.float32) * scale).reshape(4, 1), "W")
    return make_model(
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])],
        [W],
    )


def _regression_bundle(path: Path, model) -> Path:
    reference = tabular_data()
    reference["label"] = reference[feature_names(4)].to_numpy() @ np.arange(1, 5)
    serving = serving_config(4, outputs=[{"name": "variable", "kind": "regression"}])
    manifest = {"model": {"task": "regression"}}
    from builders import schema_yaml

    schema = schema_yaml(reference.drop(columns="label"), target=None)
    return write_bundle(path, model, reference=reference, serving=serving, schema=schema, manifest=manifest)


@pytest.mark.parametrize("sine, status", [(False, "pass"), (True, "fail")])
def test_rob002_on_regression_judges_how_far_predictions_move(tmp_path: Path, sine: bool, status: str):
    rec = run_check(_regression_bundle(tmp_path / "b", linear_regression_model(sine=sine)), "ROB002")
    assert rec.status == status, rec.message
    assert "largest_output_change" in rec.evidence["perturbations"]["additive"]


def test_rob004_unseen_category_of_a_coded_column(tmp_path: Path):
    from builders import schema_yaml

    reference = tabular_data()
    reference["f3"] = (np.arange(len(reference)) % 3).astype(float)
    text = schema_yaml(reference)
    import pandera.pandas as pa

    schema = pa.DataFrameSchema.from_yaml(text)
    schema = schema.update_column("f3", checks=[pa.Check.isin([0.0, 1.0, 2.0])])
    # a model that is NaN unless f3 is one of the known codes: log(2.5 - f3) is NaN above 2.5
    nodes = _column(3, "x3") + [
        _const("c", [2.5], np.float32),
        helper.make_node("Sub", ["c", "x3"], ["d"]),
        helper.make_node("Log", ["d"], ["ld"]),
        helper.make_node("Add", ["logit", "ld"], ["logit_out"]),
    ]
    bundle = write_bundle(
        tmp_path / "b", prob_model(4, extra_nodes=nodes), reference=reference, schema=schema.to_yaml()
    )
    rec = run_check(bundle, "ROB004")
    assert rec.status == "fail", rec.message
    first = rec.evidence["cases"][0]
    assert (first["column"], first["case"], first["value"]) == ("f3", "unseen category", 3.0)


def test_rob001_without_a_schema_takes_bounds_from_the_reference_data(tmp_path: Path):
    reference = no_zeros(tabular_data())
    bundle = write_bundle(tmp_path / "b", nan_at_zero_model(0), reference=reference, schema="")
    rec = run_check(bundle, "ROB001")
    assert rec.status == "fail", rec.message
    assert rec.evidence["bounds_from"] == "data"
    assert rec.evidence["counterexample"]["row"]["f0"] == 0.0
    assert any("the reference data" in n for n in rec.evidence["notes"])


def test_rob001_reports_a_contract_mismatch_as_the_contract_error_not_a_fuzzing_finding(tmp_path: Path):
    from builders import serving_config, write_bundle

    serving = serving_config(4)
    serving["inputs"][0]["dtype"] = "float64"  # the graph takes float32: every row is refused
    bundle = write_bundle(tmp_path / "b", serving=serving, manifest=QUICK)
    rec = run_check(bundle, "ROB001")
    assert rec.status == "error", rec.message
    assert "SCH001" in rec.message and "breaks the model" not in rec.message


def test_rob001_leaves_no_hypothesis_folder_in_the_working_directory(tmp_path: Path):
    """A string input makes hypothesis draw text, which caches its character map under `.hypothesis/`."""
    import os

    from onnx import TensorProto

    model = prob_model(4)
    model.graph.input.append(helper.make_tensor_value_info("city", TensorProto.STRING, ["N", 1]))
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPOTHESIS")}
    exe = Path(sys.executable).parent / "readiness"
    proc = subprocess.run(
        [str(exe), "check", str(tmp_path / "model.onnx"), "--select", "ROB001", "--quiet"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in cwd.iterdir()) == []
    assert not (tmp_path / ".hypothesis").exists()


# --------------------------------------------------------------------------- ROB002: confidence-bound verdicts
def test_rob002_is_inconclusive_when_the_flip_share_sits_on_the_limit(tmp_path: Path):
    """10% of rows sit exactly on the step and half of those flip: a true share of 5%, the limit itself."""
    reference = tabular_data(400)
    reference["f0"] = np.where(np.arange(400) % 10 == 0, 1.0, np.where(np.arange(400) % 2, -2.0, 2.5))
    bundle = write_bundle(tmp_path / "b", step_model(1.0), reference=reference)
    set_thresholds(bundle, perturbation_max_rows=1600)
    rec = run_check(bundle, "ROB002")
    assert rec.status == "inconclusive", rec.message
    assert rec.measured["flip_rate_lower"] <= 0.05 < rec.measured["flip_rate_upper"]
    assert rec.measured["rows"] == 1600  # sampled more (resampled rows, fresh noise) up to the cap
    assert "perturbation_max_rows" in rec.message


def _step_regressor(step: float = 100.0):
    """A regression output with a jump of `step` at f0 = 1 (and a gentle slope in f1)."""
    nodes = [
        *_column(0, "x0"),
        *_column(1, "x1"),
        _const("one", [1.0], np.float32),
        _const("jump", [step], np.float32),
        _const("slope", [10.0], np.float32),
        helper.make_node("GreaterOrEqual", ["x0", "one"], ["above"]),
        helper.make_node("Cast", ["above"], ["above_f"], to=1),
        helper.make_node("Mul", ["above_f", "jump"], ["stepped"]),
        helper.make_node("Mul", ["x1", "slope"], ["sloped"]),
        helper.make_node("Add", ["stepped", "sloped"], ["value"]),
    ]
    from onnx import TensorProto

    return make_model(
        nodes,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["N", 1])],
    )


def _step_regression_bundle(path: Path, model, reference: pd.DataFrame) -> Path:
    serving = serving_config(4)
    serving["outputs"] = [{"name": "value", "kind": "regression"}]
    return write_bundle(
        path,
        model,
        reference=reference,
        serving=serving,
        target="y",
        schema=False,
        manifest={"model": {"task": "regression"}},
    )


def test_rob002_regression_flip_is_a_move_beyond_a_tenth_of_the_targets_spread(tmp_path: Path):
    reference = tabular_data()
    reference["f0"] = reference["f0"].round()  # whole units: many rows sit exactly on the jump at f0 = 1
    reference["y"] = 100.0 * (reference["f0"] >= 1) + 10 * reference["f1"]
    reference = reference.drop(columns=["label"])
    rec = run_check(_step_regression_bundle(tmp_path / "b", _step_regressor(100.0), reference), "ROB002")
    assert rec.status == "fail", rec.message
    iqr = float(np.subtract(*np.percentile(reference["y"], [75, 25])))
    assert rec.evidence["flip_threshold"] == {
        "fraction": 0.1,
        "spread": pytest.approx(iqr),
        "of": ("the reference target's interquartile range"),
    }
    assert "0.1 x the reference target's interquartile range" in rec.message
    # a jump smaller than a tenth of the target's spread is no flip: the same data passes
    rec = run_check(_step_regression_bundle(tmp_path / "c", _step_regressor(0.01 * iqr), reference), "ROB002")
    assert rec.status == "pass", rec.message


@pytest.fixture(scope="module")
def diabetes_gbr(tmp_path_factory) -> Path:
    """The issue's case: a stock GradientBoostingRegressor on load_diabetes, 30% held out as reference data."""
    from builders import sklearn_onnx
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_ref, y_train, y_ref = train_test_split(X, y, test_size=0.3, random_state=0)
    model = GradientBoostingRegressor(random_state=0).fit(X_train, y_train)
    serving = serving_config(X.shape[1], max_batch_size=64, features=list(X.columns))
    serving["outputs"] = [{"name": "variable", "kind": "regression"}]
    return write_bundle(
        tmp_path_factory.mktemp("gbr") / "b",
        sklearn_onnx(model, X.shape[1]),
        reference=X_ref.assign(target=y_ref),
        serving=serving,
        target="target",
        schema=False,
        manifest={"model": {"task": "regression"}},
    )


@pytest.mark.slow
def test_rob002_gives_a_stock_regressor_the_same_verdict_under_every_seed(diabetes_gbr: Path):
    """Before: BLOCKED under seeds 1, 2, 4, 5 (flip share 6-9% of 133 rows) and RELEASED under 3 (limit 5%)."""
    results = {seed: run_check(diabetes_gbr, "ROB002", seed=seed) for seed in (1, 2, 3, 4, 5)}
    statuses = {seed: r.status for seed, r in results.items()}
    assert set(statuses.values()) == {"pass"}, {s: r.message for s, r in results.items()}
    assert all(r.measured["flip_rate_upper"] <= 0.05 for r in results.values())
    assert any(r.measured["rows"] > 133 for r in results.values())  # undecided on 133 rows: sampled more
