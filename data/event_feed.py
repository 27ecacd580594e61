"""The live feed of the case log: which rows a scope may see, and the rows a reconnecting listener missed.

The messages themselves are built in SQL (`event_log_message`, migration 0006) for the NOTIFY trigger
and for `missed` alike. `status`, `overdue`, `grid` and the position are the event's as it is when the
message is built; `from`, `to`, `level` and `at` are the log row's.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from data.actors import CaseScope, within
from data.event_query import scope_clause
from data.selection import BadSelection

CHANNEL = "minqing_log"
REPLAY_LIMIT = 10_000  # beyond this a listener is told to reload instead


@dataclass(frozen=True)
class Missed:
    messages: list[dict]  # oldest first
    more: bool  # more than `limit` rows were missed: the listener should reload
    newest: int  # the newest log id when asked; a listener that reloads resumes from here


def visible(grid: str | None, scope: tuple[str, ...] | None, departments: list[int] | None = None) -> bool:
    """What `scope_clause` decides in SQL, for one message: a grid in one of the scope's subtrees and, for a
    department's scope, the department among the event's `departments`. The messages don't carry those yet
    (event_log_message, migration 0006), so a department gets no live message: it replays from `missed`.
    Events outside every grid are for those who see everything."""
    if scope is None:
        return True
    if isinstance(scope, CaseScope) and scope.department_id not in (departments or ()):
        return False
    return grid is not None and within(grid, scope)


def is_bulk(message: dict) -> bool:
    return message.get("op") == "bulk"


def parse_last_id(value: str | None) -> int | None:
    """A client's `Last-Event-ID`: the last log id it received (None: a fresh listener)."""
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit():
        raise BadSelection("Last-Event-ID must be a log id (a non-negative integer)", "last_event_id")
    return int(value)


def missed(conn: Connection, after: int, scope: tuple[str, ...] | None, limit: int = REPLAY_LIMIT) -> Missed:
    """Log rows after `after` that the scope may see, oldest first, at most `limit`."""
    where, params = scope_clause(scope)
    rows = conn.execute(text(
        "SELECT event_log_message(l) FROM event_log l LEFT JOIN event e ON e.id = l.event_id "
        f"WHERE l.id > :after{where} ORDER BY l.id LIMIT :n"), {"after": after, "n": limit + 1, **params}).scalars()
    messages = list(rows)
    newest = conn.execute(text("SELECT COALESCE(max(id), 0) FROM event_log")).scalar_one()
    return Missed(messages[:limit], len(messages) > limit, newest)
