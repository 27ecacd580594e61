"""Benchmark: every layer's tiles at zooms 8–18 through gunicorn, against the same SQL run directly
and, for events, against a naive ST_AsMVT of every row in the tile.

    .venv/bin/python bench/load.py                      # first: loads the city into `minqing_bench`
    .venv/bin/python bench/tiles.py                     # then this, against that database

The viewport is fixed: the 3×3 block of tiles around a point inside the district at each zoom.
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import time
import http.client
import urllib.request
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text  # noqa: E402

from data import migrate  # noqa: E402
from data.db import make_engine  # noqa: E402
from data.settings import Settings  # noqa: E402
from layers import catalogue  # noqa: E402
from layers.tiles import TileAddress, tile_sql  # noqa: E402

ZOOMS = range(8, 19)
REPEAT = 3
NAIVE = text("""SELECT ST_AsMVT(q, 'events', 4096, 'geom') FROM (
  SELECT ST_AsMVTGeom(ST_Transform(e.geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom,
         e.id, e.category, e.status
  FROM event e WHERE e.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)) q""")


def viewport(conn, z: int) -> list[TileAddress]:
    import math

    lon, lat = conn.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid "
        "WHERE level = 'district' AND valid_to IS NULL) d")).one()
    n = 1 << z
    cx = int((lon + 180) / 360 * n)
    cy = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return [TileAddress(z, x, y) for x in (cx - 1, cx, cx + 1) for y in (cy - 1, cy, cy + 1)]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


class Client:
    """One kept-alive connection, as a browser keeps one: a new TCP connection per tile would be
    measuring the handshake, not the server."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str, etag: str | None = None) -> tuple[float, int, bytes, str | None]:
        headers = {"Accept-Encoding": "gzip", **({"If-None-Match": etag} if etag else {})}
        started = time.perf_counter()
        try:
            self.connection.request("GET", path, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.connection.close()  # the server closed an idle keep-alive connection: reconnect, time again
            started = time.perf_counter()
            self.connection.request("GET", path, headers=headers)
            response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return elapsed, response.status, body, response.getheader("ETag")


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer {url} within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="minqing_bench", help="database on the DATABASE_URL server")
    parser.add_argument("--port", type=int, default=5099)
    args = parser.parse_args()

    base = Settings.from_env()
    url = make_url(base.sqlalchemy_url).set(database=args.database).render_as_string(hide_password=False)
    settings = replace(base, database_url=url)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    env = {**os.environ, "DATABASE_URL": url}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen([str(gunicorn), "--bind", f"127.0.0.1:{args.port}", "--workers", "2", "--threads", "4",
                               "--keep-alive", "60", "--log-level", "warning", "mapserver.wsgi:app"], env=env)
    root = f"http://127.0.0.1:{args.port}"
    client = Client(args.port)
    direct = engine.connect()
    try:
        wait_for(root + "/healthz")
        rows = []
        with engine.connect() as conn:
            tiles = {z: viewport(conn, z) for z in ZOOMS}
        for layer in catalogue.all_layers():
            for z in ZOOMS:
                if layer.band(z) is None:
                    continue
                cold, warm, floor, naive, sizes = [], [], [], [], []
                sql = text(tile_sql(layer, z, "commander"))
                for tile in tiles[z]:
                    path = f"/tiles/{layer.id}/{tile.z}/{tile.x}/{tile.y}.pbf"
                    for _ in range(REPEAT):
                        ms, status, body, tag = client.get(path)
                        cold.append(ms)
                        sizes.append(len(body))
                        assert status in (200, 204), (path, status)
                        if tag:
                            warm.append(client.get(path, tag)[0])
                        started = time.perf_counter()
                        direct.execute(sql, {"z": tile.z, "x": tile.x, "y": tile.y}).scalar_one()
                        floor.append((time.perf_counter() - started) * 1000)
                        if layer.id == "events":
                            started = time.perf_counter()
                            naive_body = direct.execute(NAIVE, {"z": tile.z, "x": tile.x, "y": tile.y}).scalar_one()
                            naive.append(((time.perf_counter() - started) * 1000, len(naive_body or b"")))
                rows.append((layer.id, z, pct(cold, 50), pct(cold, 95), pct(floor, 50), pct(floor, 95),
                             pct(warm, 95) if warm else float("nan"), max(sizes), pct(sizes, 95),
                             pct([n[0] for n in naive], 95) if naive else None,
                             max(n[1] for n in naive) if naive else None))
                print(f"{layer.id:14s} z{z:<2d} http p95 {rows[-1][3]:8.1f} ms  sql p95 {rows[-1][5]:8.1f} ms  "
                      f"max {rows[-1][7] / 1024:7.1f} KB", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=10)
        direct.close()
        engine.dispose()

    print("\n## Tile benchmark (city scale, 3×3 tiles around the centre, 3 repeats; milliseconds)\n")
    print("| layer | z | HTTP p50 | HTTP p95 | SQL p50 | SQL p95 | HTTP/SQL p95 | 304 p95 | max KB | p95 KB "
          "| naive p95 | naive max KB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        naive = f"{r[9]:.1f} | {r[10] / 1024:.1f}" if r[9] is not None else "– | –"
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[3] / max(r[5], 0.01):.2f} "
              f"| {r[6]:.1f} | {r[7] / 1024:.1f} | {r[8] / 1024:.1f} | {naive} |")
    biggest = max(rows, key=lambda r: r[7])
    print(f"\nlargest tile: {biggest[0]} z{biggest[1]} {biggest[7] / 1024:.1f} KB (target ≤ 500 KB: "
          f"{'met' if biggest[7] <= 500 * 1024 else 'MISSED'})")
    worst = max(rows, key=lambda r: r[3] / max(r[5], 0.01))
    print(f"worst HTTP/SQL p95: {worst[0]} z{worst[1]} {worst[3] / max(worst[5], 0.01):.2f}× (target ≤ 1.5×)")
    events = [r for r in rows if r[0] == "events" and r[1] <= 12]
    slowest = min(events, key=lambda r: r[9] / max(r[3], 0.01))
    print(f"events z≤12, naive p95 / HTTP p95 at worst: {slowest[9] / max(slowest[3], 0.01):.1f}× at z{slowest[1]} "
          "(target ≥ 5×)")


if __name__ == "__main__":
    main()
