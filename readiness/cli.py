"""The `readiness` command line. Exit codes: 0 released, 1 blocked, 2 unusable input, 3 internal error."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .cancel import DEFAULT_CHECK_TIMEOUT_S, DEFAULT_RUN_TIMEOUT_S, Timeouts
from .cli_support import (
    EXIT_BLOCKED,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_RELEASED,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    REPORT_OPTIONS,
    Seconds,
    Terminated,
    exit_now,
    report_options,
    write_reports,
)
from .cli_support import guard as _guard
from .errors import BundleError
from .vocabulary import SEVERITIES

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_RELEASED",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "REPORT_OPTIONS",
    "main",
]


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="readiness")
def main() -> None:
    """Decide whether a trained model is ready for production.

    \b
    Example:
      readiness check examples/breast-cancer --json scorecard.json --html scorecard.html
    """


def _endpoint_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of the live-endpoint checks (SRV); the URL is never read from the bundle."""
    options = [
        click.option(
            "--endpoint",
            metavar="URL",
            default=None,
            help="Base URL of a running Open Inference Protocol (KServe v2) server to check as well "
            "(SRV checks); default: $READINESS_ENDPOINT. Never read from the bundle.",
        ),
        click.option(
            "--endpoint-auth-env",
            metavar="NAME",
            default=None,
            help="Name of an environment variable holding the Authorization header value (a bare token "
            "is sent as 'Bearer TOKEN').",
        ),
        click.option(
            "--endpoint-timeout",
            type=click.FloatRange(min=0.01),
            default=2.0,
            show_default=True,
            metavar="SECONDS",
            help="Connect timeout for every request to the endpoint.",
        ),
        click.option(
            "--load-workers",
            type=click.IntRange(min=0, max=256),
            default=0,
            show_default=True,
            metavar="N",
            help="SRV003: run N local Locust workers under a master (0: one process).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@report_options
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Check several bundles in this many processes at once (default 1).",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=None,
    help="Run this many checks at once in each bundle (default: one per usable CPU, at most 4; with --jobs, "
    "the CPUs shared among the jobs). 1 runs them one after another. Timing-sensitive checks always run alone.",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Check each bundle as a Ray task: on the cluster at ADDRESS, or a local Ray instance when none is given.",
)
@click.option(
    "--select",
    multiple=True,
    help="Check ids or prefixes to run (comma-separated; ALL for all). Replaces [checks].select.",
)
@click.option(
    "--ignore",
    multiple=True,
    help="Check ids or prefixes to skip (comma-separated). Added to [checks].ignore.",
)
@click.option(
    "--fail-on",
    type=click.Choice(list(SEVERITIES)),
    default=None,
    help="Lowest severity whose failure blocks release (default: [policy].fail_on).",
)
@click.option(
    "--trust",
    is_flag=True,
    help="Allow loading code from the bundle (pickle/joblib sources, module:attr schemas).",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Workspace root: every file the bundle names must lie inside it (default: the bundle's git work "
    "tree, else its directory).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for every random choice; same seed, same scorecard.",
)
@click.option(
    "--timeout",
    "run_timeout",
    type=Seconds(),
    default=DEFAULT_RUN_TIMEOUT_S,
    show_default=True,
    help="Bound the whole run: checks not finished by then are `error`; the report is still written.",
)
@click.option(
    "--check-timeout",
    type=Seconds(),
    default=DEFAULT_CHECK_TIMEOUT_S,
    show_default=True,
    help="Bound each check: an overrunning check is stopped (its inference cancelled) and is `error`. "
    "A bundle's [checks].timeout_s can lower this, never raise it.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the verdict.")
@_endpoint_options
@_guard
def check(
    paths: tuple[Path, ...],
    jobs: int | None,
    workers: int | None,
    ray_address: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_on: str | None,
    trust: bool,
    root: Path | None,
    seed: int,
    run_timeout: float,
    check_timeout: float,
    quiet: bool,
    endpoint: str | None,
    endpoint_auth_env: str | None,
    endpoint_timeout: float,
    load_workers: int,
    **report_paths: Path | None,
) -> None:
    """Run the readiness checks on the bundle at PATH and gate the release.

    PATH is a directory holding readiness.toml (or pyproject.toml with
    [tool.readiness]), or the manifest file itself. Exit code 0 means released,
    1 blocked, 2 unusable input, 3 internal error.

    \b
    Example:
      readiness check examples/breast-cancer --json out/scorecard.json
      readiness check . --select ART,SEC --fail-on blocker
      readiness check . --timeout 900 --check-timeout 60

    Ctrl-C ends the run with exit code 130 and SIGTERM with 143; neither writes a report.
    """
    from . import endpoint as _endpoint
    from . import fleet

    bundles = fleet.discover(list(paths) or [Path(".")])
    if len(bundles) > 1 or jobs is not None or ray_address is not None:
        if endpoint:
            raise BundleError(
                None,
                "--endpoint",
                "checks one bundle at a time",
                "run readiness check BUNDLE --endpoint URL per bundle",
            )
        _check_fleet(bundles, jobs or 1, quiet, report_paths, ray_address)
    path = bundles[0]
    from .engine import plan
    from .reports import terminal

    live = _endpoint.resolve(
        endpoint, auth_env=endpoint_auth_env, connect_timeout_s=endpoint_timeout, load_workers=load_workers
    )
    interactive = sys.stderr.isatty() and not quiet
    listener, progress = _progress(interactive, quiet)
    from .runner import working

    began = time.monotonic()
    # the machine lock, shared, from here to the reports: loading and imports are work too (the
    # timing phase of another run must not share the CPUs with them); the run limit counts from here
    with working(began + run_timeout):
        the_plan = plan(
            path,
            trust=trust,
            root=root,
            seed=seed,
            select=_split(select) or None,
            ignore=_split(ignore),
            fail_on=fail_on,
            timeouts=Timeouts(run_s=run_timeout, check_s=check_timeout),
            endpoint=live,
            workers=workers,
        )
        the_plan.started_monotonic = began
        try:
            scorecard = the_plan.run(listener=listener)
        except KeyboardInterrupt as exc:
            if any(worker.is_alive() for worker in the_plan.stragglers):  # cannot unwind: leave without finalising
                if progress is not None:
                    progress.stop()
                terminated = isinstance(exc, Terminated)
                click.echo(
                    f"readiness: interrupted ({'SIGTERM' if terminated else 'SIGINT'}); no report written", err=True
                )
                exit_now(EXIT_SIGTERM if terminated else EXIT_SIGINT, the_plan.stragglers)
            raise
        finally:
            if progress is not None:
                progress.stop()
        written = write_reports(scorecard, report_paths)
        if interactive:
            from rich.console import Console

            terminal.rich_table(scorecard, Console())
        else:
            terminal.plain(scorecard, sys.stdout, quiet=quiet)
        for fmt, dest in written:
            click.echo(f"wrote {fmt} scorecard: {dest}")
    exit_now(EXIT_RELEASED if scorecard.released else EXIT_BLOCKED, the_plan.stragglers)


_FLEET_OWN = {"paths", "jobs", "ray_address", "quiet", *(f"{fmt}_path" for fmt in REPORT_OPTIONS)}


def _child_args(ctx: click.Context) -> list[str]:
    """The options given to this `check`, as arguments for each bundle's own `readiness check`."""
    args: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in _FLEET_OWN:
            continue
        value = ctx.params.get(param.name)
        if ctx.get_parameter_source(param.name) in (click.core.ParameterSource.DEFAULT, None):
            continue
        flag = param.opts[0]
        if param.is_flag:
            if value:
                args.append(flag)
        elif param.multiple:
            for item in value:
                args += [flag, str(item)]
        elif value is not None:
            args += [flag, str(value)]
    return args


def _check_fleet(
    bundles: list[Path], jobs: int, quiet: bool, report_paths: dict[str, Path | None], ray_address: str | None = None
) -> None:
    """Check many bundles, each in its own process; write per-bundle scorecards and the fleet summary."""
    import time

    from . import fleet
    from .reports import fleet as fleet_report
    from .scorecard import write_atomic

    formats = [fmt for fmt in REPORT_OPTIONS if report_paths.get(f"{fmt}_path") is not None]
    given = [report_paths[f"{fmt}_path"] for fmt in formats]
    out_dir = given[0].parent if given else Path("readiness-fleet")
    if not quiet:
        how = f"as Ray tasks ({ray_address})" if ray_address else f"{jobs} at a time"
        click.echo(f"checking {len(bundles)} bundles, {how}; scorecards in {out_dir}/", err=True)

    def progress(outcome: fleet.BundleOutcome) -> None:
        if not quiet:
            click.echo(f"{outcome.path}: {outcome.verdict} ({outcome.duration_s:.1f}s)", err=True)

    start = time.perf_counter()
    child_args = _child_args(click.get_current_context())
    if "--workers" not in child_args:  # the CPUs are shared among the bundles checked at once
        from .runner import default_workers

        child_args += ["--workers", str(1 if ray_address is not None else max(1, default_workers() // jobs))]
    if ray_address is not None:
        address = None if ray_address == "local" else ray_address
        outcomes = fleet.run_ray(
            bundles, out_dir, address=address, formats=formats, check_args=child_args, on_done=progress
        )
    else:
        outcomes = fleet.run(bundles, out_dir, jobs=jobs, formats=formats, check_args=child_args, on_done=progress)
    summary = fleet.summary(outcomes, jobs=jobs, wall_s=time.perf_counter() - start)
    write_atomic(out_dir / "fleet.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    written = [("fleet json", out_dir / "fleet.json")]
    if report_paths.get("json_path") is not None and report_paths["json_path"].name != "fleet.json":
        written.append(("fleet json", write_atomic(report_paths["json_path"], json.dumps(summary, indent=2) + "\n")))
    if report_paths.get("html_path") is not None:
        written.append(("fleet html", write_atomic(report_paths["html_path"], fleet_report.render_html(summary))))
    if report_paths.get("markdown_path") is not None:
        markdown = fleet_report.render_markdown(summary)
        written.append(("fleet markdown", write_atomic(report_paths["markdown_path"], markdown)))
    lines = fleet_report.render_lines(summary)
    for line in lines if not quiet else lines[-1:]:
        click.echo(line)
    for what, dest in written:
        click.echo(f"wrote {what}: {dest}")
    sys.exit(summary["exit_code"])


def _progress(interactive: bool, quiet: bool) -> tuple[Any, Any]:
    if quiet:
        return None, None
    if not interactive:

        def plain(event: str, spec: Any, run: Any) -> None:
            if event == "end":
                click.echo(f"{spec.id} {run.result.status} ({run.duration_s:.2f}s)", err=True)

        return plain, None
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
    )
    state: dict[str, Any] = {}
    running: dict[str, str] = {}  # the checks running now (several with --workers), oldest first

    def listener(event: str, spec: Any, run: Any) -> None:  # called from the run's own thread only
        if "task" not in state:
            progress.start()
            state["task"] = progress.add_task("checking", total=None)
        if event == "start":
            running[spec.id] = f"{spec.id} {spec.title}"
        else:
            running.pop(spec.id, None)
            progress.advance(state["task"])
        if running:
            first = next(iter(running.values()))
            more = f" (+{len(running) - 1} running)" if len(running) > 1 else ""
            progress.update(state["task"], description=first + more)

    return listener, progress


@main.command("list-checks")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_guard
def list_checks(fmt: str) -> None:
    """List every installed check (built-in and from plugins).

    \b
    Example:
      readiness list-checks --format json
    """
    from .registry import default_registry

    registry = default_registry()
    rows = [
        {
            "id": s.id,
            "category": s.category,
            "severity": s.severity,
            "title": s.title,
            "requires": list(s.requires),
            "mlts": list(s.mlts),
            "origin": s.origin,
        }
        for s in registry
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["category"]) for r in rows), default=8)
    for r in rows:
        click.echo(f"{r['id']:<9} {r['category']:<{width}}  {r['severity']:<8} {r['title']}")


@main.command()
@click.argument("check_id")
@_guard
def explain(check_id: str) -> None:
    """Explain one check: what it verifies, why, and how to fix a failure.

    \b
    Example:
      readiness explain RPR001
    """
    from .registry import default_registry

    registry = default_registry()
    key = check_id.upper()
    if key not in registry:
        import difflib

        close = difflib.get_close_matches(key, [s.id for s in registry], n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise BundleError(None, "ID", f"no check {check_id!r}.{hint}", "see `readiness list-checks`")
    spec = registry.get(key)
    click.echo(f"{spec.id}: {spec.title}")
    click.echo(f"category: {spec.category}    default severity: {spec.severity}")
    if spec.requires:
        click.echo(f"needs: {', '.join(spec.requires)}")
    if spec.mlts:
        from .mlts import describe

        click.echo(f"ML Test Score: {'; '.join(describe(t) for t in spec.mlts)}")
    if spec.thresholds:
        click.echo("thresholds ([policy.thresholds]): " + ", ".join(f"{k} = {v!r}" for k, v in spec.thresholds.items()))
    if spec.description.strip():
        click.echo("")
        click.echo(_dedent(spec.description))
    if spec.remediation:
        click.echo("")
        click.echo(f"fix: {spec.remediation}")


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)


# Commands that live in their own modules register on `main` below, one block each.

# -- report and diff commands (readiness/reports) --
from .reports._cli import register as _register_report_commands  # noqa: E402

_register_report_commands(main)

# -- init command (readiness/init.py) --
from .init import init_command  # noqa: E402

main.add_command(init_command)

# -- end of command registrations --


if __name__ == "__main__":  # pragma: no cover
    main()
