"""Houses, places, things and organizations in an area, a page at a time; residents only as counts."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import Connection, text

from data import small_counts
from data.event_query import Page, grid_scope_clause
from data.selection import AreaSelection, BadSelection, known, many
from data.vocab import HOUSE_KINDS, ORG_KINDS, PERSON_LEVEL_ROLES, PLACE_KINDS, THING_KINDS

MAX_LIMIT = 1_000


@dataclass(frozen=True)
class PinKind:
    table: str
    columns: str  # over alias p (and s for house_residents)
    kinds: tuple[str, ...]
    join: str = ""


PINS = MappingProxyType({
    "houses": PinKind("house", "p.id, p.ref, p.address, p.compound, p.kind, p.floors, "
                               "coalesce(s.households, 0) AS households", tuple(HOUSE_KINDS),
                      "LEFT JOIN house_residents s ON s.house_id = p.id"),
    "places": PinKind("place", "p.id, p.ref, p.name, p.kind, p.is_key, p.address", tuple(PLACE_KINDS)),
    "things": PinKind("thing", "p.id, p.ref, p.name, p.kind, p.in_service", tuple(THING_KINDS)),
    "organizations": PinKind("organization", "p.id, p.ref, p.name, p.kind, p.members", tuple(ORG_KINDS)),
})

PAGE_SQL = """
SELECT {columns}, g.code AS grid, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
FROM {table} p {join} LEFT JOIN grid g ON g.id = p.grid_id
WHERE TRUE {where} {kinds} {scope} {after}
ORDER BY p.id
LIMIT :limit
"""
COUNT_SQL = "SELECT count(*) FROM {table} p WHERE TRUE {where} {kinds} {scope}"

# residents never leave the database as people: sums of the per-house summary, per finest grid
RESIDENT_COUNTS = ("residents", "households", "elderly_alone", "left_behind_children")
SENSITIVE_COUNTS = ("subsistence", "disabled", "floating", "key_persons")
RESIDENTS_SQL = """
SELECT g.code AS grid, g.name, {sums}
FROM house p JOIN house_residents s ON s.house_id = p.id JOIN grid g ON g.id = p.grid_id
WHERE TRUE {where} {scope}
GROUP BY g.code, g.name
ORDER BY g.code
"""
# for roles that may not see people the area only picks grids and every grid is summed whole: else a 1 m box
# around one building, or two nested areas subtracted, would count a grid's few people living alone
WHOLE_GRIDS = " AND p.grid_id IN (SELECT q.grid_id FROM house q WHERE TRUE {where})"


def page(conn: Connection, kind: str, area: AreaSelection, args, scope: tuple[str, ...] | None = None,
         limit: int = 100, cursor: str | None = None) -> Page:
    spec = PINS[kind]
    if not 1 <= limit <= MAX_LIMIT:
        raise BadSelection(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    where, params = area.where("p")
    scope_sql, scope_params = grid_scope_clause(scope, "p")
    params.update(scope_params)
    wanted = known("kind", many(args, "kind"), spec.kinds)
    kinds = ""
    if wanted:
        kinds = " AND p.kind = ANY(:kinds)"
        params["kinds"] = list(wanted)
    after = ""
    if cursor:
        try:
            params["after"] = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        except ValueError:
            raise BadSelection("cursor is not one this API gave out", "cursor") from None
        after = " AND p.id > :after"
    rows = [dict(r._mapping) for r in conn.execute(text(PAGE_SQL.format(
        columns=spec.columns, table=spec.table, join=spec.join, where=where, kinds=kinds, scope=scope_sql,
        after=after)), {**params, "limit": limit + 1})]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = base64.urlsafe_b64encode(str(rows[-1]["id"]).encode()).decode().rstrip("=") if more else None
    count_params = {k: v for k, v in params.items() if k != "after"}
    total = conn.execute(text(COUNT_SQL.format(table=spec.table, where=where, kinds=kinds, scope=scope_sql)),
                         count_params).scalar_one()
    return Page(rows, total, next_cursor)


def residents(conn: Connection, area: AreaSelection, role: str, scope: tuple[str, ...] | None = None) -> dict:
    """Counts per finest grid of the houses in the area; sensitive counts only for person-level roles. For the
    others each grid with a house in the area is counted whole and small counts of sensitive groups (living
    alone, left-behind children) are suppressed, in the rows and in any total one of them is part of."""
    person_level = role in PERSON_LEVEL_ROLES
    columns = RESIDENT_COUNTS + (SENSITIVE_COUNTS if person_level else ())
    sums = ", ".join(f"sum(s.{c})::bigint AS {c}" for c in columns)
    where, params = area.where("p" if person_level else "q")
    if not person_level and where:
        where = WHOLE_GRIDS.format(where=where)
    scope_sql, scope_params = grid_scope_clause(scope, "p")
    rows = [dict(r._mapping) for r in conn.execute(
        text(RESIDENTS_SQL.format(sums=sums, where=where, scope=scope_sql)), {**params, **scope_params})]
    if person_level:
        return {"rows": rows, "total": {c: sum(r[c] for r in rows) for c in columns}}
    rows, total = small_counts.suppress(rows, columns)  # 1-4 living alone in a grid can name them
    return {"rows": rows, "total": total}
