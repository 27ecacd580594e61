"""Benchmark: the command center's live map through gunicorn, at `demo` scale.

    make demo                                    # the demo city in `minqing`
    .venv/bin/python bench/live.py               # then this (about 6 minutes; --hold 60 for a quick look)

Measures (issue 6): report → visible latency over 100 reports, on the stream and on the page (targets
p95 ≤ 1 s); time to the first rendered map (target ≤ 2 s); 50 stream clients held for --hold seconds
while reports keep arriving, sampling the server's memory and database connections (target: no
growth). Reports it files are deleted afterwards.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text  # noqa: E402

from bench.intake import forget_events_after  # noqa: E402
from bench.tiles import pct, wait_for  # noqa: E402
from data import migrate  # noqa: E402
from data.db import make_engine  # noqa: E402
from data.settings import Settings  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


class StreamClient(threading.Thread):
    """One viewer: holds /stream open and notes when each report's message arrives."""

    def __init__(self, port: int, user: str = "commander"):
        super().__init__(daemon=True)
        self.port, self.user = port, user
        self.seen: dict[int, float] = {}
        self.messages = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            self._read()
        except OSError:  # the server went away or the bench is over
            pass

    def _read(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)  # keep-alives come every 15 s
        conn.request("GET", "/stream", headers={"X-Demo-User": self.user, "Accept": "text/event-stream"})
        response = conn.getresponse()
        data = []
        while not self.stopped.is_set():
            line = response.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                message = json.loads("\n".join(data))
                data = []
                self.messages += 1
                if message.get("action") == "transition" and message.get("to") == "reported":
                    self.seen.setdefault(message["event_id"], time.perf_counter())
        conn.close()


def post_report(port: int, lon: float, lat: float) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"category": "noise", "description": "实时压测：广场舞噪音", "lon": lon, "lat": lat})
    started = time.perf_counter()
    conn.request("POST", "/api/events", body=body, headers={
        "Content-Type": "application/json", "X-Demo-User": "worker1", "Idempotency-Key": uuid.uuid4().hex})
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    if response.status != 201:
        raise SystemExit(f"report refused: {response.status} {payload}")
    return payload["id"], started


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *map(int, out)]


def stream_latency(port: int, spots, n: int) -> list[float]:
    viewer = StreamClient(port)
    viewer.start()
    time.sleep(1)
    sent = {}
    for i in range(n):
        lon, lat = spots[i % len(spots)]
        event_id, started = post_report(port, lon, lat)
        sent[event_id] = started
        time.sleep(0.05)
    time.sleep(1)
    viewer.stopped.set()
    return [(viewer.seen[e] - t) * 1000 for e, t in sent.items() if e in viewer.seen]


def page_figures(root: str, port: int, spots, n: int) -> tuple[float, list[float]]:
    """(ms to the first rendered map, report → visible on the page latencies in ms)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        started = time.perf_counter()
        page.goto(root + "/")
        page.wait_for_function("""() => [...document.querySelectorAll('.leaflet-pane canvas, .leaflet-pane svg path')]
            .some(el => el.tagName !== 'CANVAS' || (() => { const c = el.getContext('2d');
              const d = c.getImageData(0, 0, el.width, el.height).data;
              for (let i = 3; i < d.length; i += 16) if (d[i] > 0) return true; return false; })())""",
                               timeout=30_000)
        first_map = (time.perf_counter() - started) * 1000
        page.wait_for_timeout(1500)
        latencies = []
        for i in range(n):
            lon, lat = spots[(i * 7) % len(spots)]
            event_id, sent = post_report(port, lon, lat)
            page.wait_for_function(f"() => document.body.innerText.includes('{event_id}') || "
                                   f"!!document.querySelector('[data-event-id=\"{event_id}\"]')", timeout=10_000)
            latencies.append((time.perf_counter() - sent) * 1000)
        browser.close()
    return first_map, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="minqing", help="database on the DATABASE_URL server (demo scale)")
    parser.add_argument("--port", type=int, default=5097)
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--hold", type=int, default=300, help="seconds the viewers stay connected")
    parser.add_argument("--no-page", action="store_true", help="skip the browser measurements")
    args = parser.parse_args()

    base = Settings.from_env()
    url = make_url(base.sqlalchemy_url).set(database=args.database).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=url, statement_timeout_ms=0))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        spots = [tuple(r) for r in conn.execute(text(
            "SELECT ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM grid g "
            "WHERE g.level = 'cell' AND g.valid_to IS NULL ORDER BY g.code LIMIT 50")).all()]
        before = conn.execute(text("SELECT max(id) FROM event")).scalar_one()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{args.port}", "--workers", "2", "--worker-class", "gthread",
         "--threads", "64", "--keep-alive", "60", "--graceful-timeout", "5", "--log-level", "warning",
         "mapserver.wsgi:app"], env={**os.environ, "DATABASE_URL": url, "MINQING_TICK_SECONDS": "0"})
    root = f"http://127.0.0.1:{args.port}"
    try:
        wait_for(root + "/healthz")
        latencies = stream_latency(args.port, spots, args.reports)
        print(f"report → on the stream: p50 {pct(latencies, 50):.0f} ms, p95 {pct(latencies, 95):.0f} ms over "
              f"{len(latencies)} of {args.reports} reports (target p95 ≤ 1000 ms)", flush=True)
        if not args.no_page:
            first_map, on_page = page_figures(root, args.port, spots, min(args.reports, 100))
            print(f"first rendered map at demo scale: {first_map:.0f} ms (target ≤ 2000 ms)", flush=True)
            print(f"report → visible on the page: p50 {pct(on_page, 50):.0f} ms, p95 {pct(on_page, 95):.0f} ms "
                  f"over {len(on_page)} reports (target p95 ≤ 1000 ms)", flush=True)
        viewers = [StreamClient(args.port) for _ in range(args.viewers)]
        [v.start() for v in viewers]
        time.sleep(3)
        pids = children(server.pid)
        samples = []
        stop_at = time.monotonic() + args.hold
        i = 0
        while time.monotonic() < stop_at:
            post_report(args.port, *spots[i % len(spots)])
            i += 1
            if i % 20 == 1:
                with engine.connect() as conn:
                    db_conns = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                                            {"d": args.database}).scalar_one()
                samples.append((time.monotonic(), rss_kb(pids), db_conns))
            time.sleep(0.5)
        alive = sum(v.is_alive() for v in viewers)
        delivered = min(v.messages for v in viewers)
        [v.stopped.set() for v in viewers]
        first, last = samples[0], samples[-1]
        print(f"{args.viewers} stream clients held {args.hold} s ({alive} still connected, each received ≥ "
              f"{delivered} messages for {i} reports): server memory {first[1] / 1024:.0f} → {last[1] / 1024:.0f} MiB, "
              f"database connections {first[2]} → {last[2]} (max {max(s[2] for s in samples)})", flush=True)
    finally:
        server.terminate()
        server.wait(15)
        forget_events_after(engine, before)


if __name__ == "__main__":
    main()
