"""What an edit would move: per grid, the pins that change grid and the households after, in SQL.

The proposed shapes stand in for the changed grids' leaf pieces; the rest of the map keeps its own
pieces, and the assignment rule is the database's (covering leaf, smallest code on a shared edge).
"""
from __future__ import annotations

import shapely
import shapely.errors
from sqlalchemy import Connection, text

from data.grid_edit_checks import Problem
from data.vocab import OPEN_STATUSES

COUNTS = ("houses", "households", "residents", "places", "things", "organizations", "open_events")
TABLES = {"house": "houses", "place": "places", "thing": "things", "organization": "organizations",
          "event": "open_events"}

MOVED_SQL = """
WITH proposed AS (
  SELECT code COLLATE "C" AS code, ST_Subdivide(ST_SetSRID(ST_GeomFromWKB(wkb), 4326), 64) AS geom
  FROM unnest(CAST(:codes AS text[]), CAST(:wkb AS bytea[])) AS t(code, wkb)),
area AS (  -- only pins where old and new shapes differ can change grid (see changed_area)
  SELECT ST_Subdivide(ST_SetSRID(ST_GeomFromWKB(:area), 4326), 64) AS geom),
cand AS (
  SELECT DISTINCT p.id FROM {t} p JOIN area a ON p.geom && a.geom AND ST_Intersects(a.geom, p.geom)),
moved AS (
  SELECT p.id, og.code AS old_code,
         (SELECT x.code FROM (
            SELECT q.code FROM proposed q WHERE q.geom && p.geom AND ST_Covers(q.geom, p.geom)
            UNION ALL
            SELECT l.code FROM grid_leaf_piece l
            WHERE l.geom && p.geom AND ST_Covers(l.geom, p.geom) AND l.grid_id <> ALL(:old_ids)) x
          ORDER BY x.code COLLATE "C" LIMIT 1) AS new_code
  FROM cand c JOIN {t} p ON p.id = c.id LEFT JOIN grid og ON og.id = p.grid_id
  WHERE {where})
SELECT * FROM moved WHERE old_code IS DISTINCT FROM new_code
"""

HOUSE_SQL = """
SELECT m.old_code, m.new_code, count(DISTINCT m.id) AS houses, count(DISTINCT hh.id) AS households,
       count(pe.id) AS residents
FROM ({moved}) m LEFT JOIN household hh ON hh.house_id = m.id LEFT JOIN person pe ON pe.household_id = hh.id
GROUP BY 1, 2
"""

BEFORE_SQL = text("""
SELECT g.code, (SELECT count(*) FROM household hh JOIN house h ON h.id = hh.house_id WHERE h.grid_id = g.id) AS hh,
       (SELECT count(*) FROM staff s WHERE s.grid_code = g.code AND s.role = 'worker' AND s.active) AS workers
FROM grid g WHERE g.id = ANY(:ids)
""")


def moved_pins(conn: Connection, table: str, codes: list[str], shapes: list, old_ids: list[int],
               area: bytes) -> list:
    """(id, old_code, new_code) of every pin of `table` whose grid the proposed shapes would change."""
    where = f"p.status IN ({', '.join(repr(s) for s in sorted(OPEN_STATUSES))})" if table == "event" else "true"
    sql = MOVED_SQL.format(t=table, where=where)
    return conn.execute(text(sql), {"codes": codes, "wkb": [shapely.to_wkb(s) for s in shapes],
                                    "old_ids": old_ids, "area": area}).all()


def changed_area(plan) -> bytes:
    """Where old and new shapes differ (changed: their symmetric difference; new: all of it; retired: all of
    it), widened by ~1 cm so pins on an edge are looked at: a pin elsewhere keeps its grid. An edge move
    then looks at the pins along the edge, not at every pin of the grids it touches."""
    parts = []
    for label, new in plan.shapes.items():
        row = plan.current.get(plan.codes[label])
        parts.append(new if row is None else _difference(shapely.from_wkb(bytes(row["wkb"])), new))
    kept = set(plan.codes.values())
    parts += [shapely.from_wkb(bytes(r["wkb"])) for code, r in plan.current.items() if code not in kept]
    return shapely.to_wkb(shapely.buffer(shapely.union_all(parts), 1e-7))


def _difference(old, new):
    """Where one grid's old and new shapes differ; both shapes whole if GEOS cannot overlay them (a superset)."""
    try:
        return shapely.symmetric_difference(old, new)
    except shapely.errors.GEOSException:
        return shapely.union_all([old, new])


def _params(plan) -> tuple[list[str], list, list[int]]:
    labels = list(plan.shapes)
    return [plan.codes[k] for k in labels], [plan.shapes[k] for k in labels], [r["id"] for r in plan.current.values()]


def moves(conn: Connection, plan, edit, band: tuple[int, int]) -> list[dict]:
    """Preview rows per grid of the edit (docs/grid_edits.md), adding band warnings to `plan.problems`."""
    codes, shapes, old_ids = _params(plan)
    area = changed_area(plan)
    flows: dict[tuple, dict] = {}
    wkb = [shapely.to_wkb(s) for s in shapes]
    for table, name in TABLES.items():
        if table == "house":
            moved = MOVED_SQL.format(t="house", where="true")
            rows = conn.execute(text(HOUSE_SQL.format(moved=moved)),
                                {"codes": codes, "wkb": wkb, "old_ids": old_ids, "area": area}).mappings().all()
            for r in rows:
                flow = flows.setdefault((r["old_code"], r["new_code"]), dict.fromkeys(COUNTS, 0))
                for k in ("houses", "households", "residents"):
                    flow[k] += r[k]
            continue
        for _, old, new in moved_pins(conn, table, codes, shapes, old_ids, area):
            flows.setdefault((old, new), dict.fromkeys(COUNTS, 0))[name] += 1
    return flow_rows(plan, edit, flows, before_edit(conn, old_ids), band)


def before_edit(conn: Connection, old_ids: list[int]) -> dict[str, tuple[int, int]]:
    """code -> (households, grid workers) of the grids an edit replaces, read before it is applied."""
    return {r.code: (r.hh, r.workers) for r in conn.execute(BEFORE_SQL, {"ids": old_ids})}


APPLIED_HOUSES_SQL = text("""
SELECT hh.house_id, count(DISTINCT hh.id) AS households, count(pe.id) AS residents
FROM household hh LEFT JOIN person pe ON pe.household_id = hh.id
WHERE hh.house_id = ANY(:ids) GROUP BY 1
""")


def applied_flows(conn: Connection, changed: list) -> dict[tuple, dict]:
    """The flows an applied edit made, from `grid_edit_refresh`'s rows: pins whose grid code changed."""
    ids = {r.from_grid for r in changed} | {r.to_grid for r in changed}
    code = dict(conn.execute(text("SELECT id, code FROM grid WHERE id = ANY(:ids)"),
                             {"ids": [i for i in ids if i is not None]}).all())
    flows: dict[tuple, dict] = {}
    houses: dict[int, tuple] = {}
    for r in changed:
        old, new = code.get(r.from_grid), code.get(r.to_grid)
        if old == new or r.pin not in TABLES or r.pin == "event" and not r.open:
            continue
        flows.setdefault((old, new), dict.fromkeys(COUNTS, 0))[TABLES[r.pin]] += 1
        if r.pin == "house":
            houses[r.pin_id] = (old, new)
    for h in conn.execute(APPLIED_HOUSES_SQL, {"ids": list(houses)}):
        flow = flows[houses[h.house_id]]
        flow["households"] += h.households
        flow["residents"] += h.residents
    return flows


def flow_rows(plan, edit, flows: dict[tuple, dict], before: dict, band: tuple[int, int]) -> list[dict]:
    """One row per grid of the edit: what moves in and out, households before and after; band warnings."""
    out = []
    for e in edit.entries:
        code = plan.codes[e.label]
        into = {k: sum(f[k] for (o, n), f in flows.items() if n == code) for k in COUNTS}
        out_of = {k: sum(f[k] for (o, n), f in flows.items() if o == code) for k in COUNTS}
        hh, workers = before.get(code, (0, 0)) if code in plan.current else (0, 0)
        after = hh + into["households"] - out_of["households"]
        action = "retire" if e.retire else "create" if code not in plan.current else "change"
        out.append({"code": code, "key": e.key, "action": action,
                    "version": plan.current[code]["version"] if code in plan.current else None,
                    "moving_in": into, "moving_out": out_of, "households_before": hh, "households_after": after})
        if action != "retire":
            _band(plan, e.label, after, workers, band)
    return out


def _band(plan, label: str, households: int, workers: int, band: tuple[int, int]) -> None:
    low, high = band
    if not low <= households <= high:
        plan.problems.append(Problem("households_out_of_band", f"{households} households; the band is {low}–{high}",
                                     label, plan.shapes[label].representative_point(), "warning"))
    if not workers:
        plan.problems.append(Problem("no_worker", "no grid worker is assigned to this grid", label,
                                     plan.shapes[label].representative_point(), "warning"))
    elif not low <= households / workers <= high:
        plan.problems.append(Problem("worker_load_out_of_band", f"{households / workers:.0f} households per worker; "
                                     f"the band is {low}–{high}", label,
                                     plan.shapes[label].representative_point(), "warning"))
