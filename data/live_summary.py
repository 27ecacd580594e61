"""The command centre's counters at a glance: today's reports, open, overdue, resolved in time, by level,
and the latest reports — all in the caller's scope, for the live map and notebooks alike."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from data.event_query import scope_clause
from data.vocab import HANDLING_LEVELS

CLOSED = "('resolved', 'verified', 'closed', 'rejected')"
TIMEZONE = "Asia/Shanghai"  # "today" is the command centre's day, not UTC's

COUNTERS_SQL = f"""
SELECT count(*) FILTER (WHERE e.reported_at >= date_trunc('day', CAST(:now AS timestamptz) AT TIME ZONE '{TIMEZONE}')
                                              AT TIME ZONE '{TIMEZONE}') AS today,
       count(*) FILTER (WHERE e.status NOT IN {CLOSED}) AS open,
       count(*) FILTER (WHERE e.status NOT IN {CLOSED} AND e.overdue) AS overdue,
       count(*) FILTER (WHERE e.status NOT IN {CLOSED} AND e.is_major) AS major,
       round(avg((e.resolved_at <= e.due_at)::int) FILTER (WHERE e.resolved_at IS NOT NULL AND e.due_at IS NOT NULL),
             4)::float8 AS resolved_in_time
FROM event e
WHERE TRUE {{scope}}
"""

BY_LEVEL_SQL = f"""
SELECT e.level, count(*) AS open, count(*) FILTER (WHERE e.overdue) AS overdue
FROM event e
WHERE e.status NOT IN {CLOSED} {{scope}}
GROUP BY e.level
"""

LATEST_SQL = """
SELECT e.id, e.title, e.category, c.name AS category_name, e.status, e.level, e.overdue, e.is_major,
       g.code AS grid, g.name AS grid_name, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.reported_at
FROM event e
JOIN event_category c ON c.code = e.category
LEFT JOIN grid g ON g.id = e.grid_id
WHERE TRUE {scope}
ORDER BY e.reported_at DESC, e.id DESC
LIMIT :limit
"""


def summary(conn: Connection, scope: tuple[str, ...] | None, now: datetime | None = None, latest: int = 20) -> dict:
    """Counters, open cases by handling level and the `latest` reports of events visible in `scope`."""
    where, params = scope_clause(scope, "e")
    params = {**params, "now": now or datetime.now().astimezone(), "limit": latest}
    counters = dict(conn.execute(text(COUNTERS_SQL.format(scope=where)), params).one()._mapping)
    levels = {r.level: {"open": r.open, "overdue": r.overdue}
              for r in conn.execute(text(BY_LEVEL_SQL.format(scope=where)), params)}
    rows = conn.execute(text(LATEST_SQL.format(scope=where)), params).mappings()
    return {**counters,
            "by_level": {level: levels.get(level, {"open": 0, "overdue": 0}) for level in HANDLING_LEVELS},
            "latest": [{**r, "reported_at": r["reported_at"].isoformat()} for r in rows]}
