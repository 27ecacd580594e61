"""Benchmark: sustained event reports per second through the API (gunicorn), with grid assignment,
logging and NOTIFY; the same reports filed directly (the floor); and `tick` over the city's events.

    .venv/bin/python bench/load.py                      # first: loads the city into `minqing_bench`
    .venv/bin/python bench/intake.py                    # then this, against that database

Targets (issue 5): ≥ 300 reports/s through the API, and tick over 1 M events ≤ 10 s. The reports
this run files are deleted afterwards and the tick runs are rolled back, so runs are repeatable.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402

from bench.tiles import pct, wait_for  # noqa: E402
from data import migrate, workflow  # noqa: E402
from data.actors import Actor  # noqa: E402
from data.db import make_engine  # noqa: E402
from data import api_tokens  # noqa: E402
from data.intake import NewReport, submit  # noqa: E402
from data.settings import Settings  # noqa: E402

CATEGORIES = ["noise", "environment", "dispute", "property", "safety_hazard", "public_order"]


def places(conn, n: int) -> list[tuple[float, float]]:
    """Report positions: house points, so reports land where people live."""
    return [tuple(r) for r in conn.execute(text(
        "SELECT ST_X(geom), ST_Y(geom) FROM house TABLESAMPLE SYSTEM (10) LIMIT :n"), {"n": n}).all()]


def post_reports(port: int, spots, seconds: float, threads: int, token: str) -> tuple[int, list[float], int]:
    """Reports from `threads` phones for `seconds`: (reports filed, latencies ms, failures)."""
    latencies: list[float] = []
    failures = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def phone(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while time.monotonic() < stop:
            lon, lat = rng.choice(spots)
            body = json.dumps({"category": rng.choice(CATEGORIES), "description": "压测上报：楼道堆物",
                               "lon": lon + rng.uniform(-2e-4, 2e-4), "lat": lat + rng.uniform(-2e-4, 2e-4)})
            started = time.perf_counter()
            conn.request("POST", "/api/events", body=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}",
                "Idempotency-Key": uuid.uuid4().hex})
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 201:
                failures[0] += 1
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=phone, args=(i,)) for i in range(threads)]
    [w.start() for w in workers]
    [w.join() for w in workers]
    return len(latencies) - failures[0], latencies, failures[0]


def count_notifications(url: str, box: list, ready: threading.Event, stop: threading.Event) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN minqing_events")
        ready.set()
        while not stop.is_set():
            for _ in conn.notifies(timeout=0.5):
                box[0] += 1


def direct_reports(engine, spots, seconds: float) -> float:
    """The floor: the same submit() in one process, one transaction per report, no HTTP."""
    rng = random.Random(7)
    actor = Actor("worker1", "grid_worker", ())
    n, stop = 0, time.monotonic() + seconds
    started = time.perf_counter()
    while time.monotonic() < stop:
        lon, lat = rng.choice(spots)
        with engine.begin() as conn:
            submit(conn, NewReport(rng.choice(CATEGORIES), "压测上报：直连", lon, lat), actor=actor,
                   idempotency_key=uuid.uuid4().hex)
        n += 1
    return n / (time.perf_counter() - started)


def timed_tick(engine, now: datetime, keep: bool) -> tuple[float, workflow.TickResult]:
    """One tick at `now`; committed (as the server would) or rolled back so the city is unchanged."""
    with engine.connect() as conn:
        tx = conn.begin()
        started = time.perf_counter()
        result = workflow.tick(conn, now)
        elapsed = time.perf_counter() - started
        tx.commit() if keep else tx.rollback()
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="minqing_bench", help="database on the DATABASE_URL server")
    parser.add_argument("--port", type=int, default=5098)
    parser.add_argument("--seconds", type=float, default=20, help="length of each sustained run")
    parser.add_argument("--phones", type=int, default=8, help="concurrent reporting clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()

    base = Settings.from_env()
    url = make_url(base.sqlalchemy_url).set(database=args.database).render_as_string(hide_password=False)
    engine = make_engine(replace(base, database_url=url, statement_timeout_ms=0))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        spots = places(conn, 5000)
        before = conn.execute(text("SELECT max(id) FROM event")).scalar_one()
        total = conn.execute(text("SELECT count(*) FROM event")).scalar_one()
    with engine.begin() as conn:  # the city-wide admin: a grid worker may report only inside their own cell
        token = api_tokens.issue(conn, "admin", timedelta(hours=1), label="bench/intake.py")
    env = {**os.environ, "DATABASE_URL": url, "MINQING_TICK_SECONDS": "0",
           "MINQING_POOL_SIZE": str(max(5, args.phones))}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen([str(gunicorn), "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.workers),
                               "--threads", "4", "--keep-alive", "60", "--log-level", "warning",
                               "mapserver.wsgi:app"], env=env)
    notified, ready, stop = [0], threading.Event(), threading.Event()
    listener = threading.Thread(target=count_notifications, args=(url.replace("+psycopg", ""), notified, ready, stop))
    try:
        wait_for(f"http://127.0.0.1:{args.port}/healthz")
        listener.start()
        ready.wait(10)
        post_reports(args.port, spots, 2, args.phones, token)  # warm-up: connections, plans, caches
        notified[0] = 0
        n, latencies, failed = post_reports(args.port, spots, args.seconds, args.phones, token)
        time.sleep(1)
        api_rate = n / args.seconds
        print(f"API intake: {api_rate:.0f} reports/s sustained over {args.seconds:.0f} s with {args.phones} phones, "
              f"{args.workers} gunicorn workers (target ≥ 300/s); p50 {pct(latencies, 50):.1f} ms, "
              f"p95 {pct(latencies, 95):.1f} ms; {failed} failed; {notified[0]} NOTIFY messages for {n} reports")
        floor = direct_reports(engine, spots, args.seconds / 2)
        print(f"floor, submit() directly (1 connection, no HTTP): {floor:.0f} reports/s; API/floor = "
              f"{api_rate / floor:.2f}")
        now = datetime.now(timezone.utc)
        for label, when, keep in (("now (catching up, committed)", now, True),
                                  ("now, again (steady state: idempotent)", now, False),
                                  ("30 days on (every open event due; rolled back)", now + timedelta(days=30), False)):
            elapsed, result = timed_tick(engine, when, keep)
            print(f"tick over {total:,} events at {label}: {elapsed:.2f} s "
                  f"({result.overdue} newly overdue, {result.escalated} escalated; target ≤ 10 s)")
    finally:
        stop.set()
        server.terminate()
        server.wait(10)
        forget_events_after(engine, before)


def forget_events_after(engine, before: int) -> None:
    """Delete the reports a run filed (ids above `before`), so runs are repeatable."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE event SET possible_duplicate_of = NULL WHERE possible_duplicate_of > :b"),
                     {"b": before})
        conn.execute(text("DELETE FROM event_log WHERE event_id > :b"), {"b": before})
        conn.execute(text("DELETE FROM event WHERE id > :b"), {"b": before})


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main()
