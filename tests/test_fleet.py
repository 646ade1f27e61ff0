"""`readiness check PATH [PATH ...]`: many bundles, one scorecard each, a fleet summary, the worst exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from builders import write_bundle

from readiness import fleet
from readiness.reports import fleet as fleet_report

FAST = ["--select", "ART001,SCH001,QLT001"]


def _readiness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "readiness", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    """models/{good, renamed, broken-manifest} and a .venv that must not be searched."""
    root = tmp_path_factory.mktemp("registry")
    write_bundle(root / "models" / "good", manifest={"policy": {"thresholds": {"min_metric": {"roc_auc": 0.5}}}})
    write_bundle(
        root / "models" / "renamed",
        manifest={
            "model": {"name": "<script>alert(1)</script>"},
            "policy": {"thresholds": {"min_metric": {"roc_auc": 0.9999}}},
        },
    )
    bad = write_bundle(root / "models" / "broken-manifest")
    (bad / "readiness.toml").write_text('[model]\npath = "model.onnx"\nnmae = "typo"\n')
    write_bundle(root / "models" / ".venv" / "lib" / "pkg")  # never searched
    return root


def test_discover_searches_directories_and_skips_hidden_and_virtualenvs(registry):
    found = fleet.discover([registry / "models"])
    assert [p.name for p in found] == ["broken-manifest", "good", "renamed"]
    # a bundle directory is one bundle; a file or a missing path is passed on as it is
    assert fleet.discover([registry / "models" / "good"]) == [registry / "models" / "good"]
    missing = registry / "nope"
    assert fleet.discover([missing]) == [missing]
    # the same bundle named twice is checked once
    assert len(fleet.discover([registry / "models" / "good", registry / "models" / "good" / "readiness.toml"])) == 2
    assert len(fleet.discover([registry / "models" / "good", registry / "models" / "good"])) == 1


def test_slugs_are_unique_and_file_safe():
    names = fleet.slugs([Path("a/b"), Path("a-b"), Path("../x y/<z>")])
    assert names[0] == "a-b" and names[1] == "a-b-2"
    assert all("/" not in n and "<" not in n and " " not in n for n in names)


def test_a_fleet_writes_each_scorecard_a_summary_and_exits_with_the_worst_code(registry, tmp_path):
    out = tmp_path / "out"
    proc = _readiness(
        "check", "models", "--jobs", "2", *FAST, "--seed", "3",
        "--json", str(out / "fleet.json"), "--html", str(out / "index.html"), "--markdown", str(out / "pr.md"),
        cwd=registry,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr  # the broken manifest is the worst outcome
    assert "Traceback" not in proc.stdout + proc.stderr
    summary = json.loads((out / "fleet.json").read_text())
    by_name = {b["name"]: b for b in summary["bundles"]}
    assert set(by_name) == {"models-good", "models-renamed", "models-broken-manifest"}
    assert by_name["models-good"]["verdict"] == "released" and by_name["models-good"]["exit_code"] == 0
    assert by_name["models-renamed"]["verdict"] == "blocked" and "QLT001" in by_name["models-renamed"]["blocking"]
    broken = by_name["models-broken-manifest"]
    assert broken["verdict"] == "error" and broken["exit_code"] == 2 and "nmae" in broken["error"]
    assert summary["totals"] == {"bundles": 3, "released": 1, "blocked": 1, "error": 1}
    assert summary["run"]["jobs"] == 2
    # each bundle's own scorecard, with the options passed through (the seed, the selection)
    card = json.loads((out / "models-good.json").read_text())
    assert {c["id"] for c in card["checks"]} == {"ART001", "SCH001", "QLT001"} and card["run"]["seed"] == 3
    assert (out / "models-good.html").is_file() and by_name["models-good"]["reports"]["html"] == "models-good.html"
    # the index links every scorecard and escapes bundle text
    index = (out / "index.html").read_text()
    assert 'href="models-good.html"' in index and 'href="models-renamed.html"' in index
    assert "<script>alert(1)</script>" not in index and "&lt;script&gt;" in index
    assert index.index("ERROR") < index.index("BLOCKED") < index.index("RELEASED")  # worst first
    # the Markdown summary: one row per bundle, pipes and HTML escaped
    md = (out / "pr.md").read_text()
    assert md.count("\n| ") == 1 + 3 and "<script>" not in md  # the header row and one row per bundle
    assert proc.stdout.strip().splitlines()[-4].startswith("ERROR: 3 bundles: 1 released, 1 blocked")


def test_worst_exit_code_orders_internal_input_blocked_released():
    def outcome(code):
        return fleet.BundleOutcome("p", "n", code, 0.0, fleet._verdict(code))

    assert fleet.worst_exit_code([outcome(0), outcome(1)]) == 1
    assert fleet.worst_exit_code([outcome(1), outcome(2), outcome(0)]) == 2
    assert fleet.worst_exit_code([outcome(3), outcome(2)]) == 3
    assert fleet.worst_exit_code([]) == 0


def test_one_bundle_is_still_a_single_run(registry):
    proc = _readiness("check", "models/good", *FAST, "--quiet", cwd=registry)
    assert proc.returncode == 0 and proc.stdout.startswith("RELEASED"), proc.stdout + proc.stderr


def test_fleet_lines_and_markdown_render_from_the_summary_alone():
    summary = {
        "bundles": [
            {"path": "m/a", "name": "m-a", "verdict": "blocked", "exit_code": 1, "model": {"name": "a|b"},
             "scores": {"overall": 0.5}, "blocking": ["LAT001"], "reasons": ["LAT001 (major) failed: slow"],
             "reports": {"html": "m-a.html"}},
        ],
        "totals": {"bundles": 1, "released": 0, "blocked": 1, "error": 0},
        "exit_code": 1,
        "run": {"jobs": 1, "wall_s": 1.0, "sum_of_bundles_s": 1.0},
    }  # fmt: skip
    lines = fleet_report.render_lines(summary)
    assert lines[0].startswith("BLOCKED  m/a") and lines[-1].startswith("BLOCKED: 1 bundles")
    assert "a\\|b" in fleet_report.render_markdown(summary)


def test_ray_gives_the_same_verdicts_and_scores_as_local_processes(registry, tmp_path):
    pytest.importorskip("ray", reason="ray (the test extra) is not installed")
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    first = _readiness(
        "check", "models/good", "models/renamed", *FAST, "--jobs", "2", "--json", str(local / "f.json"), cwd=registry
    )
    second = _readiness(
        "check", "models/good", "models/renamed", *FAST, "--json", str(ray_out / "f.json"), "--ray", cwd=registry
    )
    assert first.returncode == second.returncode == 1, second.stdout + second.stderr
    assert "as Ray tasks (local)" in second.stderr

    def comparable(path: Path) -> list[dict]:
        keep = ("name", "verdict", "exit_code", "model", "scores", "blocking", "reasons", "reports")
        return [{k: b[k] for k in keep} for b in json.loads(path.read_text())["bundles"]]

    assert comparable(local / "fleet.json") == comparable(ray_out / "fleet.json")
    for name in ("models-good", "models-renamed"):
        a = json.loads((local / f"{name}.json").read_text())
        b = json.loads((ray_out / f"{name}.json").read_text())
        assert [(c["id"], c["status"], c["measured"]) for c in a["checks"]] == [
            (c["id"], c["status"], c["measured"]) for c in b["checks"]
        ]
