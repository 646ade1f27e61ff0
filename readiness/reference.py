"""Reference data of any size: a bounded frame in memory, and every row streamed in chunks.

A Parquet file, or a directory of Parquet files, is opened as a pyarrow dataset. When it holds
at most `[data].sample_rows` rows (50,000 by default) it is read whole, as a CSV file always is.
Past that, the frame in memory is a seeded uniform sample of `sample_rows` rows (the same rows
on every run), which the checks that look at rows one by one read (drift, perturbations,
parity, schema inference...), while the checks that judge the whole data (quality metrics,
slices, schema validation) stream every row, chunk by chunk, through `Reference.batches()` and
merge per-chunk statistics (`readiness.chunked`). Peak memory is then set by `sample_rows` and
the chunk size, not by the number of rows.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SAMPLE_ROWS = 50_000
CHUNK_ROWS = 16_384  # rows per chunk: more gains no speed, and peak memory grows with it
READ_BUFFER_BYTES = 64 * 1024  # per column: pages stream from the file instead of whole column chunks
PARQUET_SUFFIXES = (".parquet", ".pq")
# the sample's seed is fixed (not the run's --seed): the same data always gives the same sample
SAMPLE_SEED = zlib.crc32(b"readiness reference sample")


@dataclass
class Reference:
    """The reference data of a bundle.

    `frame` is what fits in memory: every row, or (`sampled`) a seeded uniform sample of them in
    file order. `rows` counts every row. `batches()` yields every row in chunks, in a fixed order,
    each chunk's index numbering rows across the whole data (0 .. rows - 1).
    """

    path: Path
    rows: int
    frame: pd.DataFrame
    files: list[Path] = field(default_factory=list)  # the Parquet files, in reading order (empty: in memory)
    columns: list[str] = field(default_factory=list)
    file_rows: list[int] = field(default_factory=list)  # rows of each file, read from its footer when opened

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.rows

    def batches(self, columns: Sequence[str] | None = None, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """Every row, `chunk_rows` at a time (only `columns` when given), in the same order on every call."""
        if not self.files:
            frame = self.frame if columns is None else self.frame[list(columns)]
            for start in range(0, len(frame), chunk_rows):
                yield frame.iloc[start : start + chunk_rows]
            return
        for part in self.parts():
            yield from file_batches(part, columns, chunk_rows)

    def parts(self) -> list[Part]:
        """The data in parts that can be read apart (one per Parquet file, in reading order; one for rows in memory)."""
        if not self.files:
            return [Part(None, 0)]
        offsets = [0, *itertools.accumulate(self.file_rows)]
        return [Part(file, offset) for file, offset in zip(self.files, offsets, strict=False)]

    def part_batches(
        self, part: Part, columns: Sequence[str] | None = None, chunk_rows: int = CHUNK_ROWS
    ) -> Iterator[pd.DataFrame]:
        """One part's rows in chunks, numbered as `batches()` numbers them."""
        if part.file is None:
            yield from self.batches(columns, chunk_rows)
        else:
            yield from file_batches(part, columns, chunk_rows)

    def describe(self) -> str:
        """How the rows in memory relate to the whole, for a message."""
        if not self.sampled:
            return f"{self.rows} rows"
        return f"a seeded sample of {len(self.frame)} of {self.rows} rows"


@dataclass(frozen=True)
class Part:
    """A part of the reference data read on its own: a Parquet file (None: the rows in memory), and
    the number of the part's first row across the whole data."""

    file: Path | None
    offset: int


def file_batches(
    part: Part, columns: Sequence[str] | None = None, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """The rows of one Parquet file in chunks, each chunk's index numbering rows across the whole data."""
    assert part.file is not None
    offset = part.offset
    for batch in _record_batches([part.file], columns, chunk_rows):
        chunk = batch.to_pandas()
        chunk.index = np.arange(offset, offset + len(chunk))
        offset += len(chunk)
        yield chunk


def is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a file or a directory (recursively; names starting with '.' or '_' are
    skipped, as Spark and pyarrow write metadata there), sorted so that every run reads the same order."""
    if not path.is_dir():
        return [path]
    found = []
    for item in sorted(path.rglob("*")):
        parts = item.relative_to(path).parts
        if any(p.startswith((".", "_")) for p in parts):
            continue
        if item.is_file() and item.suffix.lower() in PARQUET_SUFFIXES:
            found.append(item)
    return found


def open_parquet(path: Path, files: list[Path], sample_rows: int) -> Reference:
    """Open Parquet data: read whole when small, else sample `sample_rows` rows (seeded) in one streaming pass.

    Raises ValueError with a message naming the file when the files disagree on their columns."""
    import pyarrow.parquet as pq

    if not files:
        raise ValueError("the directory holds no .parquet file")
    schema = None
    file_rows = []
    for file in files:
        meta = pq.ParquetFile(file)
        file_schema = meta.schema_arrow
        if schema is None:
            schema = file_schema
        elif not file_schema.equals(schema):
            raise ValueError(
                f"{file.name} has columns/types {_names(file_schema)}, but {files[0].name} has {_names(schema)}"
            )
        file_rows.append(meta.metadata.num_rows)
    rows = sum(file_rows)
    assert schema is not None
    columns = [str(c) for c in schema.names]
    if rows <= sample_rows:
        import pyarrow as pa

        table = pa.concat_tables([pq.read_table(f) for f in files]) if len(files) > 1 else pq.read_table(files[0])
        frame = table.to_pandas()
        return Reference(path=path, rows=rows, frame=frame, files=[], columns=columns)
    frame = _sample(files, rows, sample_rows)
    return Reference(path=path, rows=rows, frame=frame, files=list(files), columns=columns, file_rows=file_rows)


def in_memory(path: Path, frame: pd.DataFrame) -> Reference:
    return Reference(path=path, rows=len(frame), frame=frame, files=[], columns=[str(c) for c in frame.columns])


def _names(schema: Any) -> str:
    shown = [f"{name}:{schema.field(name).type}" for name in schema.names[:6]]
    return "[" + ", ".join(shown) + (", ..." if len(schema.names) > 6 else "") + "]"


def _record_batches(files: Sequence[Path], columns: Sequence[str] | None, chunk_rows: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    for file in files:
        # pages are read and decoded as the batches are (no pre-buffering, a small read buffer per
        # column): memory follows the chunk, not the row group. Without `buffer_size` pyarrow reads
        # each column chunk of a row group whole, and writers default to row groups of 1Mi rows:
        # 2M rows written by pandas peaked at 322 MiB of Arrow memory that way, 73 MiB this way.
        reader = pq.ParquetFile(file, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
        yield from reader.iter_batches(
            batch_size=chunk_rows, columns=None if columns is None else list(columns), use_threads=False
        )


def _sample(files: Sequence[Path], rows: int, size: int) -> pd.DataFrame:
    """A uniform sample of `size` of the `rows` rows, without replacement, in file order, read in one pass."""
    import pyarrow as pa

    rng = np.random.default_rng(SAMPLE_SEED)
    wanted = np.sort(rng.choice(rows, size=size, replace=False))
    parts = []
    offset = 0
    for batch in _record_batches(files, None, CHUNK_ROWS):
        lo, hi = np.searchsorted(wanted, [offset, offset + batch.num_rows])
        if hi > lo:
            parts.append(batch.take(pa.array(wanted[lo:hi] - offset)))
        offset += batch.num_rows
    return pa.Table.from_batches(parts).to_pandas()  # a plain 0..size-1 index, as a frame read whole has
