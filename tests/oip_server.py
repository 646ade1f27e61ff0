"""A real Open Inference Protocol server for the SRV tests: kserve's ModelServer wrapping onnxruntime.

    python tests/oip_server.py '{"port": 8123, "model": "model.onnx", "version": "1.0.0", "max_batch_size": 16}'

It serves one ONNX model under several names, one clean and one per defect a live deployment can
have, so a single server start (about ten seconds) covers every SRV test:

- ``clean``: validates every request (names, datatype, shape, batch size, finite values) and
  answers 400 with an error body when it is malformed; reports ``model_version``.
- ``skew``: scales its inputs by 1.25 before scoring (training-serving skew; SRV002 fails).
- ``wrongdtype``: its metadata lists FP64 for a float32 input (SRV001 fails).
- ``crash``: a wrong shape reaches onnxruntime and becomes a 500 (SRV004 fails).
- ``slow``: every third request sleeps 0.5 s (SRV003 fails).
- ``oldversion``: reports version 0.9.0 (SRV005 fails).

It listens on 127.0.0.1 only, and stops by itself after ``lifetime_s`` (default 600 s) in case the
test run that started it dies.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time

SPEC = json.loads(sys.argv[1])
sys.argv = sys.argv[:1]  # kserve parses the command line when imported

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import uvicorn  # noqa: E402

_Config = uvicorn.Config


class _LoopbackConfig(_Config):
    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"  # kserve binds 0.0.0.0; these tests never listen beyond loopback
        super().__init__(*args, **kwargs)


uvicorn.Config = _LoopbackConfig

from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer  # noqa: E402
from kserve.errors import InvalidInput  # noqa: E402

DTYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int64)": "INT64", "tensor(int32)": "INT32"}


class OnnxModel(Model):
    def __init__(self, name: str, defect: str | None) -> None:
        super().__init__(name)
        self.defect = defect
        self.session = ort.InferenceSession(SPEC["model"], providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()
        self.calls = 0
        self.ready = True

    def _meta(self, args, *, inputs: bool) -> list[dict]:
        out = []
        for arg in args:
            datatype = DTYPES[arg.type]
            if inputs and self.defect == "wrongdtype":
                datatype = "FP64"
            out.append(
                {"name": arg.name, "datatype": datatype, "shape": [d if isinstance(d, int) else -1 for d in arg.shape]}
            )
        return out

    def get_input_types(self) -> list[dict]:
        return self._meta(self.inputs, inputs=True)

    def get_output_types(self) -> list[dict]:
        return self._meta(self.outputs, inputs=False)

    def _feeds(self, request: InferRequest) -> dict[str, np.ndarray]:
        given = {i.name: i for i in request.inputs}
        feeds = {}
        for arg in self.inputs:
            if arg.name not in given:
                raise InvalidInput(f"missing input {arg.name!r}")
            tensor = given[arg.name]
            if self.defect != "crash" and tensor.datatype != DTYPES[arg.type]:
                raise InvalidInput(f"input {arg.name!r}: datatype {tensor.datatype}, expected {DTYPES[arg.type]}")
            try:
                array = np.asarray(tensor.as_numpy(), dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"input {arg.name!r}: {exc}") from None
            if self.defect != "crash":
                width = arg.shape[1]
                if array.ndim != 2 or (isinstance(width, int) and array.shape[1] != width):
                    raise InvalidInput(f"input {arg.name!r}: shape {list(array.shape)}, expected [-1, {width}]")
                if array.shape[0] > SPEC["max_batch_size"]:
                    raise InvalidInput(f"batch of {array.shape[0]} rows exceeds {SPEC['max_batch_size']}")
                if not np.isfinite(array).all():
                    raise InvalidInput(f"input {arg.name!r} holds NaN or infinite values")
            feeds[arg.name] = array * np.float32(1.25) if self.defect == "skew" else array
        return feeds

    async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        self.calls += 1
        if self.defect == "slow" and self.calls % 3 == 0:
            await asyncio.sleep(0.5)
        feeds = self._feeds(payload)
        values = self.session.run(None, feeds)
        outputs = []
        for arg, value in zip(self.outputs, values, strict=True):
            out = InferOutput(name=arg.name, shape=list(value.shape), datatype=DTYPES[arg.type])
            out.set_data_from_numpy(value, binary_data=False)
            outputs.append(out)
        version = "0.9.0" if self.defect == "oldversion" else SPEC["version"]
        return InferResponse(
            response_id=payload.id or f"r{self.calls}",
            model_name=self.name,
            model_version=version,
            infer_outputs=outputs,
        )


def _expire(lifetime: float) -> None:
    time.sleep(lifetime)
    os._exit(0)


if __name__ == "__main__":
    threading.Thread(target=_expire, args=(float(SPEC.get("lifetime_s", 600)),), daemon=True).start()
    names = [None, "skew", "wrongdtype", "crash", "slow", "oldversion"]
    models = [OnnxModel(name or "clean", name) for name in names]
    ModelServer(http_port=SPEC["port"], enable_grpc=False, enable_latency_logging=False).start(models)
