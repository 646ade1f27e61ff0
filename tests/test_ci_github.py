"""The GitHub Action (action.yml): its check step, run as GitHub would, with a fake GITHUB_* environment.

Only the step that needs no network runs here (setup-python, pip install, upload-artifact and the
pull-request comment need GitHub); its `run:` script and `env:` come from action.yml itself, so
the test fails when the Action and the script drift apart.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from test_reports_ci import _sarif_schema

ROOT = Path(__file__).resolve().parent.parent
EXPR = re.compile(r"^\$\{\{\s*(.+?)\s*\}\}$")


def _action() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def _step(action: dict, step_id: str) -> dict:
    return next(s for s in action["runs"]["steps"] if s.get("id") == step_id)


def _parse_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads it: name=value lines and name<<DELIM heredoc blocks."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            out[name] = "\n".join(iter(lambda: next(lines), delim))
        elif line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


def run_action(workspace: Path, *, post_comment: bool = False, **inputs: str) -> tuple[int, str, dict[str, str], str]:
    """Run action.yml's `check` step in `workspace`; returns (exit code, step summary, outputs, log)."""
    action = _action()
    values = {f"inputs.{name}": str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    for name, value in inputs.items():
        key = f"inputs.{name.replace('_', '-')}"
        assert key in values, f"action.yml has no input {key}"
        values[key] = value
    values["steps.install.outputs.python"] = sys.executable
    values["inputs.github-token != '' && github.event_name == 'pull_request'"] = "true" if post_comment else "false"
    step = _step(action, "check")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    for name, raw in step["env"].items():
        match = EXPR.match(str(raw))
        env[name] = values[match.group(1)] if match else str(raw)
    summary, outputs = workspace / "_runner" / "summary.md", workspace / "_runner" / "output.txt"
    summary.parent.mkdir(exist_ok=True)
    summary.write_text("", encoding="utf-8")
    outputs.write_text("", encoding="utf-8")
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(outputs),
        GITHUB_ACTION_PATH=str(ROOT),
        RUNNER_TEMP=str(workspace / "_runner"),
    )
    cwd = workspace / EXPR.sub(lambda m: values[m.group(1)], str(step.get("working-directory", ".")))
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    text = summary.read_text(encoding="utf-8")
    return proc.returncode, text, _parse_outputs(outputs.read_text(encoding="utf-8")), proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def workspace(_example_master: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository checkout with two bundles: the example, and examples/not-ready built by its script."""
    ws = tmp_path_factory.mktemp("gh-workspace")
    shutil.copytree(_example_master, ws / "models" / "breast-cancer")
    spec = importlib.util.spec_from_file_location("not_ready_build", ROOT / "examples" / "not-ready" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(ws / "models" / "not-ready")
    return ws


@pytest.fixture(scope="module")
def example_run(workspace: Path):
    return run_action(workspace, bundles="models/breast-cancer", output_dir="reports-main")


def test_action_can_leave_the_step_summary_alone(workspace):
    code, summary, outputs, _ = run_action(
        workspace,
        working_directory="models",
        bundles="not-ready",
        args="--select SCH001",
        output_dir="../base-run",
        step_summary="false",
    )
    assert code == 1 and summary == ""
    assert Path(outputs["scorecard"]) == workspace / "base-run" / "not-ready" / "scorecard.json"


def test_action_releases_the_example_with_a_short_summary_and_valid_sarif(example_run):
    code, summary, outputs, log = example_run
    assert code == 0, log
    assert outputs["released"] == "true" and outputs["exit-code"] == "0"
    lines = summary.splitlines()
    assert 5 < len(lines) < 60
    assert lines[0].startswith("## ✅ RELEASED: breast-cancer 1.0.0")
    card = json.loads(Path(outputs["scorecard"]).read_text(encoding="utf-8"))
    assert card["gate"]["released"] is True and card["model"]["name"] == "breast-cancer"
    assert json.loads(outputs["scorecards"]) == [outputs["scorecard"]]
    sarif_path = Path(outputs["sarif"])
    assert sarif_path.name == "readiness.sarif"
    jsonschema.Draft4Validator(_sarif_schema()).validate(json.loads(sarif_path.read_text(encoding="utf-8")))
    html = Path(outputs["html"])
    assert html.is_file() and "breast-cancer" in html.read_text(encoding="utf-8")
    assert Path(outputs["output-dir"]) in html.parents  # the directory upload-artifact uploads
    # bundle text in the log cannot become a workflow command: the run is wrapped in stop-commands
    token = re.search(r"^::stop-commands::(\S+)$", log, re.M)
    assert token and f"::{token.group(1)}::" in log


def test_action_blocks_not_ready_and_posts_a_diff_against_the_base_scorecard(workspace, example_run):
    _, _, base_outputs, _ = example_run
    code, summary, outputs, log = run_action(
        workspace,
        bundles="models/not-ready",
        args="--select ART,SEC,SCH",
        output_dir="reports-pr",
        base_scorecard=base_outputs["scorecard"],
    )
    assert code == 1, log
    assert outputs["released"] == "false" and outputs["exit-code"] == "1"
    assert summary.startswith("## ❌ BLOCKED: breast-cancer-misconfigured")
    assert "SCH001" in summary and "**blocks**" in summary
    diff = Path(outputs["diff"]).read_text(encoding="utf-8")
    assert diff.startswith("<!-- readiness-diff -->")  # the comment step finds its own comment by this
    assert "❌ readiness diff" in diff
    row = next(line for line in diff.splitlines() if line.startswith("| **SCH001**"))
    assert "| newly failing | pass | fail |" in row.replace("PASS", "pass").replace("FAIL", "fail")
    assert diff in summary  # no token: the diff goes to the step summary


def test_action_checks_several_bundles_and_reports_the_worst(workspace, example_run):
    bundles = "models/*"
    base_dir = example_run[2]["output-dir"]  # a base-branch run's output directory: one scorecard per bundle slug
    code, summary, outputs, log = run_action(
        workspace,
        post_comment=True,
        bundles=bundles,
        args="--select SCH001",
        output_dir=f"r-{bundles.strip('*/')}",
        base_scorecard=base_dir,
    )
    assert code == 1, log
    assert outputs["released"] == "false"
    cards = json.loads(outputs["scorecards"])
    assert [Path(c).parent.name for c in cards] == ["models-breast-cancer", "models-not-ready"]
    headings = [line for line in summary.splitlines() if line.startswith("## ")]
    assert [h.split(":")[0] for h in headings] == ["## ✅ RELEASED", "## ❌ BLOCKED"]
    assert Path(outputs["sarif"]).is_dir() and len(list(Path(outputs["sarif"]).rglob("*.sarif"))) == 2
    diff = Path(outputs["diff"]).read_text(encoding="utf-8")
    assert "readiness diff" not in summary  # with a token, the comment step posts the diff instead
    assert "## ✅ readiness diff: `models/breast-cancer`" in diff
    assert "## readiness diff: `models/not-ready`\n\nNo base-branch scorecard" in diff


def test_action_survives_an_unusable_base_scorecard(workspace):
    (workspace / "broken-base.json").write_text("{not json", encoding="utf-8")
    code, summary, outputs, log = run_action(
        workspace,
        bundles="models/not-ready",
        args="--select SCH001",
        output_dir="r4",
        base_scorecard="broken-base.json",
    )
    assert code == 1 and outputs["released"] == "false" and "Traceback" not in log
    assert "The base-branch scorecard is unusable" in Path(outputs["diff"]).read_text(encoding="utf-8")


def test_action_input_errors_exit_2_with_one_line(workspace):
    code, summary, outputs, log = run_action(workspace, bundles="models/nope-*", output_dir="r2")
    assert code == 2
    assert "input bundles: 'models/nope-*' matched nothing" in log and "Traceback" not in log
    code, _, _, log = run_action(workspace, bundles="models/breast-cancer", fail_on="sometimes", output_dir="r2")
    assert code == 2 and "input fail-on" in log


def test_action_reports_a_bundle_it_cannot_read_in_the_summary(workspace, tmp_path):
    broken = workspace / "models-broken" / "b"
    broken.mkdir(parents=True, exist_ok=True)
    (broken / "readiness.toml").write_text("[model]\npath = 'missing.onnx'\n", encoding="utf-8")
    code, summary, outputs, log = run_action(workspace, bundles="models-broken/b", output_dir="r3")
    assert code == 2, log
    assert outputs["released"] == "false" and outputs["scorecard"] == ""
    assert summary.startswith("## ⚠️ readiness could not check `models-broken/b` (exit 2)")
    assert "missing.onnx" in summary and "Traceback" not in log
