"""The pre-commit hook (`.pre-commit-hooks.yaml`): fast checks of the bundles a commit touches.

    readiness-pre-commit [--select ART,SEC,SCH] [--fail-on SEVERITY] [--root DIR] FILE...

pre-commit passes the changed files; each is mapped to its bundle (the nearest directory,
not above the repository, holding `readiness.toml` or an MLflow `MLmodel`), each bundle is
checked once with `readiness check BUNDLE --select ... --quiet`, and the exit code is the worst
of them (0 released, 1 blocked, 2 unusable input). Files outside any bundle are ignored.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from . import bundle_of

DEFAULT_SELECT = "ART,SEC,SCH"


def changed_bundles(files: list[str], top: Path) -> list[Path]:
    """The bundle directories holding `files`, deduplicated, in a stable order, relative to `top` when inside it."""
    found: dict[Path, None] = {}
    for name in files:
        bundle = bundle_of(top / name, top)
        if bundle is not None:
            found[bundle] = None
    top = top.resolve()
    return sorted((b.relative_to(top) if top in (b, *b.parents) else b) for b in found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="readiness-pre-commit", description=__doc__.splitlines()[0])
    parser.add_argument("--select", default=DEFAULT_SELECT, help=f"checks to run (default {DEFAULT_SELECT})")
    parser.add_argument("--ignore", default="", help="checks to skip")
    parser.add_argument("--fail-on", choices=["blocker", "major", "minor", "info"], default=None)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: the current dir)")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    worst = 0
    for bundle in changed_bundles(args.files, args.root):
        cmd = [sys.executable, "-m", "readiness.cli", "check", str(bundle), "--select", args.select, "--quiet"]
        if args.ignore:
            cmd += ["--ignore", args.ignore]
        if args.fail_on:
            cmd += ["--fail-on", args.fail_on]
        print(f"readiness check {bundle} --select {args.select}", flush=True)
        code = subprocess.run(cmd, cwd=args.root).returncode
        worst = max(worst, code)
    return worst


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
