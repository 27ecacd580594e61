"""Service reach (15分钟生活圈): per cell, the share of residents within a walk of each kind of facility.

Method, stated in the layer's legend too: residents are the household members counted at their house
point (house_residents); a walk of `minutes` at `speed` m/min is taken as that many metres in a straight
line, measured in the district's UTM zone, to the nearest facility of the kind anywhere in the district
(a clinic across a scope boundary still serves). Street networks make real walks longer, so this is an
upper bound on reach.
"""
from __future__ import annotations

from sqlalchemy import Connection

from data.coverage import CELLS, METRIC_SRID, BadCoverage, run
from data.vocab import PLACE_KINDS

FACILITIES = ("clinic", "school", "elderly_care", "party_center", "market")
MAX_MINUTES = 120
assert set(FACILITIES) <= set(PLACE_KINDS)


def _within(kind: str) -> str:
    # the && box (degrees, 10 % wider than the radius at the house's latitude) lets place_geom's index find
    # candidates; ST_DWithin in metres then decides
    return f"""EXISTS (SELECT 1 FROM place p WHERE p.kind = '{kind}'
      AND p.geom && ST_Expand(homes.geom, 1.1 * {{reach_m}} / (111320 * cos(radians(ST_Y(homes.geom)))),
                              1.1 * {{reach_m}} / 110574)
      AND ST_DWithin(ST_Transform(p.geom, homes.srid), homes.m, {{reach_m}}))"""


REACH_SQL = f"""
WITH cells AS ({CELLS}), homes AS (
  SELECT c.id AS cell_id, h.geom, s.residents, srid.srid, ST_Transform(h.geom, srid.srid) AS m
  FROM cells c JOIN house h ON h.grid_id = c.id JOIN house_residents s ON s.house_id = h.id,
       (SELECT {METRIC_SRID} AS srid) srid
  WHERE s.residents > 0
), reached AS (
  SELECT cell_id, sum(residents) AS residents,
         {", ".join(f"coalesce(sum(residents) FILTER (WHERE {_within(k)}), 0) AS {k}" for k in FACILITIES)}
  FROM homes GROUP BY cell_id
)
SELECT c.code, c.name, coalesce(r.residents, 0) AS residents,
       {", ".join(f"coalesce(r.{k}, 0) AS {k}" for k in FACILITIES)},
       {", ".join(f"CASE WHEN r.residents > 0 THEN round(r.{k}::numeric / r.residents, 4)::float8 END AS share_{k}"
                  for k in FACILITIES)},
       c.geom
FROM cells c LEFT JOIN reached r ON r.cell_id = c.id
"""


def reach_metres(speed_m_per_min: float, minutes: int) -> float:
    return float(speed_m_per_min) * minutes


def check_minutes(minutes) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        raise BadCoverage(f"minutes must be an integer from 1 to {MAX_MINUTES}, got {minutes!r}", "minutes")
    return minutes


def check_facility(facility: str | None) -> tuple[str, ...]:
    if facility is None or facility == "":
        return FACILITIES
    if facility not in FACILITIES:
        raise BadCoverage(f"facility must be one of {', '.join(FACILITIES)}, got {facility!r}", "facility")
    return (facility,)


def service_reach(conn: Connection, speed_m_per_min: float = 80.0, minutes: int = 15, facility: str | None = None,
                  scope: tuple[str, ...] | None = None) -> dict:
    """Residents per cell and, per facility kind, how many live within the walk (share null for no residents)."""
    check_minutes(minutes)
    kinds = check_facility(facility)
    reach_m = reach_metres(speed_m_per_min, minutes)
    columns = ", ".join(c for k in kinds for c in (k, f"share_{k}"))
    rows = run(conn, f"SELECT code, name, residents, {columns} FROM ("
               + REACH_SQL.replace("{reach_m}", ":reach_m") + ") t ORDER BY code", scope, reach_m=reach_m)
    residents = sum(r["residents"] for r in rows)
    totals = {"cells": len(rows), "residents": residents}
    for k in kinds:
        totals[k] = sum(r[k] for r in rows)
        totals[f"share_{k}"] = round(totals[k] / residents, 4) if residents else None
    return {"kind": "reach", "facilities": list(kinds), "minutes": minutes, "speed_m_per_min": speed_m_per_min,
            "reach_m": reach_m, "method": METHOD.format(reach_m=round(reach_m), speed=speed_m_per_min, minutes=minutes),
            "cells": rows, "totals": totals}


METHOD = ("straight-line distance ≤ {reach_m} m ({speed:g} m/min × {minutes} min) from the house to the nearest "
          "facility of the kind, in the district's UTM zone; residents counted at their house")
