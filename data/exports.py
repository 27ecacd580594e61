"""Event exports as GeoJSON (RFC 7946), CSV with lon/lat, or GeoPackage — written in chunks, so a
million rows never sit in memory at once."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Iterable, Iterator

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from data.selection import EventSelection

FORMATS = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8",
           "gpkg": "application/geopackage+sqlite3"}
CHUNK = 5_000
BEIJING = timezone(timedelta(hours=8))


def _text(value) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def geojson(rows: Iterable[dict]) -> Iterator[bytes]:
    """A FeatureCollection, one feature per line (lon/lat WGS 84, as RFC 7946 requires)."""
    yield b'{"type":"FeatureCollection","features":[\n'
    first = True
    for row in rows:
        lon, lat = row.pop("lon"), row.pop("lat")
        feature = {"type": "Feature", "id": row["id"], "geometry": {"type": "Point", "coordinates": [lon, lat]},
                   "properties": {k: _text(v) for k, v in row.items()}}
        yield (b"" if first else b",\n") + json.dumps(feature, ensure_ascii=False).encode()
        first = False
    yield b"\n]}\n"


def csv_rows(rows: Iterable[dict]) -> Iterator[bytes]:
    """UTF-8 with a BOM so spreadsheet software in Chinese locales reads the titles right."""
    buffer = io.StringIO()
    writer = None
    yield "\ufeff".encode()
    for n, row in enumerate(rows, start=1):
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({k: _text(v) for k, v in row.items()})
        if n % 1_000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if writer is None:
        yield b"id\r\n"
    yield buffer.getvalue().encode()


def write_geopackage(rows: Iterable[dict], layer: str = "events") -> str:
    """A GeoPackage is a SQLite file, so it is built on disk a chunk at a time; returns its path."""
    handle, path = tempfile.mkstemp(suffix=".gpkg")
    os.close(handle)
    os.unlink(path)
    try:
        batch, written = [], False
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                _append(path, batch, layer, written)
                batch, written = [], True
        if batch or not written:
            _append(path, batch, layer, written)
    except BaseException:
        if os.path.exists(path):
            os.unlink(path)
        raise
    return path


def spooled(fmt: str, rows: Iterable[dict]) -> BinaryIO:
    """The whole export in an unnamed temporary file, at its start: the rows' connection is free before a
    slow client reads, and the file is gone once closed, sent or not."""
    if fmt == "gpkg":
        path = write_geopackage(rows)
        stored = open(path, "rb")
        os.unlink(path)
        return stored
    stored = tempfile.TemporaryFile()
    try:
        for chunk in WRITERS[fmt](rows):
            stored.write(chunk)
    except BaseException:
        stored.close()
        raise
    stored.seek(0)
    return stored


def stream_file(path: str) -> Iterator[bytes]:
    """The file in 1 MiB blocks, removed once sent (or abandoned)."""
    try:
        with open(path, "rb") as stored:
            while block := stored.read(1 << 20):
                yield block
    finally:
        os.unlink(path)


def geopackage(rows: Iterable[dict], layer: str = "events") -> Iterator[bytes]:
    yield from stream_file(write_geopackage(rows, layer))


def _append(path: str, batch: list[dict], layer: str, append: bool) -> None:
    frame = pd.DataFrame(batch)
    if frame.empty:
        frame = pd.DataFrame({"id": pd.Series(dtype="int64"), "lon": [], "lat": []})
    geometry = shapely.points(frame.pop("lon").to_numpy(float), frame.pop("lat").to_numpy(float))
    frame = gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype) or frame[column].map(
                lambda v: isinstance(v, datetime)).any():
            frame[column] = frame[column].map(lambda v: _text(v) if v is not None and v == v else None)
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", geometry_type="Point", append=append)


def file_name(selection: EventSelection, fmt: str, now: datetime | None = None) -> str:
    """Says what the file holds: the grids, the period, the kinds, and when it was made."""
    now = now or datetime.now(timezone.utc)
    parts = ["events"]
    parts += list(selection.grids)[:3] or ["all-grids"]
    if selection.start or selection.end:
        day = lambda t: f"{t.astimezone(BEIJING):%Y-%m-%d}"  # noqa: E731 — the dates people asked for
        parts.append(f"{day(selection.start) if selection.start else 'start'}"
                     f"_to_{day(selection.end) if selection.end else 'now'}")
    parts += list(selection.category)[:3] + list(selection.status)[:3]
    if selection.area is not None:
        parts.append("drawn-area")
    parts.append(f"made-{now:%Y%m%dT%H%M}")
    safe = "_".join(p.replace("/", "-").replace(" ", "-") for p in parts)
    return f"{safe}.{fmt}"


WRITERS = {"geojson": geojson, "csv": csv_rows, "gpkg": geopackage}
