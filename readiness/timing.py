"""The latency measurement core every LAT check uses.

- The session is configured from the serving config (providers, intra-op threads,
  inter-op threads, sequential execution, spinning off, graph optimisation level;
  see `runtime.session_options`) and its settings are read back and recorded.
  A requested execution provider that the session does not actually use raises
  `ProviderUnavailable`: nothing is ever measured on another provider.
- Timed requests are drawn from every request row (the reference data, else
  synthetic rows), in a seeded random order reshuffled after each pass, so a
  data-dependent slow path (deeper trees, `If`/`Loop` branches, long strings) shows
  in the percentiles in proportion to the traffic that takes it. Rows are converted
  to input tensors a bounded chunk at a time (`RequestRows`), outside the timed
  region; the evidence says how many distinct rows were timed.
- Warm-up is separate from measurement: windows of calls until the medians of two
  consecutive windows agree within 10% (or a cap is reached).
- Each call is timed on its own with `time.perf_counter_ns`; garbage collection
  is paused during timed windows.
- Load time and peak memory are measured in fresh child processes
  (`python -I -c PROBE`) that import only numpy and onnxruntime.
"""

from __future__ import annotations

import gc
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import cancel, vocabulary
from . import runtime as rt

WARMUP_TOLERANCE = 0.10  # consecutive window medians within 10% = warmed up
WARMUP_WINDOW_NS = 20_000_000  # a warm-up window lasts about 20 ms (at least MIN_WINDOW calls)
MIN_WINDOW = 10
CHUNK_BYTES = 32 * 1024 * 1024  # request rows converted to tensors at a time: at most about this many bytes
CHUNK_MIN_BATCHES = 4
CHUNK_MAX_BATCHES = 256


# --------------------------------------------------------------------------- compact raw times
def encode_times(ns: np.ndarray | list[int]) -> dict[str, Any]:
    """Per-call times (ns) as a compact, exact JSON object (`readiness.vocabulary.RAW_TIMES_ENCODING`)."""
    return vocabulary.encode_times(np.asarray(ns, dtype=np.int64).ravel().tolist())


def decode_times(raw: dict[str, Any]) -> np.ndarray:
    """The per-call times (ns, int64) stored by `encode_times`, e.g. in LAT001's evidence."""
    return np.asarray(vocabulary.decode_times(raw), dtype=np.int64)


# --------------------------------------------------------------------------- sessions
def verify_providers(session: Any, requested: list[str], *, required: bool = False) -> None:
    """Raise ProviderUnavailable when the session does not use every requested provider
    (onnxruntime can fall back to the CPU when a provider fails to initialise); `required` is the
    serving config's `required_providers`."""
    actual = list(session.get_providers())
    missing = [p for p in requested if p not in actual]
    if missing:
        raise rt.ProviderUnavailable(missing, actual, required=required)


def session_settings(session: Any) -> dict[str, Any]:
    """The settings the session really runs with, read back from onnxruntime."""
    opts = session.get_session_options()

    def entry(key: str) -> str | None:
        try:
            return opts.get_session_config_entry(key)
        except Exception:  # noqa: BLE001 - absent key raises in some versions
            return None

    return {
        "providers": list(session.get_providers()),
        "intra_op_threads": opts.intra_op_num_threads,
        "inter_op_threads": opts.inter_op_num_threads,
        "execution_mode": str(opts.execution_mode).rsplit(".", 1)[-1],
        "graph_optimization_level": str(opts.graph_optimization_level).rsplit(".", 1)[-1],
        "intra_op_spinning": entry("session.intra_op.allow_spinning") != "0",
        "inter_op_spinning": entry("session.inter_op.allow_spinning") != "0",
    }


def build_batches(frame: Any, inputs: Any, batch_size: int, distinct: int = 1) -> list[dict]:
    """Pre-built input tensors: `distinct` batches of `batch_size` consecutive rows, cycling through the rows."""
    n = len(frame)
    if n == 0:
        raise ValueError("no request rows to build batches from")
    count = max(1, min(distinct, math.ceil(n / batch_size)))
    batches = []
    for i in range(count):
        idx = (i * batch_size + np.arange(batch_size)) % n
        feeds = rt.to_feeds(frame.iloc[idx], inputs)
        # C order, as a server builds its tensors: pandas hands out Fortran-ordered blocks, which
        # onnxruntime would copy on every call and so bill to the model
        batches.append({name: np.ascontiguousarray(arr) for name, arr in feeds.items()})
    return batches


class RequestRows:
    """Batches of request rows for timed calls, drawn from every row of the request data.

    Rows are visited in a seeded random order that is reshuffled after each full pass
    (so rows are resampled when there are more calls than rows, and every row is timed
    before any is timed twice). They are converted to input tensors one chunk at a time
    (at most about `CHUNK_BYTES`, and at most `CHUNK_MAX_BATCHES` batches, spanning several
    passes over small data), so memory stays bounded whatever
    the size of the data; a batch is a C-contiguous slice of the converted chunk, taken
    before the clock starts. `distinct_rows` counts the rows served since `reset_count`.
    """

    def __init__(self, frame: Any, inputs: Any, batch_size: int, seed: int = 0) -> None:
        self.n = len(frame)
        if self.n == 0:
            raise ValueError("no request rows to build batches from")
        self.frame, self.inputs, self.batch_size = frame, inputs, batch_size
        self._rng = np.random.default_rng(seed)
        self._order = np.empty(0, dtype=np.int64)
        self._next = 0
        first = rt.to_feeds(frame.iloc[:batch_size] if batch_size <= self.n else frame, inputs)
        row_bytes = max(1, sum(arr.nbytes for arr in first.values()) // max(1, min(batch_size, self.n)))
        # Refills are rare (every CHUNK_MAX_BATCHES calls when rows are small, so a timer's cache is
        # disturbed as seldom as another's whatever the size of its data) and bounded in bytes.
        batches = min(CHUNK_MAX_BATCHES, max(CHUNK_MIN_BATCHES, CHUNK_BYTES // (row_bytes * batch_size)))
        self.chunk_rows = batch_size * int(batches)
        self._chunk: dict[str, np.ndarray] = {}
        self._chunk_rows = np.empty(0, dtype=np.int64)
        self._pos = 0
        self._served = np.zeros(self.n, dtype=bool)

    def _indices(self, count: int) -> np.ndarray:
        parts = []
        while count > 0:
            if self._next >= self._order.size:
                self._order = self._rng.permutation(self.n)
                self._next = 0
            take = self._order[self._next : self._next + count]
            self._next += take.size
            count -= take.size
            parts.append(take)
        return np.concatenate(parts)

    def _refill(self) -> None:
        rows = self._indices(self.chunk_rows)
        feeds = rt.to_feeds(self.frame.iloc[rows], self.inputs)
        # C order, as a server builds its tensors: pandas hands out Fortran-ordered blocks, which
        # onnxruntime would copy on every call and so bill to the model
        self._chunk = {name: np.ascontiguousarray(arr) for name, arr in feeds.items()}
        self._chunk_rows = rows
        self._pos = 0

    def next_batch(self) -> dict[str, np.ndarray]:
        if self._pos + self.batch_size > self._chunk_rows.size:
            self._refill()
        sl = slice(self._pos, self._pos + self.batch_size)
        self._pos += self.batch_size
        self._served[self._chunk_rows[sl]] = True
        return {name: arr[sl] for name, arr in self._chunk.items()}

    @property
    def distinct_rows(self) -> int:
        return int(self._served.sum())

    def reset_count(self) -> None:
        self._served[:] = False

    def describe(self) -> dict[str, Any]:
        return {"distinct_rows": self.distinct_rows, "request_rows": self.n, "chunk_rows": self.chunk_rows}


def _timed_calls(session: Any, rows: RequestRows, count: int, deadline_ns: int | None) -> list[int]:
    """`count` calls (fewer if the deadline passes), each on the next batch of request rows, each
    timed separately, gc paused.

    (A full `gc.collect()` can take ~0.1 s in a process holding pandas and friends, so it is
    done once per measurement phase by the callers, not before every window.)"""
    run = session.run
    next_batch = rows.next_batch
    out: list[int] = []
    append = out.append
    clock = time.perf_counter_ns
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with rt.inference() as opts:  # cancellable by the runner, like every inference
            for _ in range(count):
                feeds = next_batch()
                t0 = clock()
                run(None, feeds, opts)
                t1 = clock()
                append(t1 - t0)
                if deadline_ns is not None and t1 > deadline_ns:
                    break
    finally:
        if was_enabled:
            gc.enable()
    return out


@dataclass
class Timer:
    """Timing of one session at one batch size: warm-up record plus every timed call (ns)."""

    session: Any
    rows: RequestRows
    batch_size: int
    samples: list[int] = field(default_factory=list)
    warmup: dict[str, Any] = field(default_factory=dict)
    per_call_ns: float = 0.0  # median call time in the last warm-up window

    def warm_up(self, cap_s: float, tolerance: float = WARMUP_TOLERANCE) -> dict[str, Any]:
        """Windows of calls until consecutive window medians agree within `tolerance`, or `cap_s`."""
        gc.collect()
        start = time.perf_counter_ns()
        deadline = start + int(cap_s * 1e9)
        first = _timed_calls(self.session, self.rows, 1, None)[0]
        probe = _timed_calls(self.session, self.rows, MIN_WINDOW, None)
        per_call = max(1, int(np.median(probe)))
        window = max(MIN_WINDOW, min(1000, WARMUP_WINDOW_NS // per_call))
        calls = 1 + len(probe)
        medians = [float(np.median(probe))]
        stable = False
        while time.perf_counter_ns() < deadline:
            times = _timed_calls(self.session, self.rows, window, deadline)
            calls += len(times)
            medians.append(float(np.median(times)))
            prev, cur = medians[-2], medians[-1]
            if len(times) == window and abs(cur - prev) <= tolerance * prev:
                stable = True
                break
        self.per_call_ns = medians[-1]
        self.warmup = {
            "first_call_ms": round(first / 1e6, 4),
            "calls": calls,
            "windows": len(medians),
            "window_calls": window,
            "seconds": round((time.perf_counter_ns() - start) / 1e9, 3),
            "stable": stable,
            "window_medians_ms": [round(m / 1e6, 4) for m in medians[-4:]],
        }
        self.rows.reset_count()  # distinct rows count the measured calls only
        return self.warmup

    def sample(self, count: int, deadline_ns: int | None = None) -> int:
        """Take `count` more timed calls (fewer when the deadline passes); returns how many were taken."""
        times = _timed_calls(self.session, self.rows, count, deadline_ns)
        self.samples.extend(times)
        return len(times)

    def sample_until(self, total: int, deadline_ns: int | None = None) -> None:
        missing = total - len(self.samples)
        if missing > 0:
            self.sample(missing, deadline_ns)

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.samples, dtype=np.int64)


class Rig:
    """A measurement session for one model, with a Timer per batch size (shared by the LAT checks)."""

    def __init__(self, ctx: Any, warmup_cap_s: float = 5.0) -> None:
        self.ctx = ctx
        self.warmup_cap_s = warmup_cap_s
        requested = list(ctx.runtime_spec.providers) if ctx.runtime_spec else ["CPUExecutionProvider"]
        t0 = time.perf_counter_ns()
        self.session = ctx.new_session()  # raises ProviderUnavailable for a missing provider
        self.create_ms = round((time.perf_counter_ns() - t0) / 1e6, 3)
        verify_providers(
            self.session, requested, required=bool(ctx.runtime_spec and ctx.runtime_spec.required_providers)
        )
        self.settings = session_settings(self.session)
        self.timers: dict[int, Timer] = {}

    def timer(self, batch_size: int) -> Timer:
        if batch_size not in self.timers:
            seed = int(self.ctx.rng(f"latency-rows-{batch_size}").integers(2**32))
            rows = RequestRows(self.ctx.sample_frame, self.ctx.inputs, batch_size, seed=seed)
            timer = Timer(self.session, rows, batch_size)
            timer.warm_up(self.warmup_cap_s)
            self.timers[batch_size] = timer
        return self.timers[batch_size]

    def describe(self) -> dict[str, Any]:
        return {**self.settings, "session_create_ms": self.create_ms}


def rig(ctx: Any, warmup_cap_s: float = 5.0) -> Rig:
    """The context's measurement rig, created once per run."""
    return ctx.memo("lat:rig", lambda: Rig(ctx, warmup_cap_s))


# --------------------------------------------------------------------------- fresh-process probes
PROBE = r"""
import json, resource, sys, time
spec = json.loads(sys.argv[1])
import numpy as np
import onnxruntime as ort

def peak_mb():
    # VmHWM belongs to this process image; ru_maxrss can carry the parent's peak across fork + exec
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0

imported_mb = peak_mb()
opts = ort.SessionOptions()
opts.intra_op_num_threads = spec["intra_op_threads"]
opts.inter_op_num_threads = spec["inter_op_threads"]
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, spec["graph_optimization_level"])
opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
opts.log_severity_level = 3
data = np.load(spec["feeds"], allow_pickle=False)
feeds = {}
for i, name in enumerate(spec["names"]):
    arr = data["arr_%d" % i]
    feeds[name] = arr.astype(object) if arr.dtype.kind == "U" else arr
t0 = time.perf_counter_ns()
sess = ort.InferenceSession(spec["model"], sess_options=opts, providers=spec["providers"])
t1 = time.perf_counter_ns()
missing = [p for p in spec["providers"] if p not in sess.get_providers()]
if missing:
    print(json.dumps({"error": "providers not in use: %s" % missing}))
    sys.exit(0)
sess.run(None, feeds)
t2 = time.perf_counter_ns()
for _ in range(spec["serve_calls"]):
    sess.run(None, feeds)
print(json.dumps({
    "create_ms": (t1 - t0) / 1e6,
    "first_inference_ms": (t2 - t1) / 1e6,
    "imported_peak_mb": imported_mb,
    "peak_rss_mb": peak_mb(),
}))
"""


def probe_fresh_processes(ctx: Any, runs: int, serve_calls: int = 5, timeout_s: float = 120.0) -> dict[str, Any]:
    """Start `runs` fresh Python processes that each create a session for the model and serve the
    largest batch; return their load times and peak resident memory (shared by LAT003 and LAT004)."""

    def measure() -> dict[str, Any]:
        runtime = ctx.runtime_spec or rt.RuntimeSpec()
        ctx.session  # noqa: B018 - raises ProviderUnavailable / ModelLoadError before any child starts
        batch = build_batches(ctx.sample_frame, ctx.inputs, ctx.max_batch_size, distinct=1)[0]
        rt.run(ctx.session, batch)  # a model that refuses the rows says so here, not as a child's traceback
        names = list(batch)
        with tempfile.TemporaryDirectory(prefix="readiness-probe-") as tmp:
            feeds_path = Path(tmp) / "feeds.npz"
            arrays = [batch[n].astype(str) if batch[n].dtype == object else batch[n] for n in names]
            np.savez(feeds_path, *arrays)
            spec = {
                "model": str(ctx.bundle.model_path),
                "providers": list(runtime.providers),
                "intra_op_threads": runtime.intra_op_threads,
                "inter_op_threads": runtime.inter_op_threads,
                "graph_optimization_level": rt._OPT_LEVELS[runtime.graph_optimization_level],
                "feeds": str(feeds_path),
                "names": names,
                "serve_calls": serve_calls,
            }
            results = []
            for _ in range(runs):
                proc = cancel.run_process(  # killed when the check is cancelled
                    [sys.executable, "-I", "-c", PROBE, json.dumps(spec)], timeout=timeout_s
                )
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                if proc.returncode != 0 or not lines:
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                    raise RuntimeError(f"fresh-process probe exited {proc.returncode}: {' | '.join(tail)}")
                out = json.loads(lines[-1])
                if "error" in out:
                    raise RuntimeError(f"fresh-process probe: {out['error']}")
                results.append(out)
        return {"runs": results, "batch_size": ctx.max_batch_size, "serve_calls": serve_calls}

    return ctx.memo(("lat:fresh_process_probe", runs, serve_calls), measure)
