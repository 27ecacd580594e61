"""Assemble a whole demo city from a seed: every table as a frame, in WGS 84, ready to COPY."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from data.demo import events, facilities, geo, names, partition, people
from data.demo.scales import DEFAULT_AS_OF, get_scale
from data.vocab import DEDICATED_FOR, EVENT_CATEGORIES, STAFF_ROLES

DISTRICT_CODE = "990101"  # province 99 does not exist: a fictional district
CELL_ROLES = ("leader", "worker", "auxiliary", "police", "legal_advisor", "doctor", "supervisor", "party_liaison")


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
    grid = _grids(frame.to_wgs84(faces), labels, place.loc[dedicated_places, "kind"].tolist(), rng)

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
    t["staff"] = _staff(rng, grid)
    _events(rng, city, frame, house, spec, outline)
    t["visit"] = _visits(rng, t["household"], t["house"], house, grid, t["staff"], frame, as_of)
    t["app_user"] = _users(grid)
    return city


def _pinned(frame: geo.LocalFrame, rows: pd.DataFrame, ref_prefix: str) -> pd.DataFrame:
    lon, lat = frame.xy_to_lonlat(rows.x.to_numpy(), rows.y.to_numpy())
    out = rows.copy()
    out.insert(0, "id", np.arange(1, len(rows) + 1))
    out["ref"] = [f"{ref_prefix}{i:07d}" for i in out.id]
    out["geom"] = shapely.points(np.round(lon, 7), np.round(lat, 7))
    return out


def _grids(faces_wgs: np.ndarray, labels: np.ndarray, dedicated_kinds: list[str], rng) -> pd.DataFrame:
    """Cells are unions of faces; every parent is the union of its children, so tiling is exact."""
    keys = pd.DataFrame(labels, columns=["street", "community", "cell"])
    rows = []
    comm_names = iter(names.compound_names(rng, 400))
    used_names: set[str] = set()

    def union(mask) -> shapely.MultiPolygon:
        merged = shapely.coverage_union_all(faces_wgs[np.asarray(mask)])
        return merged if merged.geom_type == "MultiPolygon" else shapely.MultiPolygon([merged])

    for s in sorted(keys.street.unique()):
        in_s = keys.street == s
        s_code = f"{DISTRICT_CODE}.{s + 1:03d}"
        street_name = _unique(f"{rng.choice(names.PLACE_WORDS)}路街道", used_names)
        rows.append((s_code, street_name, "street", "regular", None, union(in_s)))
        for c in sorted(keys[in_s].community.unique()):
            in_c = in_s & (keys.community == c)
            c_code = f"{s_code}.{c + 1:03d}"
            c_name = _unique(next(comm_names).replace("小区", "").rstrip("苑里") + "社区", used_names)
            rows.append((c_code, c_name, "community", "regular", None, union(in_c)))
            regular = sorted(k for k in keys[in_c].cell.unique() if k >= 0)
            for n, k in enumerate(regular, start=1):
                rows.append((f"{c_code}.{n:03d}", f"{c_name}第{names.ordinal(n)}网格", "cell", "regular", None,
                             union(in_c & (keys.cell == k))))
            for n, k in enumerate(sorted((k for k in keys[in_c].cell.unique() if k < 0), reverse=True), start=1):
                kind = dedicated_kinds[-1 - k]
                rows.append((f"{c_code}.{900 + n}", f"{c_name}{DEDICATED_FOR[kind][0]}专属网格", "cell", "dedicated",
                             kind, union(in_c & (keys.cell == k))))
    frame = pd.DataFrame(rows, columns=["code", "name", "level", "kind", "dedicated_for", "geom"])
    district = shapely.coverage_union_all(frame.geom[frame.level == "street"].to_numpy())
    district = district if district.geom_type == "MultiPolygon" else shapely.MultiPolygon([district])
    top = pd.DataFrame([(DISTRICT_CODE, "民清区", "district", "regular", None, district)], columns=frame.columns)
    frame = pd.concat([top, frame], ignore_index=True)
    frame["household_target"] = np.where(frame.level == "cell", 400, None)
    return frame


def _unique(name: str, used: set[str]) -> str:
    """Grid names double as labels on the map, so no two may read the same."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = name.replace("街道", f"{names.ordinal(n)}街道").replace("社区", f"{names.ordinal(n)}社区") \
            if n < 100 else f"{name}{n}"
    used.add(candidate)
    return candidate


def _reference_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    from data.vocab import DEPARTMENTS

    dept = pd.DataFrame(DEPARTMENTS, columns=["code", "name", "name_en"])
    dept.insert(0, "id", np.arange(1, len(dept) + 1))
    dept_id = dict(zip(dept.code, dept.id))
    cats = pd.DataFrame([(code, zh, en, dept_id[d]) for code, zh, en, d in EVENT_CATEGORIES],
                        columns=["code", "name", "name_en", "department_id"])
    return dept, cats


def _staff(rng, grid: pd.DataFrame) -> pd.DataFrame:
    """The eight roles for every regular cell, a leader for every larger grid, special workers for dedicated."""
    rows = []
    for g in grid.itertuples():
        if g.level == "cell" and g.kind == "regular":
            roles = list(CELL_ROLES) + ["worker"] * int(rng.random() < 0.3)
        elif g.level == "cell":
            roles = ["leader", "special"]
        else:
            roles = ["leader"]
        rows += [(g.code, r) for r in roles]
    frame = pd.DataFrame(rows, columns=["grid_code", "role"])
    male = rng.random(len(frame)) < 0.5
    frame["name"] = names.person_names(rng, names.surnames(rng, len(frame)), male)
    frame["phone"] = np.char.add("109", np.char.zfill(np.arange(len(frame)).astype(str), 8))
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    assert set(frame.role) <= set(STAFF_ROLES)
    return frame


def _events(rng, city: City, frame: geo.LocalFrame, house: pd.DataFrame, spec, outline) -> None:
    spots = events.hotspots(rng, spec.hotspots, spec.events, house[["x", "y"]].to_numpy(), city.as_of)
    hot_xy, hot_cat, hot_when, spots["n_events"] = events.hotspot_events(rng, spots, outline)
    n_bg = spec.events - len(hot_xy)
    category, when = events.event_times(rng, n_bg, city.as_of)
    weights = house.households.to_numpy() / house.households.sum()
    home = house[["x", "y"]].to_numpy()[rng.choice(len(house), size=n_bg, p=weights)]
    at = home + rng.normal(0, 25, (n_bg, 2))
    strayed = ~shapely.contains_xy(outline, at[:, 0], at[:, 1])
    at[strayed] = home[strayed]
    xy = np.vstack([at, hot_xy])
    category = np.concatenate([category, hot_cat])
    reported = np.concatenate([when, hot_when]).astype("datetime64[ns]")
    order = np.argsort(reported, kind="stable")
    xy, category, reported = xy[order], category[order], reported[order]
    n = len(category)

    state, log = events.histories(rng, category, reported, city.as_of)
    lon, lat = frame.xy_to_lonlat(xy[:, 0], xy[:, 1])
    cat_zh = events.category_names()
    compound_of = house.compound.to_numpy()[cKDTree(house[["x", "y"]].to_numpy()).query(xy)[1]]  # nearest
    dept = dict(zip(city.tables["event_category"].code, city.tables["event_category"].department_id))
    to_department = rng.random(n) < 0.6
    major = rng.random(n) < 0.02
    source = rng.choice(events.SOURCES[0], size=n, p=events.SOURCES[1])
    rated = state.status.eq("closed").to_numpy() & np.isin(source, ["citizen_qr", "hotline_12345", "grid_worker"])
    utc = lambda a: pd.to_datetime(a).tz_localize("UTC")  # noqa: E731
    city.tables["event"] = pd.DataFrame({
        "id": np.arange(1, n + 1), "ref": [f"E{i:08d}" for i in range(1, n + 1)],
        "title": [f"{c}附近{cat_zh[k]}" for c, k in zip(compound_of, category)],
        "category": category, "source": source, "status": state.status.to_numpy(),
        "level": state.level.to_numpy(), "priority": np.where(major, 1, rng.choice([2, 3], size=n, p=[0.7, 0.3])),
        "is_major": major,
        "department_id": np.where(to_department, [dept[c] for c in category], None),
        "reported_at": utc(reported), "due_at": utc(state.due_at.to_numpy()),
        "resolved_at": utc(state.resolved_at.to_numpy()), "closed_at": utc(state.closed_at.to_numpy()),
        "overdue": state.overdue.to_numpy(),
        "satisfaction": pd.Series(rng.choice([1, 2, 3, 4, 5], size=n, p=[.03, .05, .12, .35, .45]),
                                  dtype="Int64").where(rated),
        "geom": shapely.points(np.round(lon, 7), np.round(lat, 7)),
    })
    actor = np.where(log.level == "grid", "网格员", np.where(log.level == "community", "社区工作站", "街道综治中心"))
    city.tables["event_log"] = pd.DataFrame({
        "id": np.arange(1, len(log) + 1), "event_id": log.event_idx + 1, "at": utc(log["at"].to_numpy()),
        "actor": actor, "from_status": log.from_status, "to_status": log.to_status, "level": log.level,
    })
    hlon, hlat = frame.xy_to_lonlat(spots.x.to_numpy(), spots.y.to_numpy())
    city.tables["demo_hotspot"] = pd.DataFrame({
        "id": spots.id, "category": spots.category, "center": shapely.points(hlon, hlat),
        "radius_m": spots.radius_m, "starts_at": spots.starts_at, "ends_at": spots.ends_at,
        "n_events": spots.n_events,
    })


def _visits(rng, household, house_rows, house, grid, staff, frame, as_of) -> pd.DataFrame:
    """Household visits over the last 120 days by a worker of the cell the house is in."""
    n_visits = rng.poisson(1.1, len(household))
    hh_idx = np.repeat(np.arange(len(household)), n_visits)
    house_idx = household.house_id.to_numpy()[hh_idx] - 1
    geoms = house_rows.geom.to_numpy()[house_idx]
    cells = grid[grid.level == "cell"].reset_index(drop=True)
    tree = shapely.STRtree(cells.geom.to_numpy())
    point_i, cell_i = tree.query(geoms, predicate="intersects")
    cell_of = np.full(len(geoms), -1)
    cell_of[point_i[::-1]] = cell_i[::-1]  # first match wins, as with the smallest code in the database
    workers = staff[staff.role.isin(["worker", "special"])].groupby("grid_code").id.first()
    staff_id = pd.Series(cells.code.to_numpy()[cell_of]).map(workers).to_numpy()
    when = pd.Timestamp(as_of) - pd.to_timedelta(rng.uniform(0, 120 * 24, len(hh_idx)), unit="h")
    return pd.DataFrame({
        "id": np.arange(1, len(hh_idx) + 1), "household_id": hh_idx + 1,
        "staff_id": pd.array(np.where(cell_of >= 0, staff_id, np.nan), dtype="Int64"),
        "visited_at": when.round("s"), "note": rng.choice(["入户走访", "政策宣传", "安全检查", "矛盾排查"], len(hh_idx)),
        "geom": geoms,
    })


def _users(grid: pd.DataFrame) -> pd.DataFrame:
    """Demo accounts: one of each role, grid leaders scoped to a community, workers to a cell."""
    communities = grid[grid.level == "community"].code.tolist()
    cells = grid[(grid.level == "cell") & (grid.kind == "regular")].code.tolist()
    rows = [("admin", "系统管理员", "admin", []), ("commander", "指挥中心值班员", "commander", [DISTRICT_CODE]),
            ("analyst", "数据分析员", "analyst", [DISTRICT_CODE])]
    rows += [(f"leader{i + 1}", f"网格长{i + 1}", "grid_leader", [c]) for i, c in enumerate(communities[:3])]
    rows += [(f"worker{i + 1}", f"网格员{i + 1}", "grid_worker", [c]) for i, c in enumerate(cells[:3])]
    frame = pd.DataFrame(rows, columns=["username", "display_name", "role", "scope"])
    frame["scope"] = ["{" + ",".join(s) + "}" for s in frame.scope]
    return frame


def default_as_of() -> datetime:
    """The top of the current hour in UTC (`--as-of now`), for a demo whose last events are today's."""
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
