"""What each onnxruntime release can load: the highest opset per domain and the highest IR version.

onnxruntime publishes a compatibility table for its older releases; for every release
from 1.15 on, the rows below were *measured*: each release was installed on its own
and asked to load one-node Identity models importing each opset version (and one per
IR version), exactly the probe `runtime_opset_range` runs on the installed runtime.
Where the two disagree (1.15 accepts ai.onnx 18 and IR 9, its table says 19 and 8)
the measurement wins: it is what a model loading in that release meets.

A test compares the installed onnxruntime with its own row, so a wrong row for the
release under test cannot go unnoticed; a newer release than the table knows is
judged by the installed runtime only (ART002).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version


@dataclass(frozen=True)
class Release:
    version: str  # major.minor (patch releases of one minor load the same opsets)
    max_opset: dict[str, int]  # canonical domain -> highest importable version
    max_ir: int

    @property
    def key(self) -> Version:
        return Version(self.version)


def _row(version: str, onnx: int, ml: int, ir: int) -> Release:
    return Release(version, {"ai.onnx": onnx, "ai.onnx.ml": ml}, ir)


# (release, ai.onnx, ai.onnx.ml, IR). Up to 1.14: onnxruntime's published table; from 1.15: measured.
RELEASES: tuple[Release, ...] = (
    _row("1.0", 11, 2, 6),
    _row("1.1", 11, 2, 6),
    _row("1.2", 11, 2, 6),
    _row("1.3", 12, 2, 7),
    _row("1.4", 12, 2, 7),
    _row("1.5", 12, 2, 7),
    _row("1.6", 13, 2, 7),
    _row("1.7", 13, 2, 7),
    _row("1.8", 14, 2, 7),
    _row("1.9", 15, 2, 8),
    _row("1.10", 15, 2, 8),
    _row("1.11", 16, 2, 8),
    _row("1.12", 17, 3, 8),
    _row("1.13", 17, 3, 8),
    _row("1.14", 18, 3, 8),
    _row("1.15", 18, 3, 9),
    _row("1.16", 19, 3, 9),
    _row("1.17", 20, 4, 9),
    _row("1.18", 21, 5, 10),
    _row("1.19", 21, 5, 10),
    _row("1.20", 21, 5, 10),
    _row("1.21", 22, 5, 10),
    _row("1.22", 22, 5, 10),
    _row("1.23", 23, 5, 11),
    _row("1.24", 25, 5, 13),
    _row("1.25", 26, 5, 13),
    _row("1.26", 26, 5, 13),
    _row("1.27", 26, 5, 13),
    _row("1.28", 26, 5, 13),
    _row("1.29", 26, 5, 13),
    _row("1.30", 26, 5, 13),
    _row("1.31", 26, 5, 13),
    _row("1.32", 28, 5, 14),
)

LATEST = max(RELEASES, key=lambda r: r.key)


def release_of(version: str) -> Release | None:
    """The row for an installed version string such as '1.32.0' or '1.20.1+cpu'."""
    v = Version(version)
    wanted = f"{v.major}.{v.minor}"
    return next((r for r in RELEASES if r.version == wanted), None)


def admitted(specifier: str) -> Iterator[Release]:
    """Known releases a `runtime.version` specifier admits, oldest first.

    A bare version ('1.17' or '1.17.3') means that minor release. Each release is
    represented by every patch of its minor (x.y.0 ... x.y.99), so '>=1.17.3' admits 1.17.
    Raises ValueError for text that is not a version specifier.
    """
    text = specifier.strip()
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        try:
            v = Version(text)
        except Exception as exc:  # noqa: BLE001 - packaging raises InvalidVersion
            raise ValueError(f"{specifier!r} is neither a version nor a version specifier") from exc
        spec = SpecifierSet(f"=={v.major}.{v.minor}.*")
    for release in sorted(RELEASES, key=lambda r: r.key):
        if any(spec.contains(f"{release.version}.{patch}", prereleases=True) for patch in range(100)):
            yield release
