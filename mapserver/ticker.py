"""The server runs `tick` itself every `tick_seconds`, so deadlines pass even when nobody runs cron."""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import text

from data import retention, workflow
from mapserver import ratelimit

log = logging.getLogger(__name__)
TICK_LOCK = 7260102  # one ticking process at a time across gunicorn workers (concurrent ticks are safe, just idle)
PURGE_EVERY_S = 3600  # retention is counted in days; an hourly sweep of finished cases is plenty


def _as_the_ticker(engine, work):
    """`work(conn)` in a transaction, unless another process holds the ticker's lock (then None)."""
    with engine.begin() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": TICK_LOCK}).scalar():
            return None
        return work(conn)


def tick_once(engine) -> workflow.TickResult | None:
    def work(conn):
        ratelimit.purge(conn, timedelta(days=1))
        return workflow.tick(conn)

    result = _as_the_ticker(engine, work)
    if result is not None and result.overdue:
        log.info("tick: %d events overdue, %d escalated", result.overdue, result.escalated)
    return result


def purge_once(engine, days: int) -> int | None:
    """Forget reporters of cases finished more than `days` ago, so retention holds without a cron job."""
    purged = _as_the_ticker(engine, lambda conn: retention.purge_contacts(conn, days))
    if purged:
        log.info("retention: reporters' contacts purged from %d cases finished over %d days ago", purged, days)
    return purged


def init_app(app: Flask) -> None:
    seconds = app.extensions["minqing.settings"].tick_seconds
    if seconds <= 0 or app.testing:
        return
    stop = threading.Event()

    def loop() -> None:
        purged_at = 0.0
        while not stop.wait(seconds):
            try:
                tick_once(app.extensions["minqing.engine"])
                if time.monotonic() - purged_at >= PURGE_EVERY_S:
                    purge_once(app.extensions["minqing.engine"],
                               app.extensions["minqing.settings"].contact_retention_days)
                    purged_at = time.monotonic()
            except Exception:  # a database restart must not kill the loop
                log.exception("tick failed; retrying in %d s", seconds)

    threading.Thread(target=loop, name="minqing-tick", daemon=True).start()
    app.extensions["minqing.ticker"] = stop
