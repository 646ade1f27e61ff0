"""pytest plugin: the readiness checks of a bundle as test items in an existing test suite.

Set-up (pyproject.toml of the repo)::

    [tool.pytest.ini_options]
    readiness_bundles = ["model"]        # directories holding readiness.toml (or the .toml files)

Each bundle becomes a collector whose items are its selected checks, with node ids
`model/readiness.toml::RPR001`, plus one `model/readiness.toml::gate` item that holds
the release verdict. The engine runs once per bundle per session (once per worker
under pytest-xdist), lazily, at the first readiness item that runs, and only for the
readiness items left after `-k`, `-m`, `--lf` and the like deselected the others:
`pytest -k LAT` runs the latency checks and computes no other evidence.

Outcomes follow the gate, so a run's outcome for readiness items matches the verdict:

=================  ===================================================================
check status       pytest outcome
=================  ===================================================================
pass               passed
fail               failed when it blocks the gate (severity at or above fail_on):
                   the message, measured values, evidence and remediation;
                   xfailed otherwise, with the reason
                   "does not block release (minor < fail_on major): ..."
inconclusive       as fail
error              error when it blocks the gate (the check could not run), xfailed
                   otherwise; an engine that could not evaluate the bundle is an error
skip               skipped with the reason
waived             skipped: "waived: REASON (expires DATE, owner OWNER)"
=================  ===================================================================

`--readiness-strict` (ini `readiness_strict = true`) makes every failure a failed test
(and every check that could not run an error), whatever its severity.

This module is imported in every pytest run of every environment that has readiness
installed, so it imports nothing heavy at module level: the engine (onnxruntime,
pandas, pydantic) is imported only once a bundle is configured.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import pytest

from .vocabulary import REPORT_FORMATS as _REPORT_FORMATS
from .vocabulary import SEVERITIES

if TYPE_CHECKING:
    from .bundle import Bundle
    from .context import Context
    from .engine import Plan
    from .registry import CheckSpec, Registry
    from .scorecard import CheckRecord, Scorecard

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPORT_FORMATS = tuple(_REPORT_FORMATS)
FAIL_ON_CHOICES = SEVERITIES
MANIFEST_NAME = "readiness.toml"
MARKER = "readiness"

hookspec = pluggy.HookspecMarker("pytest")


class ReadinessHookSpecs:
    """Hooks a conftest.py or plugin may implement."""

    @hookspec
    def pytest_readiness_checks(self, config: pytest.Config) -> Any:
        """Return extra checks for this pytest run: `@check` functions, modules of them, or a list.

        They are added to the checks installed through the `readiness.checks` entry points,
        for the bundles this run evaluates (not for the `readiness` command line). Implement
        it in the rootdir's conftest.py or in a plugin: the registry is built when the first
        bundle is collected, possibly before conftest.py files of subdirectories are loaded.
        """


# --------------------------------------------------------------------------- options
def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(ReadinessHookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("readiness", "readiness: model readiness checks as test items")
    group.addoption(
        "--readiness",
        action="store_true",
        default=False,
        help="Collect the readiness checks of the bundles in readiness_bundles (or of the rootdir's "
        "readiness.toml / [tool.readiness]) even when no test path names them.",
    )
    group.addoption(
        "--readiness-bundle",
        action="append",
        default=[],
        metavar="PATH",
        help="A bundle directory or manifest to check (repeatable); adds to readiness_bundles.",
    )
    for fmt in REPORT_FORMATS:
        group.addoption(
            f"--readiness-{fmt}",
            default=None,
            metavar="PATH",
            help=f"Write the {fmt} scorecard of each evaluated bundle to PATH.",
        )
    group.addoption(
        "--readiness-seed",
        type=int,
        default=0,
        metavar="N",
        help="Seed for every random choice of the checks (default 0); same seed, same scorecard.",
    )
    group.addoption(
        "--readiness-fail-on",
        choices=FAIL_ON_CHOICES,
        default=None,
        help="Lowest severity whose failure blocks the ::gate item (default: [policy].fail_on of the bundle).",
    )
    group.addoption(
        "--readiness-strict",
        action="store_true",
        default=None,
        help="Every check that fails is a failed test, even one whose severity does not block the gate "
        "(default: such failures are xfailed; ini readiness_strict).",
    )
    group.addoption(
        "--readiness-root",
        default=None,
        metavar="DIR",
        help="Workspace root: every file a bundle names must lie inside it (default: the bundle's git work "
        "tree, else its directory).",
    )
    group.addoption(
        "--readiness-trust",
        action="store_true",
        default=False,
        help="Allow loading code from the bundles (pickle/joblib sources, module:attr schemas).",
    )
    parser.addini(
        "readiness_strict",
        type="bool",
        default=False,
        help="Every failing readiness check is a failed test, even one that does not block the gate.",
    )
    parser.addini(
        "readiness_bundles",
        type="paths",
        default=[],
        help="Bundle directories (or readiness.toml / pyproject.toml files) whose checks become test items.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a readiness check or release gate of a model bundle")
    paths = _configured_paths(config)
    if not paths:
        if config.getoption("readiness"):
            raise pytest.UsageError(
                '--readiness: no bundle configured (fix: set readiness_bundles = ["path/to/bundle"] in '
                "[tool.pytest.ini_options], pass --readiness-bundle PATH, or add readiness.toml to the rootdir)"
            )
        return  # not configured: the plugin stays silent
    config.pluginmanager.register(ReadinessPlugin(config, paths), "readiness-session")


def _configured_paths(config: pytest.Config) -> list[Path]:
    paths = [Path(p) for p in config.getini("readiness_bundles")]
    paths += [Path(config.invocation_params.dir, p) for p in config.getoption("readiness_bundle")]
    if not paths and _rootdir_has_manifest(config.rootpath):
        paths = [config.rootpath]
    unique: list[Path] = []
    for p in paths:
        p = Path(os.path.abspath(p))
        if p not in unique:
            unique.append(p)
    return unique


def _rootdir_has_manifest(root: Path) -> bool:
    if (root / MANIFEST_NAME).is_file():
        return True
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        with pyproject.open("rb") as fh:
            return isinstance(tomllib.load(fh).get("tool", {}).get("readiness"), dict)
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _manifest_of(path: Path) -> Path:
    """The manifest file for a configured bundle path, without loading anything heavy."""
    if path.is_dir():
        if (path / MANIFEST_NAME).is_file():
            return path / MANIFEST_NAME
        if _rootdir_has_manifest(path):
            return path / "pyproject.toml"
        raise pytest.UsageError(
            f"readiness_bundles: {path}: no readiness.toml (nor [tool.readiness] in pyproject.toml) "
            "(fix: build the bundle before the test run, or correct the path)"
        )
    if path.is_file() and path.suffix == ".toml":
        return path
    raise pytest.UsageError(
        f"readiness_bundles: {path}: no such bundle directory or manifest "
        "(fix: build the bundle before the test run, or correct the path)"
    )


# --------------------------------------------------------------------------- session state
class BundleRun:
    """One bundle in this pytest process: loaded once, evaluated at most once."""

    def __init__(self, plugin: ReadinessPlugin, manifest: Path) -> None:
        self.plugin = plugin
        self.manifest = manifest
        self._loaded = False
        self._load_error: BaseException | None = None
        self.bundle: Bundle | None = None
        self.registry: Registry | None = None
        self.specs: list[CheckSpec] = []
        self.plan: Plan | None = None
        self.evaluated = False
        self.eval_error: BaseException | None = None
        self.scorecard: Scorecard | None = None
        self.selected: list[str] = []

    @property
    def label(self) -> str:
        return _relative(self.manifest, self.plugin.config.rootpath)

    def load(self) -> None:
        """Load the bundle and the checks, and work out which checks the manifest selects."""
        if self._loaded:
            if self._load_error is not None:
                raise self._load_error
            return
        self._loaded = True
        try:
            from .engine import plan

            self.registry = self.plugin.registry()
            self.plan = plan(
                self.manifest,
                trust=self.plugin.trust,
                root=self.plugin.root,
                seed=self.plugin.seed,
                fail_on=self.plugin.fail_on,
                registry=self.registry,
            )
            self.bundle = self.plan.bundle
            self.specs = self.plan.specs
        except BaseException as exc:
            self._load_error = exc
            raise

    def context(self) -> Context:
        """The run's Context: shared by the checks and the readiness_context fixture."""
        self.load()
        assert self.plan is not None
        return self.plan.context

    def evaluate(self, session: pytest.Session) -> None:
        """Run the checks whose items are still selected in this session, once."""
        if self.evaluated:
            return
        self.evaluated = True
        try:
            self.load()
            wanted = {
                item.spec.id for item in session.items if isinstance(item, ReadinessCheckItem) and item.run is self
            }
            if not wanted:  # only the gate is selected: the gate needs every check
                wanted = {spec.id for spec in self.specs}
            self.selected = sorted(wanted)
            self.scorecard = self._run([spec for spec in self.specs if spec.id in wanted])
        except BaseException as exc:  # noqa: BLE001 - reported on every item of the bundle
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or os.environ.get("READINESS_DEBUG"):
                raise
            self.eval_error = exc

    def _run(self, specs: list[CheckSpec]) -> Scorecard:
        assert self.plan is not None
        return self.plan.run(only=[spec.id for spec in specs])

    def unusable(self) -> str | None:
        """Why the bundle could not be evaluated, as one line (None when it was)."""
        exc = self._load_error or self.eval_error
        if exc is None:
            return None
        return f"readiness could not evaluate {self.label}: {_describe(exc)}"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _pytest_words(message: str) -> str:
    """Engine messages name command-line flags; under pytest the flag is --readiness-trust."""
    import re

    return re.sub(r"(?<![\w-])--trust\b", "--readiness-trust", message)


def _describe(exc: BaseException) -> str:
    from .errors import ReadinessError

    if isinstance(exc, (ReadinessError, pytest.UsageError)):
        return _pytest_words(str(exc))
    return f"{type(exc).__name__}: {exc} (set READINESS_DEBUG=1 for a traceback)"


class ReadinessPlugin:
    """Registered only when at least one bundle is configured."""

    def __init__(self, config: pytest.Config, paths: list[Path]) -> None:
        self.config = config
        self.paths = paths
        self.seed: int = config.getoption("readiness_seed")
        self.fail_on: str | None = config.getoption("readiness_fail_on")
        self.trust: bool = config.getoption("readiness_trust")
        strict = config.getoption("readiness_strict")
        self.strict: bool = bool(config.getini("readiness_strict") if strict is None else strict)
        root = config.getoption("readiness_root")
        self.root: Path | None = Path(config.invocation_params.dir, root) if root else None
        self._manifests: dict[Path, BundleRun] | None = None
        self._registry: Registry | None = None
        self.written: list[str] = []
        self.verdicts: dict[str, str] = {}  # manifest label -> verdict line of its gate

    # ---------------------------------------------------------------- bundles
    @property
    def runs(self) -> dict[Path, BundleRun]:
        if self._manifests is None:
            manifests = [_manifest_of(p) for p in self.paths]
            self._manifests = {m.resolve(): BundleRun(self, m) for m in manifests}
        return self._manifests

    def registry(self) -> Registry:
        if self._registry is None:
            from .registry import default_registry

            registry = default_registry()
            for extra in self.config.hook.pytest_readiness_checks(config=self.config):
                if extra is not None:
                    registry.add_object(extra, origin="pytest_readiness_checks")
            self._registry = registry
        return self._registry

    def run_for(self, wanted: str | os.PathLike[str] | None) -> BundleRun:
        """The bundle a fixture asks for: a configured bundle directory or manifest (relative to
        the rootdir), or the first configured bundle when `wanted` is None."""
        if wanted is None:
            return next(iter(self.runs.values()))
        target = Path(self.config.rootpath, wanted).resolve()
        for manifest, run in self.runs.items():
            if target in (manifest, manifest.parent):
                return run
        known = ", ".join(run.label for run in self.runs.values())
        pytest.fail(f"{wanted} is not a configured readiness bundle (configured: {known})", pytrace=False)

    # ---------------------------------------------------------------- hooks
    def pytest_report_header(self, config: pytest.Config) -> str:
        names = ", ".join(_relative(p, config.rootpath) for p in self.paths)  # not resolved yet: may be built later
        return f"readiness: {names} (seed {self.seed})"

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        """Bundles are collected with the test paths a plain `pytest` (testpaths / rootdir) runs,
        and always with --readiness; an explicit `pytest tests/test_x.py` leaves them out."""
        runs = self.runs  # resolves the paths now: a missing bundle is a usage error
        config = session.config
        source = getattr(config, "args_source", None)  # pytest >= 7.4
        explicit = source is None or source.name == "ARGS"
        if explicit and not config.getoption("readiness"):
            return
        covered = [Path(os.path.abspath(a.split("::")[0])) for a in config.args]
        for run in runs.values():
            manifest = Path(os.path.abspath(run.manifest))
            if not any(manifest == c or c in manifest.parents for c in covered):
                config.args.append(str(manifest))

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.suffix != ".toml":
            return None
        run = self.runs.get(file_path.resolve())
        if run is None:
            return None
        return ReadinessFile.from_parent(parent, path=file_path, run=run)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for run in self.runs.values():
            if run.scorecard is None:
                continue
            for fmt in REPORT_FORMATS:
                dest = self.config.getoption(f"readiness_{fmt}")
                if not dest:
                    continue
                path = Path(self.config.invocation_params.dir, dest)
                if len(self.runs) > 1:  # one file per bundle: scorecard-model.json
                    path = path.with_name(f"{path.stem}-{run.manifest.parent.name}{path.suffix}")
                try:
                    from . import reports

                    reports.write(fmt, run.scorecard, path)
                    self.written.append(f"wrote {fmt} scorecard of {run.label}: {path}")
                except Exception as exc:  # noqa: BLE001 - a report that cannot be written is a note, not a crash
                    self.written.append(f"could not write the {fmt} scorecard of {run.label} to {path}: {exc}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Remember gate verdicts, including those xdist workers send, for the terminal summary."""
        if report.when == "call":
            for name, value in report.user_properties:
                if name == "readiness_verdict":
                    label = report.nodeid.rsplit("::", 1)[0]
                    self.verdicts[label] = str(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = []
        for run in self.runs.values():
            problem = run.unusable()
            if run.scorecard is not None:
                from .reports.terminal import verdict_line

                lines.append(f"{run.label}: {verdict_line(run.scorecard)}")
            elif problem:
                lines.append(problem)
            elif run.label in self.verdicts:  # evaluated in an xdist worker
                lines.append(f"{run.label}: {self.verdicts[run.label]}")
        lines += self.written
        if lines:
            terminalreporter.section("readiness")
            for line in lines:
                terminalreporter.write_line(line)


# --------------------------------------------------------------------------- collection
class ReadinessFile(pytest.File):
    """A bundle manifest: one item per selected check, then the gate."""

    def __init__(self, *, run: BundleRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run

    def collect(self) -> Iterator[pytest.Item]:
        self.run.load()
        for spec in self.run.specs:
            yield ReadinessCheckItem.from_parent(self, name=spec.id, run=self.run, spec=spec)
        yield ReadinessGateItem.from_parent(self, name="gate", run=self.run)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from .errors import ReadinessError

        if isinstance(excinfo.value, ReadinessError):
            return f"readiness: {_pytest_words(str(excinfo.value))}"
        return super().repr_failure(excinfo)


class _ReadinessItem(pytest.Item):
    def __init__(self, *, run: BundleRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.add_marker(MARKER)

    def _scorecard(self) -> Scorecard:
        """Evaluate the bundle (once) and return its scorecard; an unusable bundle errors the item."""
        self.run.evaluate(self.session)
        problem = self.run.unusable()
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        assert self.run.scorecard is not None
        return self.run.scorecard

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # The domain heads failure sections; one that is not the tail of the node id keeps
        # `pytest -v` lines as the node id (pytest rewrites '.' to '::' in a matching tail).
        return self.path, 0, f"{self.name} ({self.run.label})"


class ReadinessCheckItem(_ReadinessItem):
    """One readiness check of a bundle."""

    def __init__(self, *, spec: CheckSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.extra_keyword_matches.update({spec.category, spec.severity})
        self.record: CheckRecord | None = None

    def setup(self) -> None:
        scorecard = self._scorecard()
        record = scorecard.check(self.spec.id)
        self.record = record
        self.user_properties += [
            ("title", record.title),
            ("category", record.category),
            ("severity", record.severity),
            ("status", record.status),
        ]
        if record.status == "error":
            if self._xfails(scorecard, record):
                _xfail(scorecard, record, "could not run")
            pytest.fail(_pytest_words(f"{record.id} could not run: {_cause(scorecard, record)}"), pytrace=False)
        if record.status == "skip":
            _skip(f"{record.id}: {record.message}")
        if record.status == "waived":
            _skip(f"{record.id} {_waived_text(scorecard, record)}")

    def runtest(self) -> None:
        assert self.record is not None and self.run.scorecard is not None
        record, scorecard = self.record, self.run.scorecard
        if record.status in ("fail", "inconclusive"):
            word = "failed" if record.status == "fail" else "inconclusive"
            if self._xfails(scorecard, record):
                _xfail(scorecard, record, word)
            if record.status == "inconclusive":
                word = "inconclusive (blocks the gate)" if _blocks(scorecard, record) else "inconclusive"
            pytest.fail(_failure_text(record, word), pytrace=False)

    def _xfails(self, scorecard: Scorecard, record: CheckRecord) -> bool:
        """A failure the gate does not block on is xfailed, unless --readiness-strict."""
        return not self.run.plugin.strict and not _blocks(scorecard, record)


class ReadinessGateItem(_ReadinessItem):
    """The release verdict of a bundle: passed when released, failed (with the reasons) when blocked."""

    def setup(self) -> None:
        self._scorecard()

    def runtest(self) -> None:
        scorecard = self._scorecard()
        gate = scorecard.gate
        from .reports.terminal import verdict_line

        self.user_properties += [
            ("released", str(gate["released"]).lower()),
            ("readiness_verdict", verdict_line(scorecard)),
        ]
        if not gate["released"]:
            lines = [f"release BLOCKED (fail_on={gate['fail_on']}): {', '.join(gate['blocking'])}"]
            lines += [f"  - {reason}" for reason in gate["reasons"]]
            if len(self.run.selected) < len(self.run.specs):
                lines.append(f"  (judged on the {len(self.run.selected)} selected checks only)")
            pytest.fail(_pytest_words("\n".join(lines)), pytrace=False)


def _blocks(scorecard: Scorecard, record: CheckRecord) -> bool:
    """Whether a failure of this check blocks the gate: its severity is at or above fail_on."""
    fail_on = str(scorecard.gate.get("fail_on", "major"))
    rank = {name: len(FAIL_ON_CHOICES) - i for i, name in enumerate(FAIL_ON_CHOICES)}
    return rank.get(record.severity, 0) >= rank.get(fail_on, 0)


def _xfail(scorecard: Scorecard, record: CheckRecord, word: str) -> None:
    fail_on = scorecard.gate.get("fail_on", "major")
    reason = f"does not block release ({record.severity} < fail_on {fail_on}): {record.id} {word}: {record.message}"
    pytest.xfail(_pytest_words(reason))


def _cause(scorecard: Scorecard, record: CheckRecord) -> str:
    """The message of a check that could not run, naming the check it is folded under (gate.causes)."""
    for root, ids in (scorecard.gate.get("causes") or {}).items():
        if record.id in ids:
            return f"{record.message} (because {root} did not pass: fix {root} first)"
    return record.message


def _skip(reason: str) -> None:
    """Skip, reported at the manifest (as skip marks are) rather than at this plugin's line."""
    raise pytest.skip.Exception(_pytest_words(reason), _use_item_location=True)


def _waived_text(scorecard: Scorecard, record: CheckRecord) -> str:
    for w in scorecard.waivers:
        if w.get("check") == record.id and w.get("state") == "applied":
            owner = f", owner {w['owner']}" if w.get("owner") else ""
            return f"waived: {w.get('reason', '')} (expires {w.get('expires')}{owner})"
    return f"waived: {record.message}"


def _failure_text(record: CheckRecord, word: str = "failed") -> str:
    lines = [f"{record.id} ({record.severity}) {word}: {record.title}", f"  {record.message}"]
    for name, value in (("measured", record.measured), ("evidence", record.evidence)):
        if value:
            lines.append(f"  {name}: {_short(value)}")
    if record.remediation:
        lines.append(f"  fix: {record.remediation}")
    return _pytest_words("\n".join(lines))


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- fixtures
def _plugin(request: pytest.FixtureRequest) -> ReadinessPlugin:
    plugin = request.config.pluginmanager.get_plugin("readiness-session")
    if not isinstance(plugin, ReadinessPlugin):
        pytest.fail(
            'no readiness bundle is configured (fix: set readiness_bundles = ["path/to/bundle"] in '
            "[tool.pytest.ini_options], or pass --readiness-bundle PATH)",
            pytrace=False,
        )
    return plugin


def _usable_run(request: pytest.FixtureRequest) -> BundleRun:
    run = _plugin(request).run_for(getattr(request, "param", None))
    try:
        run.load()
    except Exception as exc:  # noqa: BLE001 - a bad bundle is a one-line error, not a traceback
        pytest.fail(f"readiness could not load {run.label}: {_describe(exc)}", pytrace=False)
    return run


@pytest.fixture(scope="session")
def readiness_bundle(request: pytest.FixtureRequest) -> Bundle:
    """The loaded bundle: manifest, serving config, schema, reference data.

    The first of readiness_bundles; choose another with
    `@pytest.mark.parametrize("readiness_bundle", ["other"], indirect=True)` (same for readiness_context).
    """
    run = _usable_run(request)
    assert run.bundle is not None
    return run.bundle


@pytest.fixture(scope="session")
def readiness_context(request: pytest.FixtureRequest) -> Context:
    """The Context the readiness checks of this session use (first bundle): its cached evidence
    (`session`, `reference_predictions`, `features`, `y_true`, `memo(...)`) is computed once and shared."""
    return _usable_run(request).context()
