"""Bulk writes through COPY: the fast path for loaders and the demo city (never row-by-row ORM)."""
from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import shapely
from psycopg.copy import QueuedLibpqWriter

CHUNK_ROWS = 50_000


def ewkb_hex(geoms: np.ndarray, srid: int = 4326) -> np.ndarray:
    """Geometries as hex EWKB, the text form COPY turns into a PostGIS geometry without parsing WKT."""
    with_srid = shapely.set_srid(np.asarray(geoms, dtype=object), srid)
    return shapely.to_wkb(with_srid, hex=True, include_srid=True)


def pg_array(values: Sequence[Sequence[str]]) -> list[str]:
    """Python lists of plain codes as PostgreSQL array literals (codes never contain quotes or commas)."""
    return ["{" + ",".join(v) + "}" for v in values]


def copy_frame(
    cursor,
    table: str,
    frame: pd.DataFrame,
    progress: Callable[[int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """COPY a frame (columns named as in the table) in CSV chunks; returns rows written.

    `table` and the column names come from our own code, never from a user's file.
    """
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
    frame = frame.copy()
    for column in frame.columns:
        frame[column] = _as_text(frame[column])
    written = 0
    # a writer thread feeds the server while this thread formats the next chunk: two cores, both busy
    with cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start:start + chunk_rows]
            buffer = io.StringIO()
            part.to_csv(buffer, header=False, index=False, na_rep="")
            copy.write(buffer.getvalue())
            written += len(part)
            if progress:
                progress(len(part))
    return written


def _as_text(series: pd.Series) -> pd.Series | np.ndarray:
    """Vectorised formatting where pandas' own CSV writer is slow (timestamps: ~6 µs each)."""
    if series.dtype == bool:
        return np.where(series.to_numpy(), "t", "f")
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        values = series.to_numpy("datetime64[us]")
        return np.where(np.isnat(values), "", np.char.add(np.datetime_as_string(values, unit="us"), "+00"))
    return series


def reset_identity(cursor, table: str) -> None:
    """After COPY with explicit ids, move the identity past them so later inserts don't collide."""
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
    )


@contextmanager
def checked_after(cursor, table: str) -> Iterator[None]:
    """For a bulk load into `table`: build its secondary indexes and check its foreign keys once, after.

    Building an index by sorting beats updating it row by row, and re-adding a foreign key validates
    every row in one join instead of one lookup per row. Primary keys, unique and CHECK constraints
    stay, so bad rows still fail as they arrive. All inside the caller's transaction: a failed load
    leaves indexes and constraints exactly as they were.
    """
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", (table,))
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,))
    foreign_keys = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    for name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    yield
    for _, definition in indexes:
        cursor.execute(definition)
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
