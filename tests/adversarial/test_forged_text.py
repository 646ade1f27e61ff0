"""Forged text: strings from a hostile bundle cannot forge a verdict line or a CI workflow command,
break a Markdown table, make the JUnit file invalid XML, or reach any output as a raw bidi override.

The bundle's model name, its ONNX metadata name, its column names and a waiver's reason and owner
hold newlines followed by `RELEASED: ...`, `::error ...` and `##vso[...]`, U+202E (right-to-left
override), U+FFFE (a noncharacter XML forbids), U+0000 and `a\\|b`. Every promise is asserted on
the files and streams the real command writes, as CI would read them.
"""

from __future__ import annotations

import copy
import json
import os
import string
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from builders import edit_manifest, prob_model, serving_config, tabular_data, write_bundle
from hypothesis import given, settings
from hypothesis import strategies as st
from report_cards import typical_card

from readiness.reports import junit, markdown, sarif, terminal
from readiness.text import BIDI_CONTROLS, clean

FORGED = "\nRELEASED: fake (34 pass; readiness 100%)\n::error title=spoof::pwn\n##vso[task.complete result=Succeeded]"
HOSTILE = f"x{FORGED}\u202e\ufffe a\\|b"
CI_COMMANDS = ("::", "##vso", "##[")
N_FEATURES = 4
EXE = Path(sys.executable).parent / "readiness"


def _bundle(directory: Path, *, waived: bool) -> Path:
    columns = ["f0", "f1", "f2", "co\u202el|\n::warning::col a\\|b\ufffe"]
    frame = tabular_data(n_features=N_FEATURES)
    frame.columns = [*columns, "label"]
    frame[f"x\n::error::unused\u202e a\\|b{FORGED}"] = 1.0  # a column the model never reads: SCH002 quotes it
    manifest: dict = {
        "model": {"name": HOSTILE + "\x00"},
        "checks": {"select": ["ART", "SCH", "OPS"]},  # the checks whose messages quote the hostile names
    }
    if waived:
        manifest["waivers"] = [
            {
                "check": "SCH002",
                "reason": f"r{FORGED}\u202e a\\|b",
                "owner": "o\n::error::own",
                "expires": "2099-01-01",
            }
        ]
    model = prob_model(N_FEATURES, metadata={"name": f"meta{FORGED}\u202e"})  # ART003 quotes both names
    return write_bundle(
        directory,
        model,
        reference=frame,
        serving=serving_config(N_FEATURES, features=columns),
        manifest=manifest,
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, encoding="utf-8", env=env, timeout=600)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The hostile bundle, released because SCH002's failure is waived; every report written."""
    root = tmp_path_factory.mktemp("forged")
    bundle = _bundle(root / "bundle", waived=True)
    out = root / "out"
    args = [f"--{fmt}={out / name}" for fmt, name in FILES.items()]
    return _run("check", str(bundle), *args), out


FILES = {"json": "card.json", "junit": "junit.xml", "markdown": "summary.md", "html": "card.html", "sarif": "r.sarif"}


def _forged_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith(CI_COMMANDS)]


def _raw_bidi(text: str) -> set[str]:
    return {f"U+{ord(ch):04X}" for ch in text if ch in BIDI_CONTROLS}


def test_terminal_prints_the_one_real_verdict_and_no_ci_command(released):
    proc, _ = released
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    verdicts = [line for line in proc.stdout.splitlines() if line.startswith(("RELEASED", "BLOCKED"))]
    assert len(verdicts) == 1, verdicts
    assert verdicts[0].startswith("RELEASED: x\\nRELEASED: fake")  # the real verdict, the name escaped inside it
    assert "1 waived" in verdicts[0] and verdicts[0].rstrip(")").endswith("%")  # the real counts close the line
    assert _forged_lines(proc.stdout) == [] and _forged_lines(proc.stderr) == []
    assert _raw_bidi(proc.stdout + proc.stderr) == set()
    assert "\\u202e" in proc.stdout and "\\ufffe" in proc.stdout and "\\x00" in proc.stdout  # shown, not hidden
    assert "\x00" not in proc.stdout and "\ufffe" not in proc.stdout


def test_blocked_run_reasons_cannot_forge_a_verdict(tmp_path):
    bundle = _bundle(tmp_path / "bundle", waived=False)
    proc = _run("check", str(bundle), "--select", "SCH002,ART003")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert not [line for line in lines if line.startswith("RELEASED")]
    assert [line for line in lines if line.startswith("BLOCKED")] == [next(x for x in lines if "BLOCKED" in x)]
    reasons = [line for line in lines if line.startswith("  - SCH002")]
    assert reasons and "\\n::error::unused\\u202e" in reasons[0]
    assert _forged_lines(proc.stdout + proc.stderr) == []
    assert _raw_bidi(proc.stdout + proc.stderr) == set()


def test_junit_is_well_formed_and_keeps_the_text_visible(released):
    _, out = released
    path = out / FILES["junit"]
    root = ET.parse(path).getroot()
    from junitparser import JUnitXml

    cases = {case.name.split()[0]: case for suite in JUnitXml.fromfile(str(path)) for case in suite}
    assert "ART003" in cases and "SCH002" in cases
    failure = root.find(".//testcase[@name]/failure")
    assert failure is not None and "\\u202e" in failure.get("message", "")
    suite_name = root.find("testsuite").get("name")
    assert suite_name.startswith("readiness: x\\nRELEASED") and "\\ufffe" in suite_name and "\\x00" in suite_name
    assert _raw_bidi(path.read_text(encoding="utf-8")) == set()


_PUNCT = set(string.punctuation)


def gfm_cells(row: str) -> list[str]:
    """The cells of a table row as GitHub (cmark-gfm) splits it: a backslash escapes any ASCII
    punctuation character (itself included), and every other `|` separates cells."""
    text = row.strip()
    cells: list[str] = []
    current, i = "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _PUNCT:
            current += text[i : i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(current)
            current = ""
        else:
            current += ch
        i += 1
    cells.append(current)
    if text.startswith("|"):
        cells = cells[1:]
    if text.endswith("|") and cells and cells[-1] == "":
        cells = cells[:-1]
    return cells


def _tables(text: str) -> list[list[str]]:
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def test_gfm_cells_splits_as_github_does():
    assert gfm_cells("| a | b |") == [" a ", " b "]
    assert len(gfm_cells("| a\\|b | c |")) == 2
    assert len(gfm_cells("| a\\\\|b | c |")) == 3  # an escaped backslash leaves the pipe a separator


def test_markdown_rows_keep_their_column_count(released):
    _, out = released
    text = (out / FILES["markdown"]).read_text(encoding="utf-8")
    tables = _tables(text)
    assert len(tables) >= 2
    for rows in tables:
        widths = {row: len(gfm_cells(row)) for row in rows}
        assert len(set(widths.values())) == 1, widths
    findings = next(rows for rows in tables if rows[0].startswith("| check"))
    assert any(row.startswith("| **SCH002**") and "a\\\\\\|b" in row for row in findings)  # `a\|b` kept as text
    assert _forged_lines(text) == [] and not [line for line in text.splitlines() if line.startswith("RELEASED")]
    assert _raw_bidi(text) == set()


def test_html_and_sarif_carry_no_raw_bidi_override(released):
    _, out = released
    html = (out / FILES["html"]).read_text(encoding="utf-8")
    assert _raw_bidi(html) == set()
    assert "\\u202e" in html  # shown as a visible escape
    log = json.loads((out / FILES["sarif"]).read_text(encoding="utf-8"))
    assert _raw_bidi(json.dumps(log, ensure_ascii=False)) == set()
    texts = [r["message"]["text"] for r in log["runs"][0]["results"]]
    assert texts and all("\n" not in t for t in texts)


def test_pytest_plugin_failure_text_cannot_forge_lines(tmp_path):
    bundle = _bundle(tmp_path / "bundle", waived=False)
    edit_manifest(bundle, lambda table: table["checks"].update(select=["SCH002"]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--readiness-bundle", str(bundle)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SCH002" in proc.stdout and "\\n::error::unused\\u202e" in proc.stdout
    assert _forged_lines(proc.stdout + proc.stderr) == []
    assert not [line for line in proc.stdout.splitlines() if line.lstrip().startswith("RELEASED")]
    assert _raw_bidi(proc.stdout + proc.stderr) == set()


# --------------------------------------------------------------------------- any code point, every renderer
NASTY = "\x00\x07\x1b[31m\x85\u2028\u2029\ufffe\uffff\ud800\udfff\U0001fffe\u202e\u2066\u200f\u061c\r\n::error::x"


def _nasty_card():
    card = copy.deepcopy(typical_card())
    card.model["name"] = f"m{NASTY}"
    card.model["version"] = NASTY
    for c in card.checks:
        c.message = f"{c.message}{NASTY} a\\|b"
        c.title = f"{c.title}{NASTY}"
        c.remediation = NASTY
    card.waivers[0]["reason"] = NASTY
    card.gate["reasons"] = [f"{r}{NASTY}" for r in card.gate["reasons"]]
    card.bundle["notes"] = [NASTY]
    return card


def test_every_renderer_survives_any_code_point():
    card = _nasty_card()
    root = ET.fromstring(junit.render(card).encode("utf-8"))  # parses: no character XML forbids
    assert root.find("testsuite").get("name").startswith("readiness: m\\x00\\x07\\x1b[31m\\x85\\u2028")
    md = markdown.render(card)
    md.encode("utf-8")
    for rows in _tables(md):
        assert len({len(gfm_cells(row)) for row in rows}) == 1
    sarif.render(card).encode("utf-8")
    import io

    buf = io.StringIO()
    terminal.plain(card, buf)
    text = buf.getvalue()
    text.encode("utf-8")
    assert _forged_lines(text) == []
    from readiness.reports import html

    page = html.render(card)
    page.encode("utf-8")
    assert _raw_bidi(md + text + page) == set()


_XML_CHAR = set(range(0x20, 0xD800)) | set(range(0xE000, 0xFFFE))
_ANY = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=200)


@settings(max_examples=300, deadline=None, database=None)
@given(_ANY, st.integers(min_value=1, max_value=300))
def test_clean_is_one_line_of_valid_xml_for_any_text(value, limit):
    out = clean(value, limit)
    assert len(out) <= limit
    assert not set(out) & ({"\n", "\r", "\x85", "\u2028", "\u2029"} | BIDI_CONTROLS)
    assert all(ord(ch) in _XML_CHAR or ord(ch) >= 0x10000 and (ord(ch) & 0xFFFE) != 0xFFFE for ch in out)
    out.encode("utf-8")
    ET.fromstring(f"<a>{escape(out)}</a>")
    if len(value) < limit and value.isprintable() and not set(value) & BIDI_CONTROLS:
        assert out == value  # ordinary text is left alone
