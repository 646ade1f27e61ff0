"""The output contract: what each output kind means, the shapes it may take, and what follows from it.

Output kinds (serving.yaml `outputs[].kind`):

- `probabilities`: one column per class (or one positive-class column), rows in [0, 1] summing to 1;
- `logits`: raw class scores; probabilities are their softmax (one column: the sigmoid of the
  positive class's logit) and labels their argmax (one column: logit > 0);
- `score`: an uncalibrated ranking score; labels by argmax (one column: score > 0), no probabilities;
- `label`: the predicted class;
- `regression`: the predicted value.

Shapes: `[N]` or `[N, 1]` for labels and regression; `[N, len(classes)]`, or `[N]`/`[N, 1]` for one
positive-class column, for probabilities, logits and scores. Anything else is an SCH004 finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

KINDS = ("probabilities", "logits", "score", "label", "regression")
CLASS_SCORES = ("probabilities", "logits", "score")  # one value per class (or one positive-class column)
CLASSIFICATION_KINDS = (*CLASS_SCORES, "label")
CLASSIFICATION_TASKS = ("binary_classification", "multiclass_classification")

# ai.onnx.ml operators that carry the model's class labels as attributes.
_CLASSIFIER_OPS = ("TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier")
_LABEL_ATTRS = ("classlabels_ints", "classlabels_int64s", "classlabels_strings")


# --------------------------------------------------------------------------- transforms
def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits; NaN rows stay NaN."""
    x = np.asarray(logits, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = x - np.max(x, axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function in float64, without overflow warnings for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


# --------------------------------------------------------------------------- shapes
def show_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(["N", *(str(d) for d in shape[1:])]) + "]"


def shape_problem(kind: str, value: Any, n_classes: int | None) -> str | None:
    """Why an output of `kind` with this value breaks the shape contract, or None when it fits.

    A ZipMap (a list of dicts, one per row) is a probability output with one key per class.
    """
    if isinstance(value, list):
        if kind != "probabilities":
            return f"is a sequence of maps (a ZipMap), which only a `probabilities` output can be, not `{kind}`"
        width = len(value[0]) if value else 0
        if n_classes is not None and value and width != n_classes:
            return f"maps {width} class(es) per row but {n_classes} classes are declared"
        return None
    arr = np.asarray(value)
    shape = arr.shape
    if kind in ("label", "regression"):
        if arr.ndim == 1 or (arr.ndim == 2 and shape[1] == 1):
            return None
        return f"has shape {show_shape(shape)}; a `{kind}` output must be [N] or [N, 1]"
    if kind in CLASS_SCORES:
        if arr.ndim == 1 or (arr.ndim == 2 and shape[1] == 1):
            if n_classes is not None and n_classes != 2:
                return (
                    f"has one column per row (shape {show_shape(shape)}), which only a binary model's positive "
                    f"class can be, but {n_classes} classes are declared"
                )
            return None
        if arr.ndim == 2 and (n_classes is None or shape[1] == n_classes):
            return None
        if arr.ndim == 2:
            noun = {"probabilities": "probability", "logits": "logit", "score": "score"}[kind]
            return (
                f"has {shape[1]} {noun} columns but {n_classes} classes are declared (shape {show_shape(shape)}); "
                f"a `{kind}` output must be [N, {n_classes}] or [N]/[N, 1] for one positive-class column"
            )
        expected = f"[N, {n_classes}]" if n_classes is not None else "[N, classes]"
        return (
            f"has shape {show_shape(shape)}; a `{kind}` output must be {expected} (one column per class) or [N]/[N, 1]"
        )
    return None


def class_matrix(kind: str, value: Any, classes: Sequence[Any] | None) -> np.ndarray:
    """An (n, k) float64 matrix of per-class values from a shape-valid output (one column -> two, binary).

    For `probabilities` a single column p becomes [1 - p, p]; for `logits` and `score` a single
    column s becomes [0, s] (so argmax is s > 0 and the softmax is the sigmoid of s).
    """
    if isinstance(value, list):
        keys = list(classes) if classes else (list(value[0].keys()) if value else [])
        return np.array([[row.get(k, np.nan) for k in keys] for row in value], dtype=np.float64).reshape(len(value), -1)
    arr = np.asarray(value, dtype=np.float64)
    arr = arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)
    if arr.shape[1] == 1:
        col = arr[:, 0]
        other = 1.0 - col if kind == "probabilities" else np.zeros_like(col)
        arr = np.stack([other, col], axis=1)
    return arr


def probabilities_from(kind: str, matrix: np.ndarray) -> np.ndarray | None:
    """Probabilities a `kind` output stands for: itself, the softmax of logits, none for a score."""
    if kind == "probabilities":
        return matrix
    if kind == "logits":
        return softmax(matrix)
    return None


def argmax_labels(matrix: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Labels by argmax, typed like `classes` where possible."""
    labels = np.asarray(list(classes), dtype=object)[np.argmax(matrix, axis=1)]
    try:
        return labels.astype(np.asarray(list(classes)).dtype)
    except (TypeError, ValueError):
        return labels


def nonfinite_rows(*arrays: Any) -> np.ndarray | None:
    """A boolean mask of rows where any of the numeric `arrays` holds NaN or inf (None when none is numeric)."""
    mask = None
    for arr in arrays:
        if arr is None:
            continue
        values = np.asarray(arr)
        if values.dtype.kind not in "fc" or values.ndim == 0:
            continue
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        mask = bad if mask is None else (mask | bad)
    return mask


# --------------------------------------------------------------------------- the task
def kind_contradicts_task(kind: str, task: str | None) -> str | None:
    """Why an output `kind` cannot serve `task`, or None."""
    if task in CLASSIFICATION_TASKS and kind == "regression":
        return f"kind `regression` on a {task.replace('_', ' ')} task (logits? declare `kind: logits` with classes)"
    if task == "regression" and kind in CLASSIFICATION_KINDS:
        return f"kind `{kind}` on a regression task (a regression output is `kind: regression`)"
    return None


# --------------------------------------------------------------------------- the model's own class labels
def model_class_labels(proto: Any) -> list[Any] | None:
    """The class labels the graph itself states, in its order: the keys of a ZipMap, else the
    `classlabels_*` attribute shared by its classifier operators (TreeEnsembleClassifier,
    LinearClassifier, SVMClassifier). None when the graph states none, or when its classifier
    operators disagree (one-vs-rest ensembles hold one binary classifier per class)."""
    from onnx import helper

    def labels_of(node: Any) -> list[Any] | None:
        for attr in node.attribute:
            if attr.name in _LABEL_ATTRS:
                values = helper.get_attribute_value(attr)
                found = [v.decode("utf-8", "replace") if isinstance(v, bytes) else int(v) for v in values]
                if found:
                    return found
        return None

    zipmaps = [labels_of(n) for n in proto.graph.node if n.op_type == "ZipMap"]
    if zipmaps and zipmaps[-1] is not None:
        return zipmaps[-1]
    found = [labels_of(n) for n in proto.graph.node if n.op_type in _CLASSIFIER_OPS]
    found = [labels for labels in found if labels is not None]
    if not found or any(labels != found[0] for labels in found[1:]):
        return None
    return found[0]


def same_labels(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Class lists equal in order, comparing as text (the manifest's 1 is the graph's int64 1)."""
    return [str(x) for x in a] == [str(x) for x in b]


# --------------------------------------------------------------------------- proposing a kind (readiness init)
_LOGIT_NAMES = ("logit",)
_SCORE_NAMES = ("score", "decision", "margin", "raw")


def propose_kind(
    name: str,
    current: str,
    *,
    task: str | None,
    sample: np.ndarray | None = None,
) -> tuple[str, str]:
    """The kind `readiness init` writes for an output, and why.

    `current` is the kind guessed from the output's name and type alone. On a classification task a
    float output guessed `regression` (or `score`) is re-read: a name saying logits -> `logits`, a
    name saying score/decision/margin -> `score`; otherwise the values on the data sample decide:
    rows in [0, 1] summing to 1 -> `probabilities`, else -> `logits`.
    """
    lowered = name.lower()
    if task not in CLASSIFICATION_TASKS or current not in ("regression", "score"):
        return current, "guessed from the output's name and type"
    if any(word in lowered for word in _LOGIT_NAMES):
        return "logits", f"a float output named {name!r} on a classification task"
    if any(word in lowered for word in _SCORE_NAMES):
        return "score", f"a float output named {name!r} on a classification task"
    if sample is not None and sample.size and np.asarray(sample).dtype.kind == "f":
        matrix = np.asarray(sample, dtype=np.float64)
        matrix = matrix.reshape(len(matrix), -1)
        if not np.isfinite(matrix).all():
            return "logits", "a float output on a classification task (non-finite values on the sample)"
        in_unit = bool(((matrix >= -1e-6) & (matrix <= 1 + 1e-6)).all())
        if matrix.shape[1] > 1 and in_unit and bool(np.allclose(matrix.sum(axis=1), 1.0, atol=1e-4)):
            return "probabilities", "a float output on a classification task whose rows sum to 1 on the sample"
        if matrix.shape[1] == 1 and in_unit:
            return "probabilities", "a float output in [0, 1] on a binary task: the positive class's probability"
        return "logits", "a float output on a classification task whose values are not probabilities on the sample"
    return "logits", "a float output on a classification task"
