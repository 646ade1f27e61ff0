"""ROB001's search: edge cases first, then a seeded, bounded hypothesis search (or seeded random tensors),
shrinking what it finds."""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .domain import Domain, _random_scalar, _rows_per_batch, _simpler, domains, edge_rows
from .oracle import _short, probe, reproduce_command, request_frame
from .tensors import TensorValue, _short_strings, jsonable

if TYPE_CHECKING:
    import pandas as pd

    from ..context import Context

SEARCH_ROUND = 50  # at most this many hypothesis examples (one request row each) per seeded search round


def _tensor_search(
    ctx: Context, doms: Sequence[Domain], report: FuzzReport, max_examples: int, deadline: float
) -> dict[str, Any] | None:
    """Seeded random rows for a model fed tensors: every tensor column uniform within its synthesised range,
    other columns within their bounds; the first failing row (no shrinking: the recipe is the evidence)."""
    report.generator = "random tensors"
    cap = _rows_per_batch(doms)
    gen = np.random.default_rng([ctx.seed, 0x7E5])
    round_no = 0
    while report.search_examples < max_examples and time.perf_counter() < deadline:
        budget = min(SEARCH_ROUND, 10 * 2**round_no, max_examples - report.search_examples, cap)
        rows = []
        for k in range(report.search_examples, report.search_examples + budget):
            row: dict[str, Any] = {}
            for j, d in enumerate(doms):
                seed = ctx.seed * 1_000_003 + k * 101 + j
                row[d.name] = d.tensor.random_value(seed) if d.tensor is not None else _random_scalar(d, gen)
            rows.append(row)
        round_no += 1
        report.search_rounds = round_no
        problems = probe(ctx, request_frame(ctx, rows)).problems
        bad = next((i for i, p in enumerate(problems) if p), None)
        if bad is not None:
            report.search_examples += bad + 1
            report.search_stopped = "found a counterexample"
            return rows[bad]
        report.search_examples += len(rows)
    report.search_stopped = "example budget spent" if report.search_examples >= max_examples else "time budget spent"
    return None


# --------------------------------------------------------------------------- the search
@dataclass
class Finding:
    phase: str  # edge | search
    problem: str
    row: dict[str, Any]
    output: dict[str, Any]
    column: str | None = None  # the column set to an edge value
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "phase": self.phase,
            "problem": self.problem,
            "row": _short_strings(jsonable(self.row)),
            "output": self.output,
        }
        if self.phase == "edge" and self.column is None:
            out["case"] = "every input typical"
        if self.column is not None:
            out["column"], out["value"] = self.column, _short_strings(jsonable(self.value))
            if isinstance(self.row.get(self.column), TensorValue):
                out["where"] = self.row[self.column].where
        return out

    @property
    def where(self) -> str | None:
        """For an edge value of a tensor column: which elements hold it."""
        cell = self.row.get(self.column) if self.column is not None else None
        return cell.where if isinstance(cell, TensorValue) else None


@dataclass
class FuzzReport:
    generator: str  # pandera | bounds | edge cases (the search did not run)
    domain_source: str
    edge_cases: int = 0
    edge_failures: list[Finding] = field(default_factory=list)
    search_examples: int = 0
    search_rounds: int = 0
    search_stopped: str = ""  # why the search ended
    counterexample: Finding | None = None
    reproduce: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.counterexample is not None


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _expressible(chk: Any) -> bool:
    """Whether pandera can generate data for a check (a constraint or a strategy is registered for it)."""
    import pandas as pd

    try:
        import pandera.backends.pandas.builtin_checks  # noqa: F401 - registers the built-in constraints
        import pandera.backends.pandas.builtin_hypotheses  # noqa: F401
        from pandera.strategies import pandas_strategies as ps
    except ImportError:  # pragma: no cover - pandera without hypothesis support
        return False
    key = (getattr(chk, "name", None), pd.Series)
    constraints = getattr(ps, "CONSTRAINT_DISPATCHER", {})
    return bool(
        getattr(chk, "constraint", None)
        or constraints.get(key)
        or getattr(chk, "strategy", None)
        or ps.STRATEGY_DISPATCHER.get(key)
    )


def _unexpressible(schema: Any, cols: Sequence[str]) -> list[str]:
    """Checks (as 'column: check') that pandera cannot turn into a hypothesis strategy."""
    found = []
    for col in cols:
        column = schema.columns.get(col)
        for chk in getattr(column, "checks", []) or []:
            if not _expressible(chk):
                found.append(f"{col}: {getattr(chk, 'name', None) or 'custom check'}")
    for chk in getattr(schema, "checks", []) or []:
        found.append(f"<dataframe>: {getattr(chk, 'name', None) or 'custom check'}")
    return found


def _f32_inward(value: float | None, up: bool) -> float | None:
    """`value` as the nearest float32 on the inside of a bound (hypothesis' width=32 needs exact bounds)."""
    if value is None:
        return None
    f = np.float32(value)
    if (up and float(f) < value) or (not up and float(f) > value):
        f = np.nextafter(f, np.float32(np.inf if up else -np.inf))
    return float(f)


def _bounds_strategy(doms: Sequence[Domain]) -> Any:
    from hypothesis import strategies as st

    fields: dict[str, Any] = {}
    for d in doms:
        if d.allowed:
            fields[d.name] = st.sampled_from(list(d.allowed))
        elif d.kind == "float":
            fields[d.name] = st.floats(
                min_value=_f32_inward(d.low, up=True),
                max_value=_f32_inward(d.high, up=False),
                exclude_min=d.low_strict and d.low is not None,
                exclude_max=d.high_strict and d.high is not None,
                allow_nan=False,
                allow_infinity=False,
                width=32,
            )
        elif d.kind == "int":
            lo = None if d.low is None else math.floor(d.low) + (1 if d.low_strict else 0)
            hi = None if d.high is None else math.ceil(d.high) - (1 if d.high_strict else 0)
            fields[d.name] = st.integers(min_value=lo, max_value=hi)
        elif d.kind == "bool":
            fields[d.name] = st.booleans()
        elif d.kind == "string":
            fields[d.name] = st.text(max_size=8)
        else:
            fields[d.name] = st.just(d.typical)
    return st.fixed_dictionaries(fields)


def _strategy(ctx: Context, doms: Sequence[Domain], report: FuzzReport) -> Any:
    """Request rows (dicts): from pandera's strategies, else the bounds-based fallback."""
    from hypothesis import strategies as st

    cols = ctx.feature_columns
    schema = ctx.bundle.schema
    if schema is not None and all(c in schema.columns for c in cols):
        unexpressible = _unexpressible(schema, cols)
        if not unexpressible:
            try:
                from pandera.strategies.pandas_strategies import field_element_strategy

                elements = {
                    c: field_element_strategy(schema.columns[c].dtype, checks=schema.columns[c].checks) for c in cols
                }
            except Exception as exc:  # noqa: BLE001 - pandera raises several types for unsupported dtypes
                unexpressible = [f"{type(exc).__name__}: {_short(exc, 120)}"]
            else:
                # pandera's per-column element strategies (its checks compiled to hypothesis strategies), one
                # request row per example: far cheaper than schema.strategy()'s DataFrames, same values
                report.generator = "pandera"
                return st.fixed_dictionaries(elements)
        report.generator = "bounds"
        report.notes.append(
            "pandera cannot generate data for "
            + ", ".join(unexpressible[:10])
            + "; rows come from the column bounds instead, filtered by those checks"
        )
        valid = _validity(ctx)
        return _bounds_strategy(doms).filter(valid) if valid is not None else _bounds_strategy(doms)
    report.generator = "bounds"  # run() has said where the bounds come from
    return _bounds_strategy(doms)


def _validity(ctx: Context) -> Any:
    """A predicate `row -> bool` for the schema checks pandera cannot generate data for (None: there are none).

    Edge cases, the bounds-based generator and the shrinking all keep to it, so every row
    ROB001 reports is valid under the whole schema.
    """
    schema = ctx.bundle.schema
    if schema is None:
        return None
    cols = [c for c in ctx.feature_columns if c in schema.columns]
    unexpressible = _unexpressible(schema, cols)
    if not unexpressible:
        return None
    checked = sorted({u.split(":")[0] for u in unexpressible} & set(cols))
    judge = schema.select_columns(cols if any(u.startswith("<dataframe>") for u in unexpressible) else checked)
    return lambda row: _schema_valid(judge, request_frame(ctx, [row]))


def _schema_valid(schema: Any, frame: pd.DataFrame) -> bool:
    import pandera.errors as pe

    try:
        schema.validate(frame[[c for c in frame.columns if c in schema.columns]], lazy=False)
    except (pe.SchemaError, pe.SchemaErrors):
        return False
    return True


_SEARCH_LOCK = threading.Lock()


_PRIVATE_HOME: list[str] = []  # the process's private hypothesis storage directory, made on first use


def _private_home() -> str:
    if not _PRIVATE_HOME:
        import atexit
        import shutil
        import tempfile

        path = tempfile.mkdtemp(prefix="readiness-hypothesis-")
        atexit.register(shutil.rmtree, path, True)
        _PRIVATE_HOME.append(path)
    return _PRIVATE_HOME[0]


@contextlib.contextmanager
def _storage_outside_cwd() -> Iterator[None]:
    """Keep hypothesis from creating `.hypothesis/` in the current directory.

    The search uses no example database (`database=None`), but hypothesis still caches
    files (its unicode character map, drawn by text strategies) under its home directory,
    `./.hypothesis` by default: a CI checkout or a user's repository would get a new
    untracked folder. For the search only, that home is a private temporary directory
    (removed at exit); the previous setting is restored afterwards, so a user's own
    hypothesis tests in the same process keep theirs. A user who asks for a location
    (`HYPOTHESIS_STORAGE_DIRECTORY`) keeps it.
    """
    import os

    try:
        from hypothesis import configuration
    except ImportError:  # pragma: no cover - hypothesis is a dependency
        yield
        return
    key = "__hypothesis_home_directory"
    previous = getattr(configuration, key, None)
    if previous is not None or os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY") or not hasattr(configuration, key):
        yield
        return
    configuration.set_hypothesis_home_dir(_private_home())
    try:
        yield
    finally:
        setattr(configuration, key, previous)


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Keep hypothesis from mixing literals of "local" modules into the values it draws.

    Hypothesis draws, now and then, constants found in the source of every loaded module
    outside site-packages (an editable install, the caller's own code and tests). Which
    modules are loaded changes during a process's life, so the same seed would draw
    different rows in a fresh process and in a long-lived one (pytest, a notebook). The
    search is switched to hypothesis' global constants only; if its internals move, the
    search still runs, only less reproducibly across processes.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        original = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):  # pragma: no cover - a future hypothesis
        yield
        return
    empty = Constants()
    with _SEARCH_LOCK:
        providers._get_local_constants = lambda: empty
        cache.clear()
        try:
            yield
        finally:
            providers._get_local_constants = original
            cache.clear()


def _find(strategy: Any, condition: Any, max_examples: int, seed: int) -> Any:
    """hypothesis.find with a fixed seed, no example database and no health checks; None when nothing matches."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample, Unsatisfiable

    opts = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    try:
        with warnings.catch_warnings(), _without_local_constants(), _storage_outside_cwd():
            warnings.simplefilter("ignore")
            return find(strategy, condition, settings=opts, random=random.Random(seed))
    except (NoSuchExample, Unsatisfiable):
        return None


def _search(
    ctx: Context, strategy: Any, report: FuzzReport, max_examples: int, deadline: float, shrink_seconds: float
) -> dict[str, Any] | None:
    """The seeded search; the shrunk failing row, or None.

    Each round first lets hypothesis generate its rows and scores them in one batch (cheap);
    only when one fails is the same seeded round replayed with the model as the oracle, so
    hypothesis meets the same row again and shrinks it. Round sizes are fixed (10, 20, 40,
    50, 50, ...), never derived from timing, so a seed always gives the same rows; the clock
    is read between rounds only.
    """
    from hypothesis.errors import Flaky

    round_no = 0
    while report.search_examples < max_examples and time.perf_counter() < deadline:
        budget = min(SEARCH_ROUND, 10 * 2**round_no, max_examples - report.search_examples)
        seed = ctx.seed * 1_000_003 + round_no
        rows: list[dict[str, Any]] = []
        _find(strategy, lambda row, rows=rows: rows.append(row) or False, budget, seed)
        round_no += 1
        report.search_rounds = round_no
        if not rows:
            report.search_stopped = "no valid example could be generated"
            return None
        problems = probe(ctx, request_frame(ctx, rows)).problems
        bad = next((i for i, p in enumerate(problems) if p), None)
        if bad is None:
            report.search_examples += len(rows)
            continue
        report.search_examples += bad + 1
        report.search_stopped = "found a counterexample"
        state: dict[str, Any] = {"last": rows[bad]}
        shrink_until = time.perf_counter() + shrink_seconds

        def fails(row: dict[str, Any], state: dict[str, Any] = state, shrink_until: float = shrink_until) -> bool:
            if time.perf_counter() > shrink_until:
                return False
            if probe(ctx, request_frame(ctx, [row])).problems[0]:
                state["last"] = row
                return True
            return False

        try:
            minimal = _find(strategy, fails, budget, seed)
        except Flaky:  # the shrink budget ran out while hypothesis re-checked a row: keep the last failure
            minimal = None
        return minimal if minimal is not None else state["last"]
    report.search_stopped = "example budget spent" if report.search_examples >= max_examples else "time budget spent"
    return None


def polish(ctx: Context, doms: Sequence[Domain], row: dict[str, Any], valid: Any = None) -> dict[str, Any]:
    """Greedy shrinking of one failing row: replace each value by the simplest stand-in that still fails.

    The stand-ins for one column are scored in one batch; two passes over the columns at most.
    """
    for _ in range(2):
        changed = False
        for dom in doms:
            trials = []
            for candidate in _simpler(dom, row.get(dom.name)):
                trial = dict(row)
                trial[dom.name] = candidate
                if valid is None or valid(trial):
                    trials.append(trial)
            if not trials:
                continue
            problems = probe(ctx, request_frame(ctx, trials)).problems
            hit = next((t for t, p in zip(trials, problems, strict=True) if p), None)
            if hit is not None:
                row, changed = hit, True
        if not changed:
            break
    return row


def run(
    ctx: Context,
    *,
    max_examples: int = 200,
    max_seconds: float = 30.0,
    shrink_seconds: float = 2.0,
    edges: bool = True,
) -> FuzzReport:
    """Fuzz the model: edge cases first (unless `edges=False`), then a seeded, bounded hypothesis search."""
    start = time.perf_counter()
    doms, source = domains(ctx)
    report = FuzzReport(generator="", domain_source=source)
    if source != "schema":
        origin = (
            "the reference data" if ctx.bundle.reference is not None else "rows synthesised from the graph's inputs"
        )
        if ctx.bundle.schema is None:
            report.notes.append(f"no schema: bounds and typical values come from the ranges of {origin}")
        else:
            report.notes.append(f"bounds of the features the schema lacks come from the ranges of {origin}")
    # 1. edge cases, all in one batch (retried row by row when the batch errors)
    valid = _validity(ctx)
    cases = edge_rows(doms) if edges else []
    if valid is not None and cases:
        kept = [case for case in cases if valid(case[2])]
        if len(kept) < len(cases):
            report.notes.append(f"{len(cases) - len(kept)} edge case(s) left out: they fail a custom schema check")
        cases = kept
    report.edge_cases = len(cases)
    step = _rows_per_batch(doms)  # large tensors: the edge cases in several batches, bounding the memory
    for at in range(0, len(cases), step):
        chunk = cases[at : at + step]
        result = probe(ctx, request_frame(ctx, [row for _, _, row in chunk]))
        for i, (col, value, row) in enumerate(chunk):
            if result.problems[i]:
                report.edge_failures.append(
                    Finding("edge", result.problems[i], row, result.outputs[i], column=col, value=value)
                )
    if report.edge_failures:
        first = report.edge_failures[0]
        report.counterexample = first
        report.reproduce = reproduce_command(ctx, first.row)
        report.search_stopped = "not run: the edge cases already failed"
        report.generator = "edge cases"
    else:
        # 2. the seeded search
        if any(d.tensor is not None for d in doms):
            found = _tensor_search(ctx, doms, report, max_examples, start + max_seconds)
        else:
            strategy = _strategy(ctx, doms, report)
            found = _search(ctx, strategy, report, max_examples, start + max_seconds, shrink_seconds)
        if found is not None:
            shrunk = {k: _py(v) for k, v in found.items()}
            row = polish(ctx, doms, shrunk, valid)
            final = probe(ctx, request_frame(ctx, [row]))
            if not final.problems[0]:  # cannot happen for a model that scores a row alone as in a batch
                row, final = shrunk, probe(ctx, request_frame(ctx, [shrunk]))
            report.counterexample = Finding(
                "search", final.problems[0] or "fails only within a batch", row, final.outputs[0]
            )
            report.reproduce = reproduce_command(ctx, row)
    report.seconds = time.perf_counter() - start
    return report
