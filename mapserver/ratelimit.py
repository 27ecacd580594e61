"""Fixed-window request counters in the `rate_limit` table, so every worker process shares one count."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import Connection, text
from werkzeug.exceptions import TooManyRequests

# One statement, so two requests racing on a bucket can't both see the old count; SET reads the old row.
HIT_SQL = text("""
INSERT INTO rate_limit AS r (bucket, window_start, hits)
VALUES (:bucket, COALESCE(CAST(:now AS timestamptz), now()), 1)
ON CONFLICT (bucket) DO UPDATE SET
    window_start = CASE WHEN r.window_start <= EXCLUDED.window_start - CAST(:window AS interval)
                        THEN EXCLUDED.window_start ELSE r.window_start END,
    hits = CASE WHEN r.window_start <= EXCLUDED.window_start - CAST(:window AS interval)
                THEN 1 ELSE r.hits + 1 END
RETURNING hits, EXTRACT(EPOCH FROM r.window_start + CAST(:window AS interval)
                                   - COALESCE(CAST(:now AS timestamptz), now()))
""")


def hit(conn: Connection, bucket: str, limit: int, window: timedelta, now: datetime | None = None) -> int | None:
    """Count one request in `bucket`: None while within `limit` per `window`, else the seconds to wait."""
    hits, left = conn.execute(HIT_SQL, {"bucket": bucket, "now": now, "window": window}).one()
    return max(1, math.ceil(left)) if hits > limit else None


def purge(conn: Connection, older_than: timedelta, now: datetime | None = None) -> int:
    """Drop buckets whose window ended long ago (the table would otherwise keep one row per client ever seen)."""
    return conn.execute(text(
        "DELETE FROM rate_limit WHERE window_start < COALESCE(CAST(:now AS timestamptz), now()) - :age"),
        {"now": now, "age": older_than}).rowcount


def enforce(conn: Connection, bucket: str, limit: int, window: timedelta, what: str) -> None:
    """Count one request; over the limit it is a 429 whose Retry-After and reason say when to come back."""
    wait = hit(conn, bucket, limit, window)
    if wait:
        raise TooManyRequests(f"at most {limit} {what} per {window.total_seconds() / 60:g} minutes; "
                              f"try again in {wait} s", retry_after=wait)
