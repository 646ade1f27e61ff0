"""`readiness report` (re-render a saved JSON scorecard) and `readiness diff` (compare two)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..cli_support import guard, report_options, write_reports
from ..errors import BundleError
from ..scorecard import Scorecard


def load_scorecard(path: Path) -> Scorecard:
    """A saved JSON scorecard, or a BundleError (exit 2) naming the file and the fix."""
    fix = "pass a file written by `readiness check --json`"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(path, None, "no such file", fix) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(path, None, f"cannot read it: {exc}", fix) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(path, None, f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", fix) from None
    if not isinstance(data, dict):
        raise BundleError(path, None, "not a readiness scorecard (expected a JSON object)", fix)
    try:
        card = Scorecard.from_dict(data)
    except ValueError as exc:
        raise BundleError(path, "schema_version", str(exc), "re-run `readiness check` with this version") from None
    except (TypeError, AttributeError) as exc:
        raise BundleError(path, "checks", f"not a readiness scorecard: {exc}", fix) from None
    for key in ("gate", "scores", "model"):
        if not isinstance(getattr(card, key), dict):
            raise BundleError(path, key, "not a readiness scorecard: expected an object", fix)
    return card


def register(main: click.Group) -> None:
    """Add `report` and `diff` to the `readiness` command group (called from readiness/cli.py)."""

    @main.command()
    @click.argument("scorecard", type=click.Path(dir_okay=False, path_type=Path))
    @report_options
    @guard
    def report(scorecard: Path, **report_paths: Path | None) -> None:
        """Re-render a saved JSON scorecard as HTML, Markdown, JUnit XML or SARIF.

        The output is the same, byte for byte, as the run that saved SCORECARD
        would have written. With no output option, prints the summary.

        \b
        Example:
          readiness report out/scorecard.json --html out/scorecard.html --sarif out/readiness.sarif
        """
        from . import terminal

        card = load_scorecard(scorecard)
        written = write_reports(card, report_paths)
        if not written:
            terminal.plain(card, sys.stdout, quiet=True)
        for fmt, dest in written:
            click.echo(f"wrote {fmt} scorecard: {dest}")

    @main.command()
    @click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
    @click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown (for a pull-request comment).")
    @guard
    def diff(old: Path, new: Path, as_markdown: bool) -> None:
        """Compare two saved scorecards: newly failing, fixed and changed checks, score and metric deltas.

        Exit code 1 when a check fails in NEW that did not fail in OLD, else 0.

        \b
        Example:
          readiness diff main/scorecard.json pr/scorecard.json --markdown >> "$GITHUB_STEP_SUMMARY"
        """
        from .diff import compare, render_markdown, render_text

        result = compare(load_scorecard(old), load_scorecard(new))
        click.echo(render_markdown(result) if as_markdown else render_text(result), nl=False)
        sys.exit(1 if result.regressed else 0)
