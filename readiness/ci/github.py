"""The GitHub Action's check step (`action.yml`): `python -m readiness.ci.github`.

Inputs come from the environment, as the Action's step passes them:

- `INPUT_BUNDLES`: bundle paths or globs, separated by newlines or spaces (default `.`);
- `INPUT_FAIL_ON`: `blocker|major|minor|info`, passed to `--fail-on` when set;
- `INPUT_ARGS`: extra `readiness check` arguments (shell-quoted, e.g. `--select ART,SEC --trust`);
- `INPUT_OUTPUT_DIR`: where the reports go (default `readiness-reports`);
- `INPUT_BASE_SCORECARD`: a JSON scorecard of the base branch, or a directory laid out like
  OUTPUT_DIR from a base-branch run: the pull request's diff is computed against it;
- `INPUT_STEP_SUMMARY`: `false` to leave `$GITHUB_STEP_SUMMARY` alone (a base-branch run for the diff);
- `INPUT_POST_COMMENT`: `true` when a later step posts the diff as a pull-request comment
  (then the diff is not repeated in the step summary).

Each bundle gets `OUTPUT_DIR/<bundle path as a slug>/` with scorecard.json, scorecard.html,
summary.md, junit.xml and readiness.sarif. The Markdown summaries are appended to
`$GITHUB_STEP_SUMMARY`; the outputs `released`, `scorecard`, `scorecards`, `sarif`, `html`,
`summary`, `diff` and `exit-code` are written to `$GITHUB_OUTPUT`. The exit code is the worst
of the bundles' (0 released, 1 blocked, 2 unusable input, 3 internal error).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import BundleError
from . import expand_bundles

REPORTS = {
    "json": "scorecard.json",
    "html": "scorecard.html",
    "markdown": "summary.md",
    "junit": "junit.xml",
    "sarif": "readiness.sarif",
}
DIFF_MARKER = "<!-- readiness-diff -->"
FAIL_ON = ("blocker", "major", "minor", "info")


@dataclass
class BundleRun:
    path: Path
    out: Path
    exit_code: int
    error: str = ""

    def report(self, fmt: str) -> Path:
        return self.out / REPORTS[fmt]


def _inputs(env: dict[str, str]) -> dict[str, str]:
    return {
        "bundles": env.get("INPUT_BUNDLES", "").strip() or ".",
        "fail_on": env.get("INPUT_FAIL_ON", "").strip(),
        "args": env.get("INPUT_ARGS", "").strip(),
        "output_dir": env.get("INPUT_OUTPUT_DIR", "").strip() or "readiness-reports",
        "base": env.get("INPUT_BASE_SCORECARD", "").strip(),
        "post_comment": env.get("INPUT_POST_COMMENT", "").strip().lower(),
        "step_summary": env.get("INPUT_STEP_SUMMARY", "").strip().lower() or "true",
    }


def _write_outputs(path: str | None, values: dict[str, str]) -> None:
    """Append `name=value` lines (a heredoc block for values with newlines) to $GITHUB_OUTPUT."""
    lines = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            lines += [f"{name}<<{delimiter}", value, delimiter]
        else:
            lines.append(f"{name}={value}")
    text = "\n".join(lines) + "\n"
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def _run_one(bundle: Path, out: Path, fail_on: str, extra: list[str], cwd: Path) -> BundleRun:
    out.mkdir(parents=True, exist_ok=True)
    for name in REPORTS.values():  # never leave a stale report from an earlier run beside a failed one
        (out / name).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "readiness.cli", "check", str(bundle)]
    for fmt, name in REPORTS.items():
        cmd += [f"--{fmt}", str(out / name)]
    if fail_on:
        cmd += ["--fail-on", fail_on]
    cmd += extra
    print(f"$ readiness check {shlex.join(cmd[4:])}", flush=True)
    proc = subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.PIPE, text=True, errors="replace")
    error = ""
    assert proc.stderr is not None
    for line in proc.stderr:
        sys.stderr.write(line)
        if line.startswith("readiness: error:"):
            error = line.strip()
    code = proc.wait()
    sys.stderr.flush()
    return BundleRun(bundle, out, code, error)


def _base_for(base: Path, run: BundleRun, single: bool) -> Path | None:
    if base.is_file():
        return base if single else None
    candidate = base / run.out.name / REPORTS["json"]
    return candidate if candidate.is_file() else None


def _diff(base: Path, runs: list[BundleRun]) -> str:
    from ..reports._cli import load_scorecard
    from ..reports.diff import compare, render_markdown
    from ..reports.markdown import cell

    parts = [DIFF_MARKER]
    for run in runs:
        if not run.report("json").is_file():
            continue
        old = _base_for(base, run, single=len(runs) == 1)
        if old is None:
            parts.append(f"## readiness diff: `{cell(run.path)}`\n\nNo base-branch scorecard for this bundle (new?).\n")
            continue
        try:
            result = compare(load_scorecard(old), load_scorecard(run.report("json")))
        except BundleError as exc:  # an unreadable base scorecard must not hide this run's verdict
            parts.append(
                f"## readiness diff: `{cell(run.path)}`\n\nThe base-branch scorecard is unusable: {cell(exc, 300)}\n"
            )
            continue
        body = render_markdown(result)
        if len(runs) > 1:
            body = body.replace("readiness diff", f"readiness diff: `{cell(run.path)}`", 1)
        parts.append(body)
    return "\n".join(parts) + "\n"


def _summary(run: BundleRun) -> str:
    from ..reports.markdown import cell

    md = run.report("markdown")
    if run.exit_code in (0, 1) and md.is_file():
        return md.read_text(encoding="utf-8") + "\n"
    why = cell(run.error or "see the job log", 300)
    return f"## ⚠️ readiness could not check `{cell(run.path)}` (exit {run.exit_code})\n\n{why}\n\n"


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    inputs = _inputs(env)
    cwd = Path.cwd()
    out_root = (cwd / inputs["output_dir"]).resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    if inputs["fail_on"] and inputs["fail_on"] not in FAIL_ON:
        print(
            f"readiness: error: input fail-on: {inputs['fail_on']!r} is not one of {', '.join(FAIL_ON)}",
            file=sys.stderr,
        )
        return 2
    try:
        extra = shlex.split(inputs["args"])
        patterns = shlex.split(inputs["bundles"].replace("\n", " "))
    except ValueError as exc:
        print(f"readiness: error: input args/bundles: {exc} (fix the quoting)", file=sys.stderr)
        return 2
    bundles, unmatched = expand_bundles(patterns, cwd)
    if unmatched:
        print(
            f"readiness: error: input bundles: {', '.join(map(repr, unmatched))} matched nothing in {cwd} "
            "(give bundle directories, manifests or globs such as models/*)",
            file=sys.stderr,
        )
        return 2
    from ..fleet import discover, slugs

    try:  # a directory that is not itself a bundle is searched for bundles, as `readiness check DIR` does
        bundles = discover(bundles)
    except BundleError as exc:
        print(f"readiness: error: input bundles: {exc}", file=sys.stderr)
        return 2
    token = f"readiness-{uuid.uuid4().hex}"
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    if in_actions:  # bundle text in the log must never run as a workflow command (::error, ::set-output)
        print(f"::stop-commands::{token}", flush=True)
    try:
        runs = [
            _run_one(b, out_root / name, inputs["fail_on"], extra, cwd)
            for b, name in zip(bundles, slugs(bundles), strict=True)
        ]
    finally:
        if in_actions:
            print(f"::{token}::", flush=True)

    summary = "".join(_summary(run) for run in runs)
    summary_path = out_root / "summary.md"
    summary_path.write_text(summary, encoding="utf-8")
    step_summary = env.get("GITHUB_STEP_SUMMARY") if inputs["step_summary"] != "false" else None
    _append(step_summary, summary)

    diff_path = ""
    if inputs["base"]:
        body = _diff(Path(inputs["base"]), runs)
        (out_root / "diff.md").write_text(body, encoding="utf-8")
        diff_path = str(out_root / "diff.md")
        if inputs["post_comment"] != "true":
            _append(step_summary, body)

    exit_code = max((run.exit_code for run in runs), default=2)
    scorecards = [str(run.report("json")) for run in runs if run.report("json").is_file()]
    sarifs = [run.report("sarif") for run in runs if run.report("sarif").is_file()]
    outputs = {
        "released": "true" if runs and exit_code == 0 else "false",
        "exit-code": str(exit_code),
        "scorecard": scorecards[0] if scorecards else "",
        "scorecards": json.dumps(scorecards),
        "sarif": str(sarifs[0]) if len(sarifs) == 1 else (str(out_root) if sarifs else ""),
        "html": next((str(run.report("html")) for run in runs if run.report("html").is_file()), ""),
        "summary": str(summary_path),
        "diff": diff_path,
        "output-dir": str(out_root),
    }
    _write_outputs(env.get("GITHUB_OUTPUT"), outputs)
    return exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
