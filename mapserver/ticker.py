"""The server runs `tick` itself every `tick_seconds`, so deadlines pass even when nobody runs cron."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import text

from data import workflow
from mapserver import ratelimit

log = logging.getLogger(__name__)
TICK_LOCK = 7260102  # one ticking process at a time across gunicorn workers (concurrent ticks are safe, just idle)


def tick_once(engine) -> workflow.TickResult | None:
    with engine.begin() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": TICK_LOCK}).scalar():
            return None
        result = workflow.tick(conn)
        ratelimit.purge(conn, timedelta(days=1))
    if result.overdue:
        log.info("tick: %d events overdue, %d escalated", result.overdue, result.escalated)
    return result


def init_app(app: Flask) -> None:
    seconds = app.extensions["minqing.settings"].tick_seconds
    if seconds <= 0 or app.testing:
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            try:
                tick_once(app.extensions["minqing.engine"])
            except Exception:  # a database restart must not kill the loop
                log.exception("tick failed; retrying in %d s", seconds)

    threading.Thread(target=loop, name="minqing-tick", daemon=True).start()
    app.extensions["minqing.ticker"] = stop
