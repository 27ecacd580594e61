"""Assemble a whole demo city from a seed: every table as a frame, in WGS 84, ready to COPY."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from data.demo import events, facilities, geo, grids, partition, people, staffing
from data.demo.scales import DEFAULT_AS_OF, get_scale
from data.vocab import EVENT_CATEGORIES



@dataclass
class City:
    """Everything generated, keyed by table name; row order = id order where ids are ours."""

    scale: str
    seed: int
    as_of: datetime
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def count(self, table: str) -> int:
        return len(self.tables[table])


def generate(scale: str = "demo", seed: int = 1, as_of: datetime | None = None,
             boundary: str | Path | None = None) -> City:
    """The same (scale, seed, as_of, boundary) always gives the same city, row for row."""
    spec = get_scale(scale)
    as_of = (as_of or DEFAULT_AS_OF).astimezone(timezone.utc)
    rng = np.random.default_rng(seed)
    if boundary is None:
        frame = geo.LocalFrame(*geo.DEFAULT_ORIGIN)
        outline = geo.valley_boundary(rng, spec.length_m, spec.width_m)
    else:
        frame, outline = geo.read_boundary(boundary)

    comp = people.compounds(rng, outline, spec.households, spec.compound_households)
    house = people.houses(rng, outline, comp)
    place = facilities.places(rng, outline, house)
    areas, dedicated_places = facilities.dedicated_areas(rng, outline, place, spec.dedicated)
    homes = np.repeat(house[["x", "y"]].to_numpy(), house.households.to_numpy(), axis=0)
    root = partition.plan(outline, homes, spec.streets, spec.communities,
                          spec.households_per_cell, rng)
    faces = partition.faces(outline, root, areas)
    labels, _ = partition.label_faces(faces, root, areas)
    grid = grids.build(frame.to_wgs84(faces), labels, place.loc[dedicated_places, "kind"].tolist(), rng)

    city = City(scale=scale, seed=seed, as_of=as_of)
    t = city.tables
    t["grid"] = grid
    t["house"] = _pinned(frame, house, ref_prefix="H")[["id", "ref", "address", "compound", "kind", "floors", "geom"]]
    hh = people.households(rng, house)
    t["household"] = pd.DataFrame({"id": np.arange(1, len(hh) + 1), "ref": [f"HH{i:07d}" for i in range(1, len(hh) + 1)],
                                   "house_id": hh.house_idx + 1, "unit": hh.unit, "registered": hh.registered})
    person = people.persons(rng, hh, as_of.date())
    person.insert(0, "id", np.arange(1, len(person) + 1))
    person["household_id"] = person.pop("household_idx") + 1
    t["person"] = person
    t["place"] = _pinned(frame, place, ref_prefix="P")[["id", "ref", "name", "kind", "is_key", "geom"]]
    t["thing"] = _pinned(frame, facilities.things(rng, outline, house), "T")[["id", "ref", "name", "kind",
                                                                               "in_service", "geom"]]
    t["organization"] = _pinned(frame, facilities.organizations(rng, outline, house, comp), "O")[
        ["id", "ref", "name", "kind", "members", "geom"]]
    t["department"], t["event_category"] = _reference_tables()
    t["staff"] = staffing.staff(rng, grid)
    events.build(rng, city, frame, house, spec, outline)
    t["visit"] = staffing.visits(rng, t["household"], t["house"], grid, t["staff"], as_of)
    t["app_user"] = staffing.users(grid)
    return city


def _pinned(frame: geo.LocalFrame, rows: pd.DataFrame, ref_prefix: str) -> pd.DataFrame:
    lon, lat = frame.xy_to_lonlat(rows.x.to_numpy(), rows.y.to_numpy())
    out = rows.copy()
    out.insert(0, "id", np.arange(1, len(rows) + 1))
    out["ref"] = [f"{ref_prefix}{i:07d}" for i in out.id]
    out["geom"] = shapely.points(np.round(lon, 7), np.round(lat, 7))
    return out


def _reference_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    from data.vocab import DEPARTMENTS

    dept = pd.DataFrame(DEPARTMENTS, columns=["code", "name", "name_en"])
    dept.insert(0, "id", np.arange(1, len(dept) + 1))
    dept_id = dict(zip(dept.code, dept.id))
    cats = pd.DataFrame([(code, zh, en, dept_id[d]) for code, zh, en, d in EVENT_CATEGORIES],
                        columns=["code", "name", "name_en", "department_id"])
    return dept, cats


def default_as_of() -> datetime:
    """The top of the current hour in UTC (`--as-of now`), for a demo whose last events are today's."""
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
