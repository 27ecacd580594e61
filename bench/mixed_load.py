"""Benchmark: a mixed command-center / analyst / grid-worker workload against a running `minqing serve`.

    MINQING_DEMO_LOGIN=1 MINQING_EXPORTS_PER_HOUR=1000000 .venv/bin/minqing serve &   # loopback, demo scale
    .venv/bin/python bench/mixed_load.py --seconds 60      # error rate, p50/p95 per endpoint, DB connections
    .venv/bin/python bench/mixed_load.py --soak 600 --server-pid $(pgrep -n -f 'minqing serve')

Loopback only and bounded in time. The soak samples the server's RSS and its database connections
every 10 s: both should stay flat. Reports it files are deleted at the end (bench.forget_events_after).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from data.db import make_engine  # noqa: E402
from data.settings import Settings  # noqa: E402

ROLES = {"commander": 2, "analyst": 2, "worker1": 2}  # threads per account


def credentials(username: str) -> dict[str, str]:
    """The one place a load caller's credential is made (today the demo account header)."""
    return {"X-Demo-User": username}


def workload(role: str, session: requests.Session, base: str, ctx: dict):
    """One request of `role`'s mix: (label, response)."""
    r = random.random()
    if role == "commander":
        if r < 0.4:
            z, x, y = random.choice(ctx["tiles"])
            return "tile", session.get(f"{base}/tiles/events/{z}/{x}/{y}.pbf")
        if r < 0.7:
            return "live summary", session.get(f"{base}/api/live/summary")
        return "overdue list", session.get(f"{base}/api/events", params={"overdue": "true", "limit": 50})
    if role == "analyst":
        if r < 0.4:
            return "stats", session.get(f"{base}/api/stats/events", params={"by": "category",
                                                                           "grid": random.choice(ctx["grids"])})
        if r < 0.9:
            return "event query", session.get(f"{base}/api/events", params={
                "grid": random.choice(ctx["grids"]), "limit": 100})
        return "export", session.get(f"{base}/api/events/export", params={
            "format": "csv", "grid": random.choice(ctx["cells"])})
    if r < 0.3:
        lon, lat = random.choice(ctx["worker_points"])
        return "report", session.post(f"{base}/api/events", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
            "category": random.choice(ctx["categories"]), "description": "bench mixed load",
            "lon": lon, "lat": lat})
    return "case file", session.get(f"{base}/api/events/{random.choice(ctx['worker_events'])}")


def context(engine) -> dict:
    with engine.connect() as conn:
        grids = conn.execute(text("SELECT code FROM grid WHERE valid_to IS NULL AND level IN ('street', "
                                  "'community')")).scalars().all()
        cells = conn.execute(text("SELECT code FROM grid WHERE valid_to IS NULL AND level = 'cell'")).scalars().all()
        # the grid worker reports and reads inside its own cell: elsewhere is a 403/404 by design
        scope = conn.execute(text("SELECT scope::text[] FROM app_user WHERE username = 'worker1'")).scalar_one()
        points = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid WHERE valid_to IS NULL "
            "AND level = 'cell' AND path <@ CAST(:s AS ltree[])) s"), {"s": scope}).all()
        events = conn.execute(text(
            "SELECT e.id FROM event e JOIN grid g ON g.id = e.grid_id WHERE g.path <@ CAST(:s AS ltree[]) "
            "ORDER BY random() LIMIT 2000"), {"s": scope}).scalars().all()
        categories = conn.execute(text("SELECT code FROM event_category")).scalars().all()
        tiles = conn.execute(text(
            "SELECT DISTINCT 14, floor((ST_X(geom) + 180) / 360 * 16384)::int, floor((1 - ln(tan(radians(ST_Y(geom)))"
            " + 1 / cos(radians(ST_Y(geom)))) / pi()) / 2 * 16384)::int FROM event LIMIT 200")).all()
        newest = conn.execute(text("SELECT COALESCE(max(id), 0) FROM event")).scalar_one()
    return {"grids": grids, "cells": cells, "worker_points": points, "worker_events": events, "categories": categories,
            "tiles": [tuple(t) for t in tiles], "newest": newest}


def connections(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'minqing' "
                                 "AND datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of the server and its worker processes (gunicorn forks them), in MB."""
    if not pid:
        return None
    total, pending = 0, [pid]
    while pending:
        p = pending.pop()
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{p}/task").iterdir():
            pending += [int(c) for c in (task / "children").read_text().split()]
    return round(total / 1024, 1)


def run(base: str, seconds: float, engine, server_pid: int | None, sample_every: float) -> None:
    ctx = context(engine)
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    stop = time.monotonic() + seconds
    samples = []

    def user(role: str):
        with requests.Session() as session:
            session.headers.update(credentials(role))
            while time.monotonic() < stop:
                start = time.monotonic()
                try:
                    label, response = workload(role, session, base, ctx)
                    response.content
                    failed = response.status_code >= 400  # every request of the mix is one its caller may make
                except requests.RequestException:
                    label, failed = "connection", True
                timings[label].append(time.monotonic() - start)
                errors[label] += failed

    threads = [threading.Thread(target=user, args=(role,), daemon=True)
               for role, n in ROLES.items() for _ in range(n)]
    for t in threads:
        t.start()
    while time.monotonic() < stop:
        samples.append((round(seconds - (stop - time.monotonic())), rss_mb(server_pid), connections(engine)))
        time.sleep(min(sample_every, max(0.0, stop - time.monotonic())))
    for t in threads:
        t.join(30)
    total = sum(len(v) for v in timings.values())
    print(f"{total} requests in {seconds:.0f} s ({total / seconds:.1f}/s) by {len(threads)} users; "
          f"errors {sum(errors.values())} ({sum(errors.values()) / max(total, 1):.2%})")
    print(f"{'endpoint':<14}{'n':>7}{'err':>6}{'p50 ms':>9}{'p95 ms':>9}")
    for label, values in sorted(timings.items()):
        q = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
        print(f"{label:<14}{len(values):>7}{errors[label]:>6}{statistics.median(values) * 1000:>9.0f}"
              f"{q[18] * 1000:>9.0f}")
    print("t s, server RSS MB, DB connections:", samples)
    with engine.begin() as conn:  # what the workers filed goes; the demo city stays as loaded
        conn.execute(text("DELETE FROM event_log WHERE event_id > :n"), {"n": ctx["newest"]})
        conn.execute(text("DELETE FROM event WHERE id > :n AND description = 'bench mixed load'"),
                     {"n": ctx["newest"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--soak", type=float, help="run this long, sampling RSS and connections every 10 s")
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args()
    if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only")
    engine = make_engine(Settings.from_env())
    try:
        run(args.url.rstrip("/"), args.soak or args.seconds, engine, args.server_pid, 10 if args.soak else 5)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
