"""Benchmark: analysts' queries, statistics and exports at city scale, through the app (in process).

    .venv/bin/python bench/load.py        # first: the city in `minqing_bench`
    .venv/bin/python bench/queries.py

Each area query carries a one-month filter; each is repeated 20 times (p50/p95). Exports are timed
and their peak Python memory traced at two sizes, to show it stays flat in the number of rows.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shapely  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402

from data.settings import Settings  # noqa: E402
from mapserver import create_app  # noqa: E402

REPEAT = 20
MONTH = {"from": "2026-06-01", "to": "2026-06-30T23:59:59"}


def timed(call, repeat: int = REPEAT) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    q = statistics.quantiles(times, n=20, method="inclusive")
    return statistics.median(times), q[18], result


def export(client, query: dict) -> tuple[int, float, float]:
    """(rows, seconds, peak MiB of Python allocations while streaming)."""
    tracemalloc.start()
    started = time.perf_counter()
    response = client.get("/api/events/export", query_string={**query, "format": "csv"}, buffered=False)
    rows = -1  # the header line
    for chunk in response.response:
        rows += chunk.count(b"\n")
    response.close()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return rows, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="minqing_bench")
    args = parser.parse_args()
    base = Settings.from_env()
    url = make_url(base.sqlalchemy_url).set(database=args.database).render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, statement_timeout_ms=0), {"MINQING_DEMO_LOGIN": True})
    client = app.test_client()
    engine = app.extensions["minqing.engine"]
    with engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid "
                                     "WHERE level = 'district' AND valid_to IS NULL) d")).one()
        community = conn.execute(text("SELECT g.code FROM grid g JOIN grid c ON c.path <@ g.path AND "
                                      "c.valid_to IS NULL AND c.level = 'cell' WHERE g.level = 'community' AND "
                                      "g.valid_to IS NULL AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:x, :y), "
                                      "4326)) LIMIT 1"), {"x": lon, "y": lat}).scalar_one()
    dlat = 500 / 111_320
    dlon = 500 / (111_320 * math.cos(math.radians(lat)))
    square = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)  # ~1 km²
    cases = {
        "drawn polygon ~1 km²": lambda: client.post("/api/events/search", json={
            "geometry": shapely.geometry.mapping(square), **MONTH}),
        f"community grid {community}": lambda: client.get("/api/events", query_string={"grid": community, **MONTH}),
        "radius 500 m": lambda: client.get("/api/events", query_string={"near": f"{lon},{lat}", "radius": 500,
                                                                        **MONTH}),
        "bbox ~2 km × 2 km": lambda: client.get("/api/events", query_string={
            "bbox": f"{lon - 2 * dlon},{lat - 2 * dlat},{lon + 2 * dlon},{lat + 2 * dlat}", **MONTH}),
        "stats: every cell, a year": lambda: client.get("/api/stats/events", query_string={
            "by": "grid", "grid_level": "cell", "from": "2025-11-01", "to": "2026-10-31T23:59:59"}),
    }
    print("\n## Query benchmark (city scale: 1 M events; in-process through the Flask app; milliseconds)\n")
    print("| query | p50 | p95 | rows matched |")
    print("|---|---:|---:|---:|")
    polygon_p50 = None
    for name, call in cases.items():
        call()  # warm: plans, caches
        p50, p95, response = timed(call)
        body = response.get_json()
        assert response.status_code == 200, body
        matched = body.get("total") if "total" in body and isinstance(body["total"], int) else body["total"]["count"]
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {matched:,} |")
        polygon_p50 = polygon_p50 or p50
    print(f"\ndrawn polygon p50 {polygon_p50:.1f} ms (target ≤ 30 ms: {'met' if polygon_p50 <= 30 else 'MISSED'})\n")

    print("| export (CSV, streamed) | rows | seconds | rows/s | peak Python memory MiB |")
    print("|---|---:|---:|---:|---:|")
    for label, query in (("~10k rows", {"from": "2026-10-28", "to": "2026-10-31T23:59:59"}),
                         ("~100k rows", {"from": "2026-09-25", "to": "2026-10-31T23:59:59"})):
        rows, seconds, peak = export(client, query)
        print(f"| {label} | {rows:,} | {seconds:.1f} | {rows / seconds:,.0f} | {peak:.1f} |")


if __name__ == "__main__":
    main()
