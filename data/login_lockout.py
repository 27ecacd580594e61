"""Failed logins per username: five wrong passwords in a quarter hour lock the name for a quarter hour."""
from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import Connection, text

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)  # failures older than this are forgotten
LOCK = timedelta(minutes=15)


def hold(conn: Connection, username: str) -> bool:
    """Take this name's check for the caller's transaction, or False if another request is checking it now:
    one guess in flight per name, so parallel requests cannot all read "not locked" before any failure counts."""
    return conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended('login:' || :u, 0))"),
                        {"u": username}).scalar_one()


def seconds_locked(conn: Connection, username: str) -> int:
    """How long this name stays locked (0: not locked); checked before the password, so a locked name
    answers the same whether or not the guess was right."""
    left = conn.execute(text("SELECT extract(epoch FROM locked_until - now()) FROM login_failure "
                             "WHERE username = :u AND locked_until > now()"), {"u": username}).scalar()
    return 0 if left is None else max(1, math.ceil(left))


def record_failure(conn: Connection, username: str, max_failures: int = MAX_FAILURES,
                   window: timedelta = WINDOW, lock: timedelta = LOCK) -> int:
    """Count one failure (unknown names too, so lockout reveals nothing); returns seconds locked, or 0."""
    locked = conn.execute(text("""
INSERT INTO login_failure AS f (username, failures, first_at) VALUES (:u, 1, now())
ON CONFLICT (username) DO UPDATE SET
  failures = CASE WHEN f.first_at < now() - :window THEN 1 ELSE f.failures + 1 END,
  first_at = CASE WHEN f.first_at < now() - :window THEN now() ELSE f.first_at END
RETURNING failures >= :max"""), {"u": username, "window": window, "max": max_failures}).scalar_one()
    if not locked:
        return 0
    conn.execute(text("UPDATE login_failure SET locked_until = now() + :lock, failures = 0, first_at = now() "
                      "WHERE username = :u"), {"u": username, "lock": lock})
    return math.ceil(lock.total_seconds())


def clear(conn: Connection, username: str) -> None:
    conn.execute(text("DELETE FROM login_failure WHERE username = :u"), {"u": username})
