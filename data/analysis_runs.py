"""Stored analysis runs: compute once per (parameters, event data version), reuse until the events change.

The write side takes a connection and does not commit; the caller owns the transaction.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from data import emerging as trends
from data.actors import CaseScope
from data import heat as kde
from data import hotspots as gi
from data.selection import EventSelection

KINDS = ("hotspots", "emerging", "heat")


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    params: dict
    data_version: int
    n_events: int
    computed_at: str
    reused: bool


def event_version(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(sum(version), 0) FROM data_version WHERE name = 'event'")).scalar_one())


def selection_params(selection: EventSelection) -> dict:
    """The part of a selection a stored run names (category, source, period)."""
    return {"category": sorted(selection.category), "source": sorted(selection.source),
            "from": selection.start.isoformat() if selection.start else None,
            "to": selection.end.isoformat() if selection.end else None}


def scope_params(scope: tuple[str, ...] | None) -> dict:
    """What a run records of the scope it was computed over (tiles show it only to that scope): the sorted
    grid codes (None: everything) and, for a department's scope, the department (its cases only)."""
    out = {"scope": sorted(scope) if scope is not None else None}
    if isinstance(scope, CaseScope):
        out["department"] = scope.department_id
    return out


def key_of(kind: str, params: dict) -> str:
    return hashlib.blake2b(json.dumps([kind, params], sort_keys=True).encode(), digest_size=12).hexdigest()


def find(conn: Connection, kind: str, params: dict, version: int) -> Run | None:
    row = conn.execute(text(
        "SELECT id, params, data_version, n_events, computed_at FROM analysis_run WHERE kind = :k "
        "AND params_key = :key AND data_version = :v ORDER BY computed_at DESC, id DESC LIMIT 1"),
        {"k": kind, "key": key_of(kind, params), "v": version}).first()
    return None if row is None else Run(row[0], kind, row[1], row[2], row[3], row[4].isoformat(), True)


def latest(conn: Connection, kind: str) -> int | None:
    return conn.execute(text("SELECT id FROM analysis_run WHERE kind = :k ORDER BY computed_at DESC, id DESC "
                             "LIMIT 1"), {"k": kind}).scalar()


def save(conn: Connection, kind: str, params: dict, version: int, cells: pd.DataFrame, n_events: int,
         seconds: float) -> Run:
    row = conn.execute(text(
        "INSERT INTO analysis_run (kind, params, params_key, data_version, n_events, seconds) "
        "VALUES (:k, CAST(:p AS jsonb), :key, :v, :n, :s) RETURNING id, computed_at"),
        {"k": kind, "p": json.dumps(params), "key": key_of(kind, params), "v": version, "n": n_events,
         "s": seconds}).one()
    if len(cells):
        frame = cells.reindex(columns=["cell", "count", "z", "p", "cls", "trend", "density", "geom"])
        frame["cls"] = frame["cls"].fillna(0).astype(int)
        frame["count"] = frame["count"].fillna(0).astype(float)
        frame["wkb"] = shapely.to_wkb(np.asarray(frame.geom.to_numpy()))
        records = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                   for r in frame.drop(columns="geom").astype(object).where(frame.drop(columns="geom").notna(), None)
                   .to_dict("records")]
        conn.execute(text(
            "INSERT INTO analysis_cell (run_id, cell, count, z, p, cls, trend, density, geom) VALUES "
            "(:run, :cell, :count, :z, :p, :cls, :trend, :density, ST_GeomFromWKB(:wkb, 4326))"),
            [{"run": row[0], **r} for r in records])
    return Run(row[0], kind, params, version, n_events, row[1].isoformat(), False)


def hotspots(conn: Connection, selection: EventSelection, resolution: int = gi.DEFAULT_RESOLUTION,
             permutations: int = gi.DEFAULT_PERMUTATIONS, unit: str = "h3",
             scope: tuple[str, ...] | None = None, refresh: bool = False) -> Run:
    """The stored Gi* run for these parameters and the current events, computed if there is none."""
    params = {**selection_params(selection), "resolution": resolution if unit == "h3" else None,
              "permutations": permutations, "unit": unit, **scope_params(scope)}
    version = event_version(conn)
    if not refresh and (run := find(conn, "hotspots", params, version)):
        return run
    started = time.perf_counter()
    gi.warm()
    result = (gi.hex_hotspots(conn, selection, resolution, permutations, scope) if unit == "h3"
              else gi.grid_hotspots(conn, selection, permutations, scope))
    return save(conn, "hotspots", params, version, result.cells, result.n_events, time.perf_counter() - started)


def emerging(conn: Connection, selection: EventSelection, resolution: int = gi.DEFAULT_RESOLUTION,
             weeks: int = 52, end=None, scope: tuple[str, ...] | None = None) -> Run:
    """Emerging-trend classes per hexagon over `weeks` weeks ending at `end` (default: the newest event)."""
    params = {**selection_params(selection), "resolution": resolution, "weeks": weeks,
              "end": end.isoformat() if end else None, **scope_params(scope)}
    version = event_version(conn)
    if run := find(conn, "emerging", params, version):
        return run
    started = time.perf_counter()
    points = gi.events_xy(conn, selection, scope, with_time=True)
    if points.empty:
        return save(conn, "emerging", params, version, pd.DataFrame(), 0, time.perf_counter() - started)
    end = end or points.reported_at.max()
    cells = gi.to_cells(points.lon.to_numpy(), points.lat.to_numpy(), resolution)
    domain = gi.domain_cells(gi.district(conn, scope), resolution)
    out = trends.emerging(cells, points.reported_at, domain, end, weeks)
    out["geom"] = [gi.hex_polygon(c) for c in out.cell]
    out["cls"] = 0
    return save(conn, "emerging", params, version, out, len(points), time.perf_counter() - started)


def heat(conn: Connection, selection: EventSelection, cell_m: float = kde.DEFAULT_CELL_M,
         bandwidth_m: float = kde.DEFAULT_BANDWIDTH_M, scope: tuple[str, ...] | None = None) -> Run:
    params = {**selection_params(selection), "cell_m": cell_m, "bandwidth_m": bandwidth_m,
              **scope_params(scope)}
    version = event_version(conn)
    if run := find(conn, "heat", params, version):
        return run
    started = time.perf_counter()
    points = gi.events_xy(conn, selection, scope)
    out = kde.surface(points.lon.to_numpy(), points.lat.to_numpy(), cell_m, bandwidth_m)
    return save(conn, "heat", params, version, out, len(points), time.perf_counter() - started)


def cells(conn: Connection, run_id: int) -> list[dict]:
    """A run's cells as JSON-safe dicts (no NaN): cell, count, z, p, cls, trend, density, geometry."""
    rows = conn.execute(text(
        "SELECT cell, count, z, p, cls, trend, density, ST_AsGeoJSON(geom, 7)::json AS geometry "
        "FROM analysis_cell WHERE run_id = :r ORDER BY cell"), {"r": run_id}).mappings()
    return [dict(r) for r in rows]
