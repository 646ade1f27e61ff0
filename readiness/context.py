"""The context checks read: the bundle plus lazily computed, cached evidence.

Expensive evidence (the inference session, predictions on the reference data) is
computed once, on first use, and shared by every check that needs it. Checks add
their own shared evidence with `ctx.memo("yourpackage:name", factory)`: keys carry
a namespace, so two packages never read each other's evidence by accident.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import contract
from . import runtime as rt
from .bundle_data import Bundle
from .cancel import DEFAULT_CHECK_TIMEOUT_S
from .config import InputSpec, OutputSpec, ServingConfig
from .errors import ModelLoadError, ProviderUnavailable, SkipCheck
from .onnx_model import OnnxModel
from .registry import current_check
from .security import UnsafeExternalData

T = TypeVar("T")


class Context:
    """Everything a check may read. Create one per run (`Context(bundle, seed=...)`)."""

    def __init__(
        self,
        bundle: Bundle,
        *,
        seed: int = 0,
        thresholds: dict[str, Any] | None = None,
        endpoint: Any = None,
    ) -> None:
        self.bundle = bundle
        self.endpoint = endpoint  # readiness.endpoint.EndpointOptions from --endpoint (never from the bundle)
        self.seed = seed
        self.trust = bundle.trust
        self.manifest = bundle.manifest
        self._threshold_defaults = dict(thresholds or {})
        self._memo: dict[Any, Any] = {}
        self._lock = threading.RLock()
        self._pending: dict[Any, _Pending] = {}  # memo keys being computed, by the thread computing each
        self._count_lock = threading.Lock()
        self.counters: Counter[str] = Counter()  # e.g. "session_runs", "sessions_created" (add with `count`)
        # the per-check time limit of this run (the engine sets it from --check-timeout and [checks].timeout_s)
        self.check_timeout_s = min(DEFAULT_CHECK_TIMEOUT_S, self.manifest.checks.timeout_s or DEFAULT_CHECK_TIMEOUT_S)
        # the first timeout inside the model's inference in this run: later inference is not tried (the runner)
        self.inference_timeout: str | None = None

    # ------------------------------------------------------------------ generic cache
    def memo(self, key: str | tuple[Any, ...], factory: Callable[[], T]) -> T:
        """Compute `factory()` once per run and share it with every check asking for `key`.

        `key` is namespaced: a string `"namespace:name"` (e.g. `"acme:licence_scan"`), or a
        tuple whose first item is such a string (`("acme:scan", depth)`) when the evidence
        depends on parameters. Use your package's name as the namespace; readiness' own
        evidence lives under `context:`, `onnx:` and one short prefix per check category.
        A factory that raises is re-raised to every caller without being re-run.

        Checks run concurrently: when two ask for the same key at once, one computes it and the
        other waits for that value (a factory may ask for other keys). So the evidence must not
        depend on which check asks first: put every parameter it depends on in the key.
        """
        _check_memo_key(key)
        while True:
            with self._lock:
                if key in self._memo:
                    value = self._memo[key]
                    if isinstance(value, _Failure):
                        raise value.exc
                    return value
                pending = self._pending.get(key)
                if pending is None:
                    pending = self._pending[key] = _Pending()
                    break
            if pending.owner == threading.get_ident():
                raise RuntimeError(f"memo key {key!r} was asked for by its own factory (a cycle)")
            _wait(pending.done)  # another check is computing it; then read it (or compute it, if that one stopped)
        try:
            value = factory()
        except Exception as exc:
            with self._lock:
                self._memo[key] = _Failure(exc)
            raise
        else:
            with self._lock:
                self._memo.setdefault(key, value)
                return self._memo[key]
        finally:  # also when the check computing it is cancelled (CheckCancelled): a waiter then computes it
            with self._lock:
                self._pending.pop(key, None)
            pending.done.set()

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to `ctx.counters[name]` (thread-safe: checks run concurrently)."""
        with self._count_lock:
            self.counters[name] += n

    def threshold(self, name: str, default: Any = None) -> Any:
        """A named number the running check reads: from the manifest, else the check's declared default.

        Looked up, first hit wins: `[policy.thresholds.<CHECK ID>]` (for this check only),
        `[policy.thresholds]` (every check declaring `name`), the running check's own
        `@check(thresholds=...)` default, any installed check's default, then `default`.
        """
        configured = self.manifest.policy.thresholds
        spec = current_check()
        if spec is not None:
            scoped = configured.get(spec.id)
            if isinstance(scoped, dict) and name in scoped:
                return scoped[name]
        if name in configured:
            return configured[name]
        if spec is not None and name in spec.thresholds:
            return spec.thresholds[name]
        return self._threshold_defaults.get(name, default)

    def rng(self, salt: str = "") -> np.random.Generator:
        """A random generator seeded from the run seed and a per-use salt (stable across runs)."""
        import zlib

        return np.random.default_rng([self.seed, zlib.crc32(salt.encode())])

    # ------------------------------------------------------------------ the model
    @property
    def onnx(self) -> OnnxModel:
        """Safe, cached access to the ONNX model: `ctx.onnx.proto`, `.facts`, `.metadata`.

        A model file that is not readable ONNX raises `ModelUnreadable` (the check is `skip`,
        pointing at ART001), never an arbitrary parser exception."""
        return OnnxModel(self)

    @property
    def model_proto(self) -> Any:
        """The ONNX ModelProto, without external data (same as `ctx.onnx.proto`)."""
        return self.onnx.proto

    @property
    def serving(self) -> ServingConfig | None:
        return self.bundle.serving

    @property
    def runtime_spec(self) -> Any:
        return self.serving.runtime if self.serving else None

    def new_session(self, *, intra_op_threads: int | None = None, model: Any = None, runtime: Any = None) -> Any:
        """A fresh inference session configured from the serving config (not cached).

        `runtime` replaces the serving config's runtime section (e.g. another optimisation level)."""
        from .security import assert_safe_external_data

        path = self.bundle.model_path if model is None else model
        if model is None:
            proto = self.model_proto
        else:  # a model given here is scanned the same way before any session holds it
            import onnx

            proto = (
                onnx.load_from_string(model)
                if isinstance(model, bytes)
                else onnx.load(str(model), load_external_data=False)
            )
        assert_safe_external_data(
            proto, self.bundle.model_path.parent if model is None or isinstance(model, bytes) else Path(model).parent
        )
        self.count("sessions_created")
        spec = self.runtime_spec if runtime is None else runtime
        return rt.create_session(path, spec, intra_op_threads=intra_op_threads)

    @property
    def session(self) -> Any:
        """The shared inference session. Raises ModelLoadError when the model cannot load."""

        def load() -> Any:
            try:
                return self.new_session()
            except (ProviderUnavailable, UnsafeExternalData):  # refusals that say what they mean themselves
                raise
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
                raise ModelLoadError(f"{self.bundle.model_path.name} cannot be loaded by onnxruntime: {exc}") from exc

        return self.memo("context:session", load)

    # ------------------------------------------------------------------ contract
    @property
    def inputs(self) -> list[InputSpec]:
        if self.serving is not None:
            return list(self.serving.inputs)
        return self.memo(
            "context:derived_inputs",
            lambda: contract.derive_inputs(self.session, contract.candidate_columns(self.bundle)),
        )

    @property
    def outputs(self) -> list[OutputSpec]:
        if self.serving is not None:
            return list(self.serving.outputs)
        return self.memo("context:derived_outputs", self._derived_outputs)

    def _derived_outputs(self) -> list[OutputSpec]:
        """Output specs guessed from the graph; on a declared classification task, a float output guessed
        `regression` is read as logits (or a score, by its name), as `readiness init` proposes."""
        from .outputs import propose_kind

        task = self.manifest.model.task
        specs = contract.derive_outputs(self.session)
        return [s.model_copy(update={"kind": propose_kind(s.name, s.kind, task=task)[0]}) for s in specs]

    @property
    def feature_columns(self) -> list[str]:
        return rt.feature_columns(self.inputs)

    @property
    def max_batch_size(self) -> int:
        if self.serving is None and self.bundle.format == "model-only":
            return self.memo("context:model_only_max_batch_size", self._model_only_max_batch_size)
        return self.serving.batching.max_batch_size if self.serving else 1

    @property
    def task(self) -> str | None:
        """binary_classification, multiclass_classification or regression (declared or inferred)."""
        return self.memo("context:task", self._task)

    def _task(self) -> str | None:
        if self.manifest.model.task:
            return self.manifest.model.task
        kinds = {o.kind: o for o in self.outputs}
        classes = next((o.classes for o in self.outputs if o.classes), None)
        if any(kind in kinds for kind in ("probabilities", "logits", "score", "label")):
            if classes is None and self.y_true is not None:
                classes = sorted(set(self.y_true.tolist()))
            if classes is None:
                return None
            return "binary_classification" if len(classes) <= 2 else "multiclass_classification"
        if "regression" in kinds:
            return "regression"
        return None

    # ------------------------------------------------------------------ data
    @property
    def reference(self) -> Any:
        if self.bundle.reference is None:
            raise SkipCheck("no reference data: set [data].reference")
        return self.bundle.reference

    @property
    def reference_data(self) -> Any:
        """Every reference row (`readiness.reference.Reference`): `.rows`, `.sampled`, `.batches()`.

        `ctx.reference` is its frame in memory: all rows, or a seeded sample of them when the
        Parquet data holds more than `[data].sample_rows`."""
        bundle = self.bundle
        if bundle.reference is None:
            raise SkipCheck("no reference data: set [data].reference")
        if bundle.reference_data is not None:
            return bundle.reference_data
        from .reference import in_memory

        path = bundle.reference_path or bundle.root
        return self.memo("context:reference_data", lambda: in_memory(path, bundle.reference))

    @property
    def features(self) -> Any:
        """The reference data's feature columns, in the order the model reads them."""
        ref = self.reference
        missing = [c for c in self.feature_columns if c not in ref.columns]
        if missing:
            raise SkipCheck(f"reference data lacks model feature column(s) {missing[:5]} (see SCH002)")
        return ref[self.feature_columns]

    @property
    def y_true(self) -> np.ndarray | None:
        target = self.bundle.target
        if target is None or self.bundle.reference is None:
            return None
        return self.bundle.reference[target].to_numpy()

    SAMPLE_ROWS = 256

    @property
    def sample_frame(self) -> Any:
        """Request rows to feed the model: the reference features, else rows synthesised
        (seeded) from the schema's bounds, else from the graph's input dtypes."""

        def build() -> Any:
            from . import synth

            if self.bundle.reference is not None:
                return self.features
            rng = self.rng("sample_frame")
            if self.bundle.schema is not None:
                return synth.from_schema(self.bundle.schema, self.feature_columns, self.SAMPLE_ROWS, rng)
            return synth.from_inputs(self.inputs, self.SAMPLE_ROWS, rng, scales=synth.graph_scales(self))

        return self.memo("context:sample_frame", build)

    # ------------------------------------------------------------------ predictions
    def predict_raw(self, frame: Any, *, session: Any = None, batch_size: int | None = None) -> dict[str, Any]:
        """The model's raw outputs (name -> array, or list for a ZipMap) on the rows of `frame`,
        scored in batches of `batch_size` (default: max_batch_size); nothing interpreted."""
        session = self.session if session is None else session
        size = max(1, batch_size or self.max_batch_size)
        n = len(frame)
        whole = None
        if n > size:
            try:  # the tensors built once, then sliced (the same values as built batch by batch)
                whole = rt.to_feeds(frame, self.inputs)
            except Exception:  # noqa: BLE001 - e.g. an input without a batch axis: built request by request below
                whole = None
        if whole is not None and any(np.ndim(v) == 0 or len(v) != n for v in whole.values()):
            whole = None  # an input without a batch axis: built request by request
        parts = []
        for start in range(0, n, size):
            if whole is not None:
                feeds = {name: value[start : start + size] for name, value in whole.items()}
            else:
                feeds = rt.to_feeds(frame.iloc[start : start + size], self.inputs)
            parts.append(rt.run(session, feeds))
            self.count("session_runs")
        if not parts:
            raise ValueError("no rows to score")
        return rt.concat_raw(parts)

    def predict(self, frame: Any, *, session: Any = None, batch_size: int | None = None) -> rt.Predictions:
        """Score the rows of `frame` in batches of `batch_size` (default: max_batch_size), by meaning."""
        return rt.interpret(self.predict_raw(frame, session=session, batch_size=batch_size), self.outputs)

    @property
    def reference_raw(self) -> dict[str, Any]:
        """The raw outputs on the reference data, computed once per run (SCH004 judges their shapes)."""
        return self.memo("context:reference_raw", lambda: self.predict_raw(self.features))

    @property
    def reference_predictions(self) -> rt.Predictions:
        """Predictions on the reference data, computed once per run."""
        return self.memo("context:reference_predictions", lambda: rt.interpret(self.reference_raw, self.outputs))

    # ------------------------------------------------------------------ baseline
    @property
    def baseline(self) -> Context | None:
        """A context over the baseline bundle, sharing this run's seed (None without a baseline)."""
        baseline = self.bundle.baseline
        if baseline is None:
            return None
        return self.memo(
            "context:baseline",
            lambda: Context(baseline, seed=self.seed, thresholds=self._threshold_defaults),
        )

    # ------------------------------------------------------------------ model-only runs (readiness/formats)
    MODEL_ONLY_MAX_BATCH_SIZE = 64

    def _model_only_max_batch_size(self) -> int:
        """Without a serving config, batch as a server would when every graph input has a dynamic batch axis."""
        try:
            inputs = self.inputs
        except Exception:  # noqa: BLE001 - a model that does not load is ART001's finding
            return 1
        dynamic = bool(inputs) and all(spec.shape and spec.shape[0] == -1 for spec in inputs)
        return self.MODEL_ONLY_MAX_BATCH_SIZE if dynamic else 1


def _check_memo_key(key: Any) -> None:
    head = key[0] if isinstance(key, tuple) and key else key
    if not (isinstance(head, str) and ":" in head.strip(":")):
        raise ValueError(
            f"memo key {key!r} has no namespace: use 'yourpackage:name' (or a tuple starting with one), "
            "so evidence from different packages never collides"
        )


class _Pending:
    """A memo key being computed: by which thread, and an event set when it is done (or abandoned)."""

    __slots__ = ("done", "owner")

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.done = threading.Event()


def _wait(event: threading.Event) -> None:
    """Wait for `event` in short slices, so that a cancelled check leaves the wait at once: its stop
    switch is checked, and the runner's asynchronous CheckCancelled is raised between two slices."""
    from . import cancel

    switch = cancel.current()
    while not event.wait(0.05):
        if switch is not None:
            switch.check()


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
