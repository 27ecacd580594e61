"""Coverage analyses (data/coverage*.py, /api/analysis/coverage, the five layers) against independent sums."""
from __future__ import annotations

import gzip
import json
import math
from datetime import timedelta

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from data import coverage, coverage_reach, coverage_visits
from data.errors import ConfigError
from data.settings import Settings
from tests.conftest import DEMO_AS_OF

WORKER1_CELL = "990101.001.001.001"
LAYERS = ("coverage_gaps", "visit_coverage", "service_reach", "staff_load", "party_coverage")


def strict(response) -> dict:
    """The body parsed with NaN and Infinity refused, as a browser's JSON.parse would."""
    def refuse(token):
        raise AssertionError(f"{token} in JSON")
    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def get(client, user="commander", **query):
    return client.get("/api/analysis/coverage", query_string=query, headers={"X-Demo-User": user})


@pytest.fixture(scope="module")
def srid(city_engine) -> int:
    with city_engine.connect() as conn:
        return coverage.metric_srid(conn)


def test_the_metric_crs_is_the_utm_zone_of_the_district(city_engine, srid):
    lon, lat = pd.read_sql("SELECT ST_X(ST_Centroid(geom)) lon, ST_Y(ST_Centroid(geom)) lat FROM grid "
                           "WHERE level = 'district' AND valid_to IS NULL", city_engine).iloc[0]
    assert srid == (32600 if lat >= 0 else 32700) + int((lon + 180) // 6) + 1


def cells_frame(conn_or_engine, srid) -> gpd.GeoDataFrame:
    return gpd.read_postgis("SELECT code, geom FROM grid WHERE valid_to IS NULL AND level = 'cell'",
                            conn_or_engine, geom_col="geom").to_crs(srid)


def test_the_generated_grids_leave_no_gap_and_no_overlap(client, city_engine, srid):
    body = strict(get(client, kind="grid"))
    district = gpd.read_postgis("SELECT geom FROM grid WHERE valid_to IS NULL AND level = 'district'", city_engine,
                                geom_col="geom").to_crs(srid)
    assert body["srid"] == srid and body["gap_m2"] == 0 and body["overlap_m2"] == 0
    assert body["gaps"] == [] and body["overlaps"] == []
    assert body["area_m2"] == pytest.approx(district.area.sum(), rel=1e-9)
    assert body["cells"] == len(cells_frame(city_engine, srid))


def test_a_shrunk_and_a_grown_cell_show_as_gap_and_overlap_of_the_right_area(city_conn, srid):
    codes = [r[0] for r in city_conn.execute(text(
        "SELECT code FROM grid WHERE valid_to IS NULL AND level = 'cell' ORDER BY code LIMIT 5"))]
    city_conn.execute(text("UPDATE grid SET geom = ST_Multi(ST_Buffer(geom, -0.0004)) "
                           "WHERE code = :c AND valid_to IS NULL"), {"c": codes[0]})
    city_conn.execute(text("UPDATE grid SET geom = ST_Multi(ST_Buffer(geom, 0.0003, 'join=mitre')) "
                           "WHERE code = :c AND valid_to IS NULL"), {"c": codes[4]})
    result = coverage.grid_coverage(city_conn)
    cells = cells_frame(city_conn, srid)
    district = gpd.read_postgis("SELECT geom FROM grid WHERE valid_to IS NULL AND level = 'district'", city_conn,
                                geom_col="geom").to_crs(srid).union_all()
    gap = district.difference(cells.union_all()).area
    pairs = [a.intersection(b).area for i, a in enumerate(cells.geometry) for b in cells.geometry[i + 1:]
             if a.intersects(b)]
    assert result["gap_m2"] == pytest.approx(gap, rel=1e-6) and gap > 1000
    assert result["overlap_m2"] == pytest.approx(sum(p for p in pairs if p >= coverage.MIN_PIECE_M2), rel=1e-6)
    assert result["overlap_m2"] > 1000
    assert all(codes[4] in o["cells"] for o in result["overlaps"])


def test_visit_shares_match_plain_sql_counts(city_engine):
    with city_engine.connect() as conn:
        result = coverage_visits.visit_coverage(conn, DEMO_AS_OF, 30, "admin")
        expected = {r.code: r for r in conn.execute(text("""
            SELECT g.code, count(x.id) AS households,
                   count(x.id) FILTER (WHERE x.id IN (SELECT household_id FROM visit
                                                      WHERE visited_at > :t - interval '30 days' AND visited_at <= :t))
                     AS visited
            FROM grid g LEFT JOIN house h ON h.grid_id = g.id LEFT JOIN household x ON x.house_id = h.id
            WHERE g.valid_to IS NULL AND g.level = 'cell' GROUP BY g.code"""), {"t": DEMO_AS_OF})}
        key = {r[0] for r in conn.execute(text("""
            SELECT DISTINCT p.household_id FROM person p
            WHERE ('elderly_alone' = ANY (p.tags) OR p.is_key_person
                   OR p.tags && ARRAY['community_correction', 'released_prisoner', 'drug_rehab', 'mental_illness',
                                      'petitioner'])
              AND p.household_id NOT IN (SELECT household_id FROM visit
                                         WHERE visited_at > :t - interval '30 days' AND visited_at <= :t)"""),
            {"t": DEMO_AS_OF})}
    assert {r["code"] for r in result["cells"]} == set(expected)
    for row in result["cells"]:
        want = expected[row["code"]]
        assert (row["households"], row["visited"]) == (want.households, want.visited)
        assert row["share"] == (round(want.visited / want.households, 4) if want.households else None)
    assert 0 < result["totals"]["visited"] < result["totals"]["households"]
    assert {h["household_id"] for h in result["unvisited_key_households"]} == key
    assert sum(r["unvisited_key"] for r in result["cells"]) == len(key) > 0


def test_key_households_are_listed_for_the_grid_worker_in_scope_only(client):
    body = strict(get(client, "worker1", kind="visits", days=1))  # the demo's visits end weeks ago: none count
    assert [c["code"] for c in body["cells"]] == [WORKER1_CELL] and body["days"] == 1
    assert body["cells"][0]["visited"] == 0
    listed = body["unvisited_key_households"]
    assert listed and {h["grid"] for h in listed} == {WORKER1_CELL}
    assert all(h["elderly_alone"] or h["key_person"] for h in listed)
    assert len(listed) == body["cells"][0]["unvisited_key"]


def test_analysts_get_counts_without_key_person_details(client):
    body = strict(get(client, "analyst", kind="visits"))
    assert "unvisited_key_households" not in body and len(body["cells"]) > 1
    assert all("unvisited_key_person" not in c and "unvisited_elderly_alone" in c for c in body["cells"])


def test_reach_matches_shapely_distances_in_utm(client, city_engine, srid):
    homes = gpd.read_postgis("""
        SELECT g.code, h.geom, count(p.id) AS residents
        FROM house h JOIN grid g ON g.id = h.grid_id JOIN household x ON x.house_id = h.id
        JOIN person p ON p.household_id = x.id GROUP BY g.code, h.id""", city_engine, geom_col="geom").to_crs(srid)
    places = gpd.read_postgis("SELECT kind, geom FROM place", city_engine, geom_col="geom").to_crs(srid)
    body = strict(get(client, kind="reach"))
    assert body["reach_m"] == 1200 and "straight-line" in body["method"]
    rows = {r["code"]: r for r in body["cells"]}
    for kind in coverage_reach.FACILITIES:
        sites = places[places.kind == kind].geometry.union_all()
        near = homes.assign(near=homes.distance(sites) <= 1200)
        per_cell = near[near.near].groupby("code").residents.sum()
        for code, row in rows.items():
            assert row[kind] == per_cell.get(code, 0), (kind, code)
        assert body["totals"][kind] == per_cell.sum()
    totals = homes.groupby("code").residents.sum()
    assert all(rows[c]["residents"] == n for c, n in totals.items())
    assert all(r["share_clinic"] is None for r in rows.values() if r["residents"] == 0)


def test_reach_follows_minutes_and_facility(client):
    short = strict(get(client, kind="reach", facility="market", minutes=5))
    full = strict(get(client, kind="reach", facility="market"))
    assert short["facilities"] == ["market"] and short["reach_m"] == 400 and "school" not in short["cells"][0]
    assert short["totals"]["market"] < full["totals"]["market"]


def test_staff_load_and_party_coverage_match_plain_counts(client, city_engine):
    staff = strict(get(client, kind="staff"))
    party = strict(get(client, kind="party"))
    with city_engine.connect() as conn:
        households = dict(conn.execute(text(
            "SELECT g.code, count(x.id) FROM grid g LEFT JOIN house h ON h.grid_id = g.id "
            "LEFT JOIN household x ON x.house_id = h.id WHERE g.valid_to IS NULL AND g.level = 'cell' GROUP BY 1")).all())
        workers = dict(conn.execute(text(
            "SELECT grid_code, count(*) FROM staff WHERE role = 'worker' AND active GROUP BY 1")).all())
        branches = dict(conn.execute(text(
            "SELECT g.code, count(*) FROM organization o JOIN grid g ON g.id = o.grid_id "
            "WHERE o.kind = 'party_branch' GROUP BY 1")).all())
    assert staff["band"] == [300, 500]
    for row in staff["cells"]:
        n, w = households[row["code"]], workers.get(row["code"], 0)
        assert (row["households"], row["workers"]) == (n, w)
        load = "unstaffed" if w == 0 else "under" if n / w < 300 else "over" if n / w > 500 else "within"
        assert row["load"] == load and (row["per_worker"] is None) == (w == 0)
    assert {r["code"] for r in party["cells"] if not r["covered"]} == set(households) - set(branches)
    assert sorted(party["totals"]["without_branch"]) == sorted(set(households) - set(branches))


def test_a_configured_band_classes_cells_differently(city_engine):
    with city_engine.connect() as conn:
        result = coverage.staff_load(conn, (1, 2), scope=("990101.001",))
    assert sum(result["totals"][k] for k in coverage.LOADS) == result["totals"]["cells"] > 0
    assert result["totals"]["over"] > 0


@pytest.mark.parametrize("kind", coverage.KINDS)
def test_worker1_sees_only_their_cell(client, kind):
    body = strict(get(client, "worker1", kind=kind))
    if kind == "grid":
        assert body["cells"] == 1 and body["gap_m2"] == 0
    else:
        assert [c["code"] for c in body["cells"]] == [WORKER1_CELL]


@pytest.mark.parametrize("query,field", [
    ({"kind": "hotspots"}, "kind"), ({}, "kind"), ({"kind": "visits", "days": "0"}, "days"),
    ({"kind": "visits", "days": "731"}, "days"), ({"kind": "visits", "days": "abc"}, "days"),
    ({"kind": "visits", "days": "NaN"}, "days"), ({"kind": "reach", "facility": "hospital"}, "facility"),
    ({"kind": "reach", "minutes": "-5"}, "minutes"), ({"kind": "reach", "minutes": "121"}, "minutes")])
def test_bad_input_is_a_400_naming_the_field(client, query, field):
    response = get(client, **query)
    assert response.status_code == 400 and strict(response)["error"]["field"] == field


def test_citizens_are_refused(client, city_engine):
    with city_engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (username, display_name, role, scope) VALUES "
                          "('coverage_citizen', 'c', 'citizen', '{}') ON CONFLICT (username) DO NOTHING"))
    assert get(client, "coverage_citizen", kind="party").status_code == 403


def test_an_empty_scope_is_a_well_formed_empty_result(city_engine):
    with city_engine.connect() as conn:
        for result in (coverage.grid_coverage(conn, ("999",)), coverage.staff_load(conn, scope=("999",)),
                       coverage_visits.visit_coverage(conn, DEMO_AS_OF, scope=("999",)),
                       coverage_reach.service_reach(conn, scope=("999",))):
            assert json.loads(json.dumps(result, default=str), parse_constant=lambda t: 1 / 0)
    assert result["totals"]["share_clinic"] is None


def test_settings_read_and_check_walk_speed_and_band():
    settings = Settings.from_env({"MINQING_WALK_SPEED": "60", "MINQING_HOUSEHOLD_BAND": "200-400"})
    assert settings.walk_speed_m_per_min == 60 and settings.household_band == (200, 400)
    for bad in ({"MINQING_WALK_SPEED": "0"}, {"MINQING_WALK_SPEED": "nan"}, {"MINQING_HOUSEHOLD_BAND": "500-300"},
                {"MINQING_HOUSEHOLD_BAND": "300"}, {"MINQING_HOUSEHOLD_BAND": "a-b"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


def tile_at(client, layer, lon, lat, z, user="commander"):
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    response = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", headers={"X-Demo-User": user})
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.get_data(as_text=True)
    return mapbox_vector_tile.decode(response.data)[layer]["features"]


@pytest.fixture(scope="module")
def worker1_point(city_engine):
    with city_engine.connect() as conn:
        return tuple(conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM grid, ST_PointOnSurface(geom) p "
                                       "WHERE code = :c AND valid_to IS NULL"), {"c": WORKER1_CELL}).one())


def test_layer_tiles_carry_the_same_figures_as_the_api(client, worker1_point):
    by_code = lambda features: {f["properties"]["code"]: f["properties"] for f in features}  # noqa: E731
    visits = by_code(tile_at(client, "visit_coverage", *worker1_point, 14, "leader1"))
    api = {c["code"]: c for c in strict(get(client, "leader1", kind="visits"))["cells"]}
    assert visits and set(visits) <= set(api)
    for code, props in visits.items():
        assert props["households"] == api[code]["households"] and props["visited"] == api[code]["visited"]
        assert props["unvisited_key_person"] == api[code]["unvisited_key_person"]
    reach = by_code(tile_at(client, "service_reach", *worker1_point, 14))
    reach_api = {c["code"]: c for c in strict(get(client, kind="reach"))["cells"]}
    assert reach and all(p["clinic"] == reach_api[c]["clinic"] for c, p in reach.items())
    staff = by_code(tile_at(client, "staff_load", *worker1_point, 14))
    assert staff and all(p["load"] in coverage.LOADS for p in staff.values())
    party = by_code(tile_at(client, "party_coverage", *worker1_point, 14))
    assert party and all(p["covered"] == (p["party_branches"] > 0) for p in party.values())
    gaps = tile_at(client, "coverage_gaps", *worker1_point, 12)
    assert {f["properties"]["kind"] for f in gaps} == {"checked"}


def test_layer_tiles_are_scoped_and_hide_key_counts_by_role(client, worker1_point):
    mine = tile_at(client, "visit_coverage", *worker1_point, 13, "worker1")
    assert [f["properties"]["code"] for f in mine] == [WORKER1_CELL]
    assert "unvisited_key_person" in mine[0]["properties"]
    seen = tile_at(client, "visit_coverage", *worker1_point, 13, "analyst")
    assert len(seen) > 1 and all("unvisited_key_person" not in f["properties"] for f in seen)
    for layer in LAYERS[1:]:
        assert {f["properties"]["code"] for f in tile_at(client, layer, *worker1_point, 13, "worker1")} \
            == {WORKER1_CELL}
