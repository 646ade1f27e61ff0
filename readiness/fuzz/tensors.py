"""Per-row tensor values kept as recipes (fill, literal or seeded random), and their JSON and Python spelling.

A column holding one tensor per request row is fuzzed element-wise; `TensorValue` stands for such a
tensor so that the evidence and the reproduce line stay short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import runtime as rt
from .. import vocabulary

FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # smallest positive normal float32, 1.1754944e-38
STRING_EDGES = ("", "x" * 1000, "naïve 漢字 🙂")  # empty, long, non-ASCII
FLOAT_LARGE = 1e6  # the large magnitude tried for float tensors (half the dtype's range for float16)
LITERAL_MAX = 64  # a typical tensor of at most this many elements is the sample row's own cell
MAX_BATCH_ELEMENTS = 2_000_000  # tensor elements per batch of random rows


@dataclass(frozen=True)
class TensorValue:
    """One request row's tensor, kept as the recipe that builds it, so evidence and the reproduce line
    stay short: every element `fill`, a small `literal`, or seeded uniform values in `random`
    ((seed, low, high), or (seed, choices) for strings); `poke` sets element 0 afterwards."""

    shape: tuple[int, ...]
    dtype: str
    fill: Any = None
    literal: Any = None
    random: tuple[Any, ...] | None = None
    poke: tuple[Any] | None = None

    def array(self) -> np.ndarray:
        dtype = rt.numpy_dtype("string" if self.dtype == "object" else self.dtype)
        if self.random is not None:
            arr = _random_array(self.random, self.shape, self.dtype)
        elif self.literal is not None:
            arr = np.array(self.literal, dtype=dtype).reshape(self.shape)
        else:
            arr = np.full(self.shape, self.fill, dtype=dtype)
        if self.poke is not None:
            arr = arr.copy()
            arr.flat[0] = self.poke[0]
        return arr

    def __jsonable__(self) -> dict[str, Any]:
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """Shape, dtype and the edge value (or min and max), never the elements."""
        out: dict[str, Any] = {"shape": list(self.shape), "dtype": self.dtype}
        if self.random is None and self.literal is None:
            out["every_element"] = jsonable(self.fill)
        else:
            if self.random is not None:
                out["random"] = {"seed": self.random[0], "range": jsonable(list(self.random[1:]))}
            arr = self.array()
            if arr.dtype != object and arr.size:
                out["min"], out["max"] = jsonable(arr.min()), jsonable(arr.max())
        if self.poke is not None:
            out["element_0"] = jsonable(self.poke[0])
        return _short_strings(out)

    def code(self, var: str, shape: tuple[int, ...]) -> list[str]:
        """Python statements that build this tensor (with `shape`, e.g. a batch axis added) as `var`."""
        dtype = "object" if self.dtype == "object" else self.dtype
        if self.random is not None:
            expr = _random_expr(self.random, shape, dtype)
        elif self.literal is not None:
            expr = f"np.array({_literal(self.literal)}, dtype={dtype!r}).reshape({shape!r})"
        else:
            expr = f"np.full({shape!r}, {_literal(self.fill)}, dtype={dtype!r})"
        out = [f"{var} = {expr}"]
        if self.poke is not None:
            out.append(f"{var}.flat[0] = {_literal(self.poke[0])}")
        return out

    @property
    def where(self) -> str:
        return "element 0" if self.poke is not None else "every element"


def _random_array(recipe: tuple[Any, ...], shape: tuple[int, ...], dtype: str) -> np.ndarray:
    gen = np.random.default_rng(recipe[0])
    if dtype == "object":
        return np.array(recipe[1], dtype=object)[gen.integers(0, len(recipe[1]), shape)]
    if dtype == "bool":
        return gen.integers(0, 2, shape).astype(bool)
    if np.dtype(dtype).kind in "iu":
        return gen.integers(int(recipe[1]), int(recipe[2]), shape, endpoint=True).astype(dtype)
    return gen.uniform(recipe[1], recipe[2], shape).astype(dtype)


def _random_expr(recipe: tuple[Any, ...], shape: tuple[int, ...], dtype: str) -> str:
    gen = f"np.random.default_rng({recipe[0]})"
    if dtype == "object":
        return f"np.array({_literal(list(recipe[1]))}, dtype=object)[{gen}.integers(0, {len(recipe[1])}, {shape!r})]"
    if dtype == "bool":
        return f"{gen}.integers(0, 2, {shape!r}).astype(bool)"
    if np.dtype(dtype).kind in "iu":
        return f"{gen}.integers({int(recipe[1])}, {int(recipe[2])}, {shape!r}, endpoint=True).astype({dtype!r})"
    return f"{gen}.uniform({recipe[1]!r}, {recipe[2]!r}, {shape!r}).astype({dtype!r})"


def _short_strings(value: Any) -> Any:
    """Long strings in evidence as 'xxxx... (1000 chars)'."""
    if isinstance(value, dict):
        return {k: _short_strings(v) for k, v in value.items()}
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:10]}... ({len(value)} chars)"
    return value


@dataclass
class TensorSpec:
    """The tensor one request row holds in a column: its shape and dtype, and the range of the elements
    of the rows the model is fed (synthesised from the graph's inputs)."""

    shape: tuple[int, ...]
    dtype: str  # numpy dtype name; "object" for strings
    element: str  # float | int | bool | string
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def edges(self) -> list[Any]:
        """Edge values of the dtype: zero, the smallest positive float32 both signs and a large magnitude
        (floats); 0, 1, -1 and the synthesiser's bounds within the dtype (integers); both booleans;
        the empty, a long and a non-ASCII string."""
        if self.element == "bool":
            return [False, True]
        if self.element == "string":
            return list(STRING_EDGES)
        if self.element == "float":
            large = min(FLOAT_LARGE, float(np.finfo(self.dtype).max) / 2)
            tiny = FLOAT32_TINY if np.dtype(self.dtype).itemsize >= 4 else float(np.finfo(self.dtype).tiny)
            return [0.0, tiny, -tiny, large, -large]
        if self.element == "int":
            info = np.iinfo(self.dtype)
            candidates = [0, 1, -1] + [int(v) for v in (self.low, self.high) if v is not None]
            out: list[Any] = []
            for v in candidates:
                if info.min <= v <= info.max and v not in out:
                    out.append(v)
            return out
        return []

    def filled(self, value: Any) -> TensorValue:
        return TensorValue(self.shape, self.dtype, fill=value)

    def random_value(self, seed: int) -> TensorValue:
        if self.element == "string":
            return TensorValue(self.shape, self.dtype, random=(seed, self.choices or ("value",)))
        low = self.low if self.low is not None else -1.0
        high = self.high if self.high is not None else 1.0
        return TensorValue(self.shape, self.dtype, random=(seed, low, high))


def jsonable(value: Any) -> Any:
    """A JSON-safe copy (`readiness.vocabulary.jsonable`); a TensorValue reads as its summary."""
    return vocabulary.jsonable(value)


def _literal(value: Any) -> str:
    """A Python literal for a JSON-safe value, with non-finite floats spelled float('NaN')."""
    text = repr(jsonable(value))
    for name in (vocabulary.NAN, vocabulary.POS_INF, vocabulary.NEG_INF):
        text = text.replace(f"'{name}'", f"float('{name}')")
    return text.replace(repr(STRING_EDGES[1]), f"{STRING_EDGES[1][0]!r} * {len(STRING_EDGES[1])}")
