"""Event statistics by grid, period, category, department or source — over the same selection as every list.

Counts, open and overdue counts, median and p90 hours to resolve, the share resolved by the deadline
and mean satisfaction; empty groups give NULL, never NaN.
"""
from __future__ import annotations

from types import MappingProxyType

from sqlalchemy import Connection, text

from data.event_query import scope_clause
from data.selection import BadSelection, EventSelection
from data.vocab import LEVEL_DEPTH

CLOSED = "('resolved', 'verified', 'closed', 'rejected')"
PERIODS = ("day", "week", "month")
GROUPS = MappingProxyType({
    "grid": None,  # built from the level
    "period": None,  # built from the period
    "category": "e.category",
    "department": "coalesce(d.code, 'in_grid')",  # no department: handled in the grid (网格自办)
    "source": "e.source",
})

MEASURES = f"""count(*) AS count,
  count(*) FILTER (WHERE e.status NOT IN {CLOSED}) AS open,
  count(*) FILTER (WHERE e.overdue) AS overdue,
  count(*) FILTER (WHERE e.resolved_at IS NOT NULL) AS resolved,
  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.resolved_at - e.reported_at) / 3600)
    FILTER (WHERE e.resolved_at IS NOT NULL))::numeric, 2)::float8 AS median_hours_to_resolve,
  round((percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM e.resolved_at - e.reported_at) / 3600)
    FILTER (WHERE e.resolved_at IS NOT NULL))::numeric, 2)::float8 AS p90_hours_to_resolve,
  round(avg((e.resolved_at <= e.due_at)::int) FILTER (WHERE e.resolved_at IS NOT NULL AND e.due_at IS NOT NULL),
    4)::float8 AS share_resolved_in_time,
  round(avg(e.satisfaction), 3)::float8 AS mean_satisfaction"""

STATS_SQL = """
SELECT coalesce({key}, 'outside') AS key, {measures}
FROM event e
LEFT JOIN grid g ON g.id = e.grid_id  -- events outside every grid are kept (key 'outside'), as in the total
LEFT JOIN department d ON d.id = e.department_id
WHERE TRUE {where} {scope}
GROUP BY 1
ORDER BY 1
"""

TOTAL_SQL = """
SELECT {measures}
FROM event e
LEFT JOIN department d ON d.id = e.department_id
WHERE TRUE {where} {scope}
"""

GRID_NAMES_SQL = text("SELECT code, name FROM grid WHERE valid_to IS NULL AND code = ANY(:codes)")


def _key(by: str, level: str, period: str) -> str:
    if by == "grid":
        if level not in LEVEL_DEPTH:
            raise BadSelection(f"grid_level must be one of {', '.join(LEVEL_DEPTH)}", "grid_level")
        return f"subpath(g.path, 0, least({LEVEL_DEPTH[level]}, nlevel(g.path)))::text"
    if by == "period":
        if period not in PERIODS:
            raise BadSelection(f"period must be one of {', '.join(PERIODS)}", "period")
        # periods start on Beijing days, weeks on Monday
        return f"to_char(date_trunc('{period}', e.reported_at AT TIME ZONE 'Asia/Shanghai'), 'YYYY-MM-DD')"
    if by not in GROUPS:
        raise BadSelection(f"by must be one of {', '.join(GROUPS)}", "by")
    return GROUPS[by]


def event_stats(conn: Connection, selection: EventSelection, by: str = "grid", level: str = "community",
                period: str = "month", scope: tuple[str, ...] | None = None) -> dict:
    """Rows per group and the same measures over the whole selection (group counts add up to its count)."""
    key = _key(by, level, period)
    where, params = selection.where("e")
    scope_sql, scope_params = scope_clause(scope)
    params.update(scope_params)
    rows = [dict(r._mapping) for r in conn.execute(
        text(STATS_SQL.format(key=key, measures=MEASURES, where=where, scope=scope_sql)), params)]
    total = dict(conn.execute(text(TOTAL_SQL.format(measures=MEASURES, where=where, scope=scope_sql)),
                              params).one()._mapping)
    if by == "grid" and rows:
        names = dict(conn.execute(GRID_NAMES_SQL, {"codes": [r["key"] for r in rows]}).all())
        for row in rows:
            row["name"] = names.get(row["key"])
    return {"by": by, **({"grid_level": level} if by == "grid" else {}), **({"period": period} if by == "period" else {}),
            "rows": rows, "total": total}


DEPARTMENT_SQL = """
SELECT d.code, d.name, count(e.id) AS handled,
       count(e.id) FILTER (WHERE e.resolved_at IS NOT NULL) AS resolved,
       avg((e.resolved_at <= e.due_at)::int) FILTER (WHERE e.resolved_at IS NOT NULL) AS share_in_time,
       avg(e.satisfaction) AS reporter_satisfaction,
       (SELECT avg(r.score) FROM department_rating r WHERE r.department_id = d.id) AS grid_rating,
       (SELECT count(*) FROM department_rating r WHERE r.department_id = d.id) AS grid_ratings
FROM department d
LEFT JOIN event e ON (e.department_id = d.id OR d.id = ANY(e.joint_department_ids))
                  AND e.handling_mode IN ('department', 'joint') {scope}
GROUP BY d.id ORDER BY d.code"""


def department_scores(conn: Connection, scope: tuple[str, ...] | None) -> list[dict]:
    """Per department: cases handled, on time, the reporters' satisfaction and the grids' ratings (网格评部门)."""
    where, params = scope_clause(scope)
    rows = conn.execute(text(DEPARTMENT_SQL.format(scope=where)), params).mappings()
    return [{k: (round(float(v), 3) if k in ("share_in_time", "reporter_satisfaction", "grid_rating") and v is not None
                 else v) for k, v in r.items()} for r in rows]
