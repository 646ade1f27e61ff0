"""A small Open Inference Protocol (KServe v2 REST) client for live-endpoint checks (SRV).

The endpoint's URL comes only from the person running the tool (`--endpoint URL` or the
`READINESS_ENDPOINT` environment variable), never from the bundle: a bundle from a pull
request must not be able to aim the tool, or its load, at a host nobody named. An
authentication header, when the server needs one, is read from an environment variable whose
*name* is given on the command line (`--endpoint-auth-env NAME`), so the secret never appears
in a command line, a bundle or a scorecard.

Every request has a connect timeout and a whole-request timeout. httpx is imported lazily
(the optional extra `readiness[serving]`).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import numpy as np

from .errors import BundleError

ENV_URL = "READINESS_ENDPOINT"
DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_REQUEST_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 64 * 1024 * 1024  # a server's answer is hostile too: never read more than this

# Open Inference Protocol tensor datatypes <-> the serving config's dtypes.
OIP_DATATYPES: dict[str, str] = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "string": "BYTES",
}
NUMPY_OF_OIP: dict[str, Any] = {v: (object if k == "string" else np.dtype(k)) for k, v in OIP_DATATYPES.items()}


class EndpointError(Exception):
    """The server could not be reached or answered outside the protocol."""


@dataclass(frozen=True)
class EndpointOptions:
    """What the person running the tool said about the live endpoint (never read from a bundle)."""

    url: str
    auth_env: str | None = None  # the NAME of an environment variable holding the Authorization value
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    load_workers: int = 0  # SRV003: 0 = one local Locust process; N = N local workers under a master
    facts: dict[str, Any] = field(default_factory=dict, compare=False)  # what the checks learned (server name...)

    @property
    def display_url(self) -> str:
        """The URL without credentials, query or fragment (what reports show)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def headers(self) -> dict[str, str]:
        """The Authorization header from the named environment variable ('Bearer ' added to a bare token)."""
        if not self.auth_env:
            return {}
        value = os.environ.get(self.auth_env, "").strip()
        if not value:
            raise BundleError(
                None,
                "--endpoint-auth-env",
                f"environment variable {self.auth_env} is not set or empty",
                f"export {self.auth_env}=<token> (or 'Basic ...'), or drop --endpoint-auth-env",
            )
        return {"Authorization": value if " " in value else f"Bearer {value}"}

    def environment(self) -> dict[str, Any]:
        """The endpoint's part of the scorecard's environment."""
        out: dict[str, Any] = {"url": self.display_url, "protocol": "open-inference-protocol-v2-rest"}
        out.update(self.facts)
        return out


def resolve(
    url: str | None,
    *,
    auth_env: str | None = None,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    load_workers: int = 0,
    environ: dict[str, str] | None = None,
) -> EndpointOptions | None:
    """The endpoint from `--endpoint URL`, else from READINESS_ENDPOINT; None when neither is set.

    Raises BundleError (exit 2) for a URL that is not http(s)://host[:port][/path]."""
    env = os.environ if environ is None else environ
    origin = "--endpoint"
    if not url:
        url, origin = (env.get(ENV_URL) or "").strip() or None, ENV_URL
    if not url:
        if auth_env:
            raise BundleError(None, "--endpoint-auth-env", "given without an endpoint", "pass --endpoint URL too")
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.query or parts.fragment:
        raise BundleError(
            None,
            origin,
            f"{url[:200]!r} is not an endpoint URL",
            "give the server's base URL, e.g. http://127.0.0.1:8080 (the /v2/... paths are added)",
        )
    if connect_timeout_s <= 0 or request_timeout_s <= 0:
        raise BundleError(None, "--endpoint-timeout", "timeouts must be positive", "pass a number of seconds > 0")
    if load_workers < 0:
        raise BundleError(None, "--load-workers", "must be 0 or more", "pass 0 (one process) or a worker count")
    return EndpointOptions(
        url=url.rstrip("/"),
        auth_env=auth_env,
        connect_timeout_s=float(connect_timeout_s),
        request_timeout_s=float(request_timeout_s),
        load_workers=int(load_workers),
    )


# --------------------------------------------------------------------------- tensors
def encode_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    """One request tensor in the protocol's JSON form (row-major flat data)."""
    arr = np.asarray(array)
    if arr.dtype == object or arr.dtype.kind in "US":
        datatype, data = "BYTES", [str(v) for v in arr.reshape(-1)]
    else:
        datatype = OIP_DATATYPES.get(arr.dtype.name)
        if datatype is None:
            raise ValueError(f"input {name!r}: numpy dtype {arr.dtype} has no Open Inference Protocol datatype")
        data = arr.reshape(-1).tolist()
    return {"name": name, "shape": list(arr.shape), "datatype": datatype, "data": data}


def request_body(feeds: dict[str, np.ndarray], output_names: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": [encode_tensor(name, arr) for name, arr in feeds.items()]}
    if output_names:
        body["outputs"] = [{"name": n} for n in output_names]
    return body


def decode_tensor(tensor: dict[str, Any]) -> np.ndarray:
    """A response tensor as a numpy array of its declared datatype and shape."""
    if not isinstance(tensor, dict):
        raise EndpointError("an output tensor is not a JSON object")
    shape, datatype, data = tensor.get("shape"), tensor.get("datatype"), tensor.get("data")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise EndpointError(f"output {str(tensor.get('name'))[:80]!r} has no valid shape")
    if datatype not in NUMPY_OF_OIP:
        raise EndpointError(f"output {str(tensor.get('name'))[:80]!r} has unknown datatype {str(datatype)[:20]!r}")
    if not isinstance(data, list):
        raise EndpointError(f"output {str(tensor.get('name'))[:80]!r} carries no JSON data")
    flat = np.asarray(_flatten(data), dtype=NUMPY_OF_OIP[datatype])
    if flat.size != math.prod(shape):
        raise EndpointError(
            f"output {str(tensor.get('name'))[:80]!r}: {flat.size} values do not fill shape {shape[:8]}"
        )
    return flat.reshape(shape)


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > 32:
                    raise EndpointError("output data nested too deeply")
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


@dataclass
class Answer:
    """One HTTP exchange: status, parsed JSON body (or None), elapsed seconds, and an error text."""

    status: int | None
    body: Any
    elapsed_s: float
    error: str | None = None  # transport error (refused, timeout, reset) when status is None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# --------------------------------------------------------------------------- client
class Client:
    """Open Inference Protocol v2 REST calls with connect and request timeouts on every call."""

    def __init__(self, options: EndpointOptions) -> None:
        import httpx

        self.options = options
        self._httpx = httpx
        self._http = httpx.Client(
            base_url=options.url,
            timeout=httpx.Timeout(options.request_timeout_s, connect=options.connect_timeout_s),
            headers={"Accept": "application/json", **options.headers()},
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the request goes exactly where the user said
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None) -> Answer:
        """One request; transport failures become an Answer with `error` set, never an exception."""
        t0 = time.perf_counter()
        try:
            if raw is not None:
                resp = self._http.request(method, path, content=raw, headers={"Content-Type": "application/json"})
            elif body is not None:
                content = json.dumps(body, allow_nan=True).encode()
                resp = self._http.request(method, path, content=content, headers={"Content-Type": "application/json"})
            else:
                resp = self._http.request(method, path)
        except self._httpx.ConnectTimeout:
            return Answer(
                None, None, time.perf_counter() - t0, f"no connection within {self.options.connect_timeout_s:g} s"
            )
        except self._httpx.TimeoutException:
            return Answer(
                None, None, time.perf_counter() - t0, f"no answer within {self.options.request_timeout_s:g} s"
            )
        except self._httpx.ConnectError as exc:
            return Answer(None, None, time.perf_counter() - t0, f"cannot connect: {_reason(exc)}")
        except self._httpx.HTTPError as exc:
            return Answer(None, None, time.perf_counter() - t0, f"{type(exc).__name__}: {_reason(exc)}")
        elapsed = time.perf_counter() - t0
        parsed: Any = None
        if len(resp.content) <= MAX_BODY_BYTES and resp.content:
            try:
                parsed = json.loads(resp.content)
            except ValueError:
                parsed = None
        return Answer(resp.status_code, parsed, elapsed)

    # -- health and metadata
    def live(self) -> Answer:
        return self.call("GET", "/v2/health/live")

    def ready(self) -> Answer:
        return self.call("GET", "/v2/health/ready")

    def server_metadata(self) -> Answer:
        return self.call("GET", "/v2")

    def model_path(self, model: str) -> str:
        return f"/v2/models/{quote(model, safe='')}"

    def model_metadata(self, model: str) -> Answer:
        return self.call("GET", self.model_path(model))

    def model_ready(self, model: str) -> Answer:
        return self.call("GET", self.model_path(model) + "/ready")

    # -- inference
    def infer_raw(self, model: str, body: Any = None, raw: bytes | None = None) -> Answer:
        return self.call("POST", self.model_path(model) + "/infer", body=body, raw=raw)

    def infer(self, model: str, feeds: dict[str, np.ndarray], output_names: list[str] | None = None) -> Inferred:
        """Score one batch; raises EndpointError when the server refuses it or answers outside the protocol."""
        answer = self.infer_raw(model, request_body(feeds, output_names))
        if answer.error:
            raise EndpointError(answer.error)
        if not answer.ok:
            raise EndpointError(f"HTTP {answer.status}: {error_text(answer.body)}")
        body = answer.body
        if not isinstance(body, dict) or not isinstance(body.get("outputs"), list):
            raise EndpointError("the answer has no 'outputs' list")
        outputs = {}
        for tensor in body["outputs"]:
            name = tensor.get("name") if isinstance(tensor, dict) else None
            if not isinstance(name, str):
                raise EndpointError("an output tensor has no name")
            outputs[name] = decode_tensor(tensor)
        version = body.get("model_version")
        return Inferred(outputs, None if version is None else str(version), answer.elapsed_s)


@dataclass
class Inferred:
    outputs: dict[str, np.ndarray]
    model_version: str | None
    elapsed_s: float


def error_text(body: Any, limit: int = 200) -> str:
    """The server's error message from an error body, shortened."""
    text = "(no error body)" if body is None else str(body)
    if isinstance(body, dict):
        text = next((str(body[k]) for k in ("error", "detail", "message") if k in body), text)
    return " ".join(text.split())[:limit]  # one line: a server's message may hold newlines


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused (is the server running on that port?)"
    return text[:200]
