"""Events matching a selection, a page at a time, with a cursor that stays put when events arrive."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import orjson
from sqlalchemy import Connection, text

from data.actors import CaseScope
from data.selection import BadSelection, EventSelection

MAX_LIMIT = 1_000
# sort name -> (column, direction); ties always broken by id in the same direction (keyset pagination)
SORTS = MappingProxyType({
    "-reported_at": ("reported_at", "DESC"), "reported_at": ("reported_at", "ASC"),
    "-due_at": ("due_at", "DESC"), "due_at": ("due_at", "ASC"),
    "-id": ("id", "DESC"), "id": ("id", "ASC"),
})

COLUMNS = """e.id, e.ref, e.title, e.category, e.source, e.status, e.level, e.priority, e.is_major, e.overdue,
  d.code AS department, e.reported_at, e.due_at, e.resolved_at, e.closed_at, e.satisfaction,
  g.code AS grid, r.code AS reported_grid, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat"""

FROM_EVENTS = """FROM event e
LEFT JOIN department d ON d.id = e.department_id
LEFT JOIN grid g ON g.id = e.grid_id
LEFT JOIN grid r ON r.id = e.reported_grid_id"""

PAGE_SQL = """
SELECT {columns}
""" + FROM_EVENTS + """
WHERE TRUE {where} {scope} {after}
ORDER BY e.{column} {direction} NULLS LAST, e.id {direction}
LIMIT :limit
"""

COUNT_SQL = "SELECT count(*) FROM event e WHERE TRUE {where} {scope}"


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    total: int
    next_cursor: str | None


def grid_scope_clause(scope: tuple[str, ...] | None, alias: str) -> tuple[str, dict]:
    """None: everything; otherwise only rows (pins, houses) whose grid lies in one of the scope's subtrees."""
    if scope is None:
        return "", {}
    return (f" AND EXISTS (SELECT 1 FROM grid sc WHERE sc.id = {alias}.grid_id AND sc.path <@ CAST(:scope AS ltree[]))",
            {"scope": list(scope)})


def scope_clause(scope: tuple[str, ...] | None, e: str = "e") -> tuple[str, dict]:
    """The events a scope may read: in its grids' subtrees and, for a department's scope (`CaseScope`), only
    the cases dispatched to that department, alone or jointly (a NULL department sees none)."""
    sql, params = grid_scope_clause(scope, e)
    if isinstance(scope, CaseScope):
        sql += f" AND ({e}.department_id = :scope_department OR :scope_department = ANY({e}.joint_department_ids))"
        params["scope_department"] = scope.department_id
    return sql, params


def _encode(sort: str, key, event_id: int) -> str:
    value = key.isoformat() if isinstance(key, datetime) else key
    return base64.urlsafe_b64encode(json.dumps([sort, value, event_id]).encode()).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> tuple[object, int]:
    """The last row of the previous page; anything this API did not give out is a 400, never a 500."""
    try:
        cursor_sort, value, event_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if cursor_sort != sort or type(event_id) is not int:
            raise ValueError("cursor for another sort")
        if SORTS[sort][0] == "id":
            if type(value) is not int:
                raise ValueError("id cursor")
        elif value is not None:
            value = datetime.fromisoformat(value)
    except (ValueError, TypeError, KeyError):
        raise BadSelection("cursor is not one this API gave out for this sort", "cursor") from None
    return value, event_id


def page(conn: Connection, selection: EventSelection, scope: tuple[str, ...] | None = None,
         sort: str = "-reported_at", limit: int = 100, cursor: str | None = None, with_total: bool = True) -> Page:
    if sort not in SORTS:
        raise BadSelection(f"sort must be one of {', '.join(SORTS)}", "sort")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadSelection(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    column, direction = SORTS[sort]
    where, params = selection.where("e")
    scope_sql, scope_params = scope_clause(scope)
    params.update(scope_params)
    after = ""
    if cursor:
        key, last_id = _decode(cursor, sort)
        op = "<" if direction == "DESC" else ">"
        if key is None:  # already among the NULLS LAST tail
            after = f" AND e.{column} IS NULL AND e.id {op} :c_id"
        else:
            after = (f" AND (e.{column} {op} :c_key OR (e.{column} = :c_key AND e.id {op} :c_id) "
                     f"OR e.{column} IS NULL)")
            params["c_key"] = key
        params["c_id"] = last_id
    sql = PAGE_SQL.format(columns=COLUMNS, where=where, scope=scope_sql, after=after, column=column,
                          direction=direction)
    rows = [dict(r._mapping) for r in conn.execute(text(sql), {**params, "limit": limit + 1})]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(sort, rows[-1][column], rows[-1]["id"]) if more else None
    total = -1
    if with_total:
        count_params = {k: v for k, v in params.items() if not k.startswith("c_")}
        total = conn.execute(text(COUNT_SQL.format(where=where, scope=scope_sql)), count_params).scalar_one()
    return Page(rows, total, next_cursor)


STREAM_SQL = """
SELECT {columns}
""" + FROM_EVENTS + """
WHERE TRUE {where} {scope}
ORDER BY e.id
"""


def stream(conn: Connection, selection: EventSelection, scope: tuple[str, ...] | None = None,
           chunk: int = 5_000):
    """Every matching event as a dict, read through a server-side cursor `chunk` rows at a time."""
    where, params = selection.where("e")
    scope_sql, scope_params = scope_clause(scope)
    result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
        text(STREAM_SQL.format(columns=COLUMNS, where=where, scope=scope_sql)), {**params, **scope_params})
    for row in result:
        yield dict(row._mapping)
