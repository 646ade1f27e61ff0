"""`readiness report` and `readiness diff`, and the report options of `readiness check`."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_cards import typical_card

from readiness.cli import main


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _save(card, path: Path) -> Path:
    path.write_text(card.to_json(), encoding="utf-8")
    return path


def test_check_writes_every_format_and_report_reproduces_them_byte_for_byte(example_bundle, tmp_path):
    out = tmp_path / "run"
    paths = {fmt: out / f"scorecard.{ext}" for fmt, ext in (("json", "json"), ("html", "html"), ("markdown", "md"))}
    paths.update(junit=out / "junit.xml", sarif=out / "readiness.sarif")
    args = ["check", str(example_bundle), "--quiet"]
    for fmt, path in paths.items():
        args += [f"--{fmt}", str(path)]
    first = _run(*args)
    assert first.exit_code in (0, 1), first.output
    again = tmp_path / "again"
    second = _run(
        "report",
        str(paths["json"]),
        *[arg for fmt in ("html", "markdown", "junit", "sarif") for arg in (f"--{fmt}", str(again / paths[fmt].name))],
    )
    assert second.exit_code == 0, second.output
    for fmt in ("html", "markdown", "junit", "sarif"):
        assert (again / paths[fmt].name).read_bytes() == paths[fmt].read_bytes(), fmt
    html = paths["html"].read_text(encoding="utf-8")
    assert len(html.encode()) < 300_000
    verdict = "RELEASED" if first.exit_code == 0 else "BLOCKED"
    assert verdict in html


def test_report_without_options_prints_the_verdict(tmp_path):
    path = _save(typical_card(), tmp_path / "sc.json")
    result = _run("report", str(path))
    assert result.exit_code == 0
    assert result.output.startswith("BLOCKED: breast-cancer 1.0.0")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"schema_version": 9}', "unsupported scorecard schema_version 9"),
        ('{"schema_version": 1, "checks": [{"id": "X"}]}', "not a readiness scorecard"),
    ],
)
def test_report_on_bad_input_exits_2_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "sc.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(main, ["report", str(path), "--html", str(tmp_path / "x.html")])
    assert result.exit_code == 2
    assert str(path) in result.output and expected in result.output and "fix:" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.html").exists()


def _pair(tmp_path: Path):
    old = typical_card()
    new = copy.deepcopy(old)
    return old, new


def test_diff_reports_a_newly_failing_check_and_exits_1(tmp_path):
    old, new = _pair(tmp_path)
    new.check("ROB002").status = "fail"
    new.check("ROB002").message = "7.5% of predictions flip (max 5%)"
    new.check("SEC002").status = "pass"
    new.check("LAT002").status = "fail"
    new.check("QLT001").measured["roc_auc"] = 0.97
    new.check("LAT001").measured["batch_64"]["p99_ms"] = 4.0
    new.scores["overall"] = 0.4
    result = _run("diff", str(_save(old, tmp_path / "old.json")), str(_save(new, tmp_path / "new.json")))
    assert result.exit_code == 1
    out = result.output
    section = out[out.index("newly failing (2):") : out.index("fixed (1):")]
    assert "ROB002 PASS -> FAIL" in section and "7.5% of predictions flip" in section
    assert "LAT002 WAIVED -> FAIL" in section
    assert "SEC002 FAIL -> PASS" in out[out.index("fixed (1):") :]
    assert "overall: 50% -> 40%" in out
    assert "QLT001 roc_auc: 0.991 -> 0.97 (-0.021, -2.1%)" in out
    assert "LAT001 batch_64.p99_ms: 3.2 -> 4 (+0.8, +25.0%)" in out


def test_diff_exits_0_when_only_fixes_and_changes(tmp_path):
    old, new = _pair(tmp_path)
    new.check("SEC002").status = "pass"
    new.check("RPR003").status = "pass"
    result = _run("diff", str(_save(old, tmp_path / "old.json")), str(_save(new, tmp_path / "new.json")))
    assert result.exit_code == 0
    assert "1 newly failing" not in result.output and "0 newly failing, 1 fixed, 1 changed" in result.output
    same = _run("diff", str(tmp_path / "old.json"), str(tmp_path / "old.json"))
    assert same.exit_code == 0 and "no change" in same.output


def test_diff_counts_a_check_new_in_the_run_that_fails(tmp_path):
    old, new = _pair(tmp_path)
    old.checks = [c for c in old.checks if c.id != "ART003"]
    result = _run("diff", str(_save(old, tmp_path / "old.json")), str(_save(new, tmp_path / "new.json")))
    assert result.exit_code == 1
    assert "ART003 not run -> FAIL" in result.output


def test_diff_markdown(tmp_path):
    old, new = _pair(tmp_path)
    new.check("ROB002").status = "fail"
    new.check("ROB002").message = "flips | many"
    result = _run("diff", str(_save(old, tmp_path / "old.json")), str(_save(new, tmp_path / "new.json")), "--markdown")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "## ❌ readiness diff"
    row = next(line for line in lines if line.startswith("| **ROB002**"))
    assert "| newly failing | PASS | FAIL |" in row and "flips \\| many" in row


def test_diff_on_a_missing_file_exits_2(tmp_path):
    path = _save(typical_card(), tmp_path / "old.json")
    result = CliRunner().invoke(main, ["diff", str(path), str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "missing.json: no such file" in result.output


def test_report_json_round_trips(tmp_path):
    path = _save(typical_card(), tmp_path / "sc.json")
    result = _run("report", str(path), "--json", str(tmp_path / "again.json"))
    assert result.exit_code == 0
    assert json.loads((tmp_path / "again.json").read_text()) == json.loads(path.read_text())
