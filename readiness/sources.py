"""What kind of source model (`[model].source`) a bundle holds, and whether it is safe to load.

Classification is static: nothing here deserialises a model. Loading lives with
the checks that need it and must call `assert_loadable` first.
"""

from __future__ import annotations

from pathlib import Path

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")

# Exact type names a .skops file may instantiate without --trust, beyond skops' own defaults
# (skops already trusts scikit-learn's estimators and plain containers). Each is a class
# whose state is data (arrays, numbers); none is a function, and no module is trusted as a
# whole: `builtins.eval`, `numpy.load` or any other callable named by a file is refused.
# Reviewed for scikit-learn 1.4-1.7; a type moved by a newer release is refused by name (SEC002
# says which), and the fix is to review it and add it here.
SKOPS_ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
    }
)
# A .skops file is a zip archive: bounded before skops reads it (a small file can unpack to gigabytes).
MAX_SKOPS_UNPACKED = 1024**3  # 1 GiB in total
MAX_SKOPS_MEMBERS = 20_000
MAX_SKOPS_SCHEMA = 64 * 1024**2  # schema.json


def source_kind(path: Path) -> str:
    """One of: skops, xgboost, lightgbm, pickle, onnx, unknown."""
    suffix = path.suffix.lower()
    name = path.name.lower()
    if suffix == ".skops":
        return "skops"
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if suffix == ".ubj" or (suffix == ".json" and "lgb" not in name):
        return "xgboost"
    if suffix == ".txt":
        return "lightgbm"
    if suffix == ".onnx":
        return "onnx"
    return "unknown"


class UnsafeSource(Exception):
    """Loading the source would execute code the user has not trusted (or exhaust memory)."""


class ArchiveTooLarge(UnsafeSource):
    """A .skops archive is over the size or member limits (refused before anything is read)."""


def check_skops_archive(path: Path) -> None:
    """Refuse a .skops archive whose declared unpacked size or member count is over the limits.

    Reads only the zip's central directory; zipfile never inflates a member past its declared size.
    """
    import zipfile

    with zipfile.ZipFile(path) as archive:  # a corrupt file raises zipfile.BadZipFile: the caller reports it
        members = archive.infolist()
    if len(members) > MAX_SKOPS_MEMBERS:
        raise ArchiveTooLarge(
            f"{path.name} holds {len(members):,} archive members, over the limit of {MAX_SKOPS_MEMBERS:,}"
        )
    total = sum(m.file_size for m in members)
    if total > MAX_SKOPS_UNPACKED:
        raise ArchiveTooLarge(
            f"{path.name} unpacks to {total:,} bytes, over the limit of {MAX_SKOPS_UNPACKED:,} (1 GiB)"
        )
    schema = next((m for m in members if m.filename == "schema.json"), None)
    if schema is not None and schema.file_size > MAX_SKOPS_SCHEMA:
        raise ArchiveTooLarge(f"{path.name}: schema.json is {schema.file_size:,} bytes, over {MAX_SKOPS_SCHEMA:,}")


def describe_types(names: list[str], limit: int = 10) -> str:
    """Type names from a file for a message: at most LIMIT of them, each cut to 120 characters."""
    from .parsing import clip

    shown = ", ".join(clip(n, 120) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def skops_untrusted_types(path: Path) -> tuple[list[str], list[str]]:
    """(allowed, refused) type names a .skops file needs beyond skops' own defaults.

    `allowed` are on the reviewed allow-list (`SKOPS_ALLOWED_TYPES`, exact names); anything
    else is refused unless the person running readiness passes --trust. The archive's
    size is checked first (`ArchiveTooLarge`).
    """
    import skops.io as sio

    check_skops_archive(path)
    needed = sio.get_untrusted_types(file=path)
    allowed = sorted(t for t in needed if t in SKOPS_ALLOWED_TYPES)
    refused = sorted(t for t in needed if t not in SKOPS_ALLOWED_TYPES)
    return allowed, refused


def assert_loadable(path: Path, trust: bool) -> None:
    """Raise UnsafeSource unless `path` can be loaded without running untrusted code."""
    kind = source_kind(path)
    if kind == "skops":
        check_skops_archive(path)  # a memory bomb is refused even with --trust
    if trust:
        return
    if kind == "pickle":
        raise UnsafeSource(
            f"{path.name} is a pickle; loading it can run arbitrary code. Pass --trust only if you trust its author, or save it with skops"
        )
    if kind == "skops":
        _, refused = skops_untrusted_types(path)
        if refused:
            raise UnsafeSource(
                f"{path.name} needs type(s) that are not on the reviewed allow-list: {describe_types(refused)}; "
                "pass --trust to allow them"
            )
