"""data.loaders on real PostGIS: every format and CRS loads; every bad input is named by row and writes nothing."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box
from sqlalchemy import text

from data import crs, idcard, vocab
from data.errors import LoadError
from data.loaders import load_file

TABLES = ("grid", "grid_leaf_piece", "house", "household", "person", "place", "thing", "organization", "event",
          "event_category", "department")
WEST, EAST = box(103.80, 36.00, 103.85, 36.10), box(103.85, 36.00, 103.90, 36.10)
TOWN = box(103.80, 36.00, 103.90, 36.10)
NEAR = box(103.90, 36.00, 104.00, 36.10)  # a second district, sharing TOWN's east edge
NEAR_WEST, NEAR_EAST = box(103.90, 36.00, 103.95, 36.10), box(103.95, 36.00, 104.00, 36.10)
METRES_PER_DEGREE_LAT = 110_960  # at 36° N
GRIDS = [  # code, name, level, geometry
    ("620105", "城关区", "district", TOWN),
    ("620105.001", "东岗街道", "street", TOWN),
    ("620105.001.001", "东岗社区", "community", TOWN),
    ("620105.001.001.01", "第一网格", "cell", WEST),
    ("620105.001.001.02", "第二网格", "cell", EAST),
]
PLACE_POINTS = [(103.81, 36.01), (103.86, 36.05), (103.89, 36.09)]


def id_number(body: str = "62010219900101123") -> str:
    return body + idcard.check_char(body)


def grid_frame(rows, crs_code=4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame([r[:3] for r in rows], columns=["code", "name", "level"],
                            geometry=[r[3] for r in rows], crs=crs_code)


def places_frame(points=PLACE_POINTS, crs_code=4326) -> gpd.GeoDataFrame:
    n = len(points)
    return gpd.GeoDataFrame({"name": [f"place {i + 1}" for i in range(n)], "kind": ["market"] * n,
                             "ref": [f"P{i + 1}" for i in range(n)]},
                            geometry=[g if not isinstance(g, tuple) else Point(g) for g in points], crs=crs_code)


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


@pytest.fixture
def town(empty_db, tmp_path):
    """Five grids, two houses and the event categories: what the reference checks look things up in."""
    grids = tmp_path / "grids.geojson"
    grid_frame(GRIDS).to_file(grids)
    assert load_file(empty_db, "grids", grids).rows_written == 5
    houses = write_csv(tmp_path / "houses.csv", [
        {"ref": "H1", "address": "东岗东路 1号", "lon": 103.81, "lat": 36.02, "floors": 6},
        {"ref": "H2", "address": "东岗东路 2号", "lon": 103.88, "lat": 36.08, "kind": "rental"},
    ])
    assert load_file(empty_db, "houses", houses).rows_written == 2
    with empty_db.begin() as conn:
        for code, name, name_en in vocab.DEPARTMENTS:
            conn.execute(text("INSERT INTO department (code, name, name_en) VALUES (:c, :n, :e)"),
                         {"c": code, "n": name, "e": name_en})
        for code, name, name_en, _dept in vocab.EVENT_CATEGORIES:
            conn.execute(text("INSERT INTO event_category (code, name, name_en) VALUES (:c, :n, :e)"),
                         {"c": code, "n": name, "e": name_en})
    return empty_db


def stored_points(engine, table: str) -> list[tuple[str, float, float]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT ref, ST_X(geom), ST_Y(geom) FROM {table} ORDER BY ref"))]


def assert_points_close(stored, expected, tolerance: float = 1e-7) -> None:
    assert len(stored) == len(expected)
    for (_, x, y), (ex, ey) in zip(stored, expected):
        assert abs(x - ex) < tolerance and abs(y - ey) < tolerance, ((x, y), (ex, ey))


# ---------------------------------------------------------------- formats, grids, pins


def test_grids_load_as_multipolygons_and_a_loaded_point_gets_its_grid(town, tmp_path):
    assert scalar(town, "SELECT count(*) FROM grid WHERE valid_to IS NULL AND GeometryType(geom) = 'MULTIPOLYGON'") == 5
    assert scalar(town, "SELECT kind FROM grid WHERE code = '620105.001.001.02'") == "regular"
    east = scalar(town, "SELECT id FROM grid WHERE code = '620105.001.001.02'")
    west = scalar(town, "SELECT id FROM grid WHERE code = '620105.001.001.01'")
    assert scalar(town, "SELECT grid_id FROM house WHERE ref = 'H1'") == west
    assert scalar(town, "SELECT grid_id FROM house WHERE ref = 'H2'") == east
    path = tmp_path / "places.geojson"
    places_frame([(103.86, 36.05)]).to_file(path)
    report = load_file(town, "places", path)
    assert (report.kind, report.rows_read, report.rows_written, report.rejects, report.rejects_path) == \
        ("places", 1, 1, [], None)
    assert scalar(town, "SELECT grid_id FROM place WHERE ref = 'P1'") == east
    assert scalar(town, "SELECT is_key FROM place WHERE ref = 'P1'") is False  # market is not a key place kind


@pytest.mark.parametrize("suffix", ["geojson", "gpkg", "shp", "csv"])
def test_each_format_loads_points_exactly(empty_db, tmp_path, suffix):
    path = tmp_path / f"places.{suffix}"
    frame = places_frame()
    if suffix == "csv":
        frame.assign(lng=frame.geometry.x, lat=frame.geometry.y).drop(columns="geometry").to_csv(path, index=False)
    else:
        frame.to_file(path)
    assert load_file(empty_db, "places", path).rows_written == 3
    assert_points_close(stored_points(empty_db, "place"), PLACE_POINTS, 1e-12)


def test_csv_with_wkt_polygons_loads_grids(empty_db, tmp_path):
    rows = [{"code": code, "name": name, "level": level, "wkt": g.wkt} for code, name, level, g in GRIDS]
    path = write_csv(tmp_path / "grids.csv", rows)
    assert load_file(empty_db, "grids", path).rows_written == 5
    assert scalar(empty_db, "SELECT count(*) FROM grid_leaf_piece WHERE code LIKE '620105.001.001.0_'") >= 2


def test_crs_is_taken_from_a_cgcs2000_gauss_kruger_geopackage(empty_db, tmp_path):
    path = tmp_path / "places_4549.gpkg"
    projected = places_frame([(120.5, 36.1), (121.0, 36.2)]).to_crs(4549)  # CGCS2000 / 3-degree GK CM 120E
    assert projected.geometry.x.min() > 500_000  # really metres
    projected.to_file(path)
    load_file(empty_db, "places", path)
    assert_points_close(stored_points(empty_db, "place"), [(120.5, 36.1), (121.0, 36.2)], 1e-9)


def test_grids_from_a_projected_shapefile_come_out_in_wgs84(empty_db, tmp_path):
    path = tmp_path / "grids.shp"
    grid_frame(GRIDS).to_crs(4549).to_file(path)
    load_file(empty_db, "grids", path)
    bounds = shapely.from_wkt(scalar(empty_db, "SELECT ST_AsText(ST_Envelope(ST_Collect(geom))) FROM grid")).bounds
    assert max(abs(a - b) for a, b in zip(bounds, TOWN.bounds)) < 1e-9


def test_crs_option_4490_for_a_csv(empty_db, tmp_path):
    path = write_csv(tmp_path / "things.csv", [{"name": "消防栓", "kind": "hydrant", "ref": "T1",
                                                "longitude": 103.834, "latitude": 36.061}])
    load_file(empty_db, "things", path, crs=4490)
    assert_points_close(stored_points(empty_db, "thing"), [(103.834, 36.061)], 1e-6)


@pytest.mark.parametrize("web_crs", ["gcj02", "bd09"])
def test_web_map_coordinates_are_converted_back_to_wgs84(empty_db, tmp_path, web_crs):
    x, y = crs.from_wgs84([p[0] for p in PLACE_POINTS], [p[1] for p in PLACE_POINTS], web_crs)
    assert abs(x[0] - PLACE_POINTS[0][0]) > 1e-3  # the file really holds shifted coordinates
    path = write_csv(tmp_path / "places.csv", [
        {"name": f"place {i}", "kind": "park", "ref": f"P{i}", "lon": xi, "lat": yi}
        for i, (xi, yi) in enumerate(zip(x, y), start=1)])
    load_file(empty_db, "places", path, crs=web_crs)
    assert_points_close(stored_points(empty_db, "place"), PLACE_POINTS, 1e-6)


def test_crs_option_overrides_geojsons_declared_wgs84(empty_db, tmp_path):
    x, y = crs.from_wgs84([103.86], [36.05], "gcj02")
    path = tmp_path / "places.geojson"
    places_frame([(float(x[0]), float(y[0]))]).to_file(path)
    load_file(empty_db, "places", path, crs="gcj02")
    assert_points_close(stored_points(empty_db, "place"), [(103.86, 36.05)], 1e-6)


def test_persons_create_their_households_and_derive_key_person(town, tmp_path):
    path = write_csv(tmp_path / "persons.csv", [
        {"name": "张三", "gender": "M", "birth_date": "1990-01-01", "id_number": id_number(), "relation": "head",
         "household_ref": "HH1", "house_ref": "H1", "tags": "party_member"},
        {"name": "李四", "gender": "f", "birth_date": "1992-03-04", "relation": "spouse",
         "household_ref": "HH1", "house_ref": "H1", "phone": "13800000000"},
        {"name": "王五", "gender": "M", "birth_date": "1960-05-06", "relation": "head",
         "household_ref": "HH2", "house_ref": "H2", "tags": "released_prisoner;veteran"},
    ])
    assert load_file(town, "persons", path).rows_written == 3
    with town.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.name, p.gender, hh.ref, h.ref, p.tags, p.is_key_person, p.id_number_masked, p.phone_masked "
            "FROM person p "
            "JOIN household hh ON hh.id = p.household_id JOIN house h ON h.id = hh.house_id ORDER BY p.birth_year"
        )).all()
    assert [tuple(r) for r in rows] == [
        ("王五", "M", "HH2", "H2", ["released_prisoner", "veteran"], True, None, None),
        ("张三", "M", "HH1", "H1", ["party_member"], False, "620102********" + id_number()[-4:], None),
        ("李四", "F", "HH1", "H1", [], False, None, "138****0000"),
    ]
    assert scalar(town, "SELECT count(*) FROM household") == 2


def test_persons_join_households_already_in_the_ledger_and_ids_stay_unique(town, tmp_path):
    load_file(town, "persons", _persons_csv(tmp_path / "first.csv", 1))
    assert scalar(town, "SELECT count(*) FROM household") == 3
    later = write_csv(tmp_path / "later.csv", [
        {"name": "新生儿", "gender": "F", "birth_date": "2026-10-01", "relation": "child", "household_ref": "HH1",
         "house_ref": "H1"},
        {"name": "搬家", "gender": "M", "birth_date": "1980-01-01", "relation": "other", "household_ref": "HH2",
         "house_ref": "H2"},
        {"name": "重复", "gender": "M", "birth_date": "1990-01-01", "relation": "head", "household_ref": "HH9",
         "house_ref": "H2", "id_number": id_number("62010219900101121")},
    ])
    with pytest.raises(LoadError) as caught:
        load_file(town, "persons", later)
    assert caught.value.problems == [(2, "household HH2 is in house H1, not H2"),
                                     (3, f"id_number ending {id_number('62010219900101121')[-4:]} already exists")]
    report = load_file(town, "persons", later, skip_invalid=True)
    assert report.rows_written == 1
    assert scalar(town, "SELECT count(*) FROM household") == 3
    in_hh1 = "SELECT count(*) FROM person p JOIN household h ON h.id = p.household_id WHERE h.ref = 'HH1'"
    assert scalar(town, in_hh1) == 2


def test_a_file_with_no_rows_loads_nothing(town, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("name,kind,ref,lon,lat\n")
    report = load_file(town, "places", path, progress=True)
    assert (report.rows_read, report.rows_written, report.rejects) == (0, 0, [])


def test_events_take_naive_times_as_china_time_and_get_their_grid(town, tmp_path):
    path = write_csv(tmp_path / "events.csv", [
        {"title": "楼道堆物", "category": "safety_hazard", "source": "grid_worker",
         "reported_at": "2026-11-01 09:00", "due_at": "2026-11-03T09:00:00+08:00", "lon": 103.86, "lat": 36.05},
    ])
    assert load_file(town, "events", path).rows_written == 1
    with town.connect() as conn:
        row = conn.execute(text("SELECT reported_at, due_at, status, priority, grid_id = reported_grid_id, "
                                "grid_id FROM event")).one()
    assert row[0] == datetime(2026, 11, 1, 1, 0, tzinfo=timezone.utc)
    assert row[1] == datetime(2026, 11, 3, 1, 0, tzinfo=timezone.utc)
    assert row[2:5] == ("reported", 2, True)
    assert row[5] == scalar(town, "SELECT id FROM grid WHERE code = '620105.001.001.02'")


# ---------------------------------------------------------------- bad inputs: reason, row, nothing written


def _places_csv(path, bad_row: int, **bad) -> Path:
    rows = [{"name": f"place {i}", "kind": "market", "ref": f"P{i}", "lon": 103.86, "lat": 36.05} for i in (1, 2, 3)]
    rows[bad_row - 1].update(bad)
    return write_csv(path, rows)


def _persons_csv(path, bad_row: int, **bad) -> Path:
    rows = [{"name": f"人{i}", "gender": "M", "birth_date": "1990-01-01", "relation": "head",
             "household_ref": f"HH{i}", "house_ref": "H1", "id_number": id_number(f"6201021990010112{i}")}
            for i in (1, 2, 3)]
    rows[bad_row - 1].update(bad)
    return write_csv(path, rows)


def _grids_file(path, bad_row: int, code: str, level: str, geometry) -> Path:
    rows = [("620106", "新区", "district", NEAR), ("620106.001", "新街道", "street", NEAR)]
    rows.insert(bad_row - 1, (code, "坏网格", level, geometry))
    grid_frame(rows).to_file(path)
    return path


def _places_geo(path, bad_row: int, geometry) -> Path:
    points = [Point(p) for p in PLACE_POINTS]
    points[bad_row - 1] = geometry
    places_frame(points).to_file(path)
    return path


def _gk_places_gpkg(path, bad_row: int, xy) -> Path:
    frame = places_frame().to_crs(4549)
    frame.loc[bad_row - 1, "geometry"] = Point(xy)
    frame.to_file(path)
    return path


BOW_TIE = Polygon([(103.80, 36.00), (103.85, 36.05), (103.85, 36.00), (103.80, 36.05), (103.80, 36.00)])

def _events_csv(path, bad_row: int, **bad) -> Path:
    rows = [{"title": f"事件{i}", "category": "dispute", "source": "hotline_12345", "reported_at": "2026-11-01T08:00",
             "lon": 103.86, "lat": 36.05} for i in (1, 2)]
    rows[bad_row - 1].update(bad)
    return write_csv(path, rows)


def _houses_csv(path, bad_row: int, **bad) -> Path:
    rows = [{"ref": f"H{i}", "address": f"新路 {i}号", "lon": 103.82, "lat": 36.02} for i in (3, 4)]
    rows[bad_row - 1].update(bad)
    return write_csv(path, rows)


LINE = LineString([(103.8, 36.0), (103.9, 36.1)])
ID_WRONG_CHECK = "620102199001011230"  # the check character of 62010219900101123 is 3
BAD_INPUTS = {  # case: (kind, file maker, bad row, words the reason must contain)
    "bow-tie polygon": ("grids", lambda d: _grids_file(d / "g.geojson", 2, "620105.001.001.05", "cell", BOW_TIE),
                        2, "invalid geometry: Self-intersection[103.825 36.025]"),
    "empty geometry": ("places", lambda d: _places_geo(d / "p.gpkg", 2, Point()), 2, "empty geometry"),
    "null geometry": ("places", lambda d: _places_geo(d / "p.geojson", 3, None), 3, "missing or unreadable geometry"),
    "wrong geometry type": ("places", lambda d: _places_geo(d / "p.geojson", 2, LINE),
                            2, "geometry must be a Point, got LineString"),
    "polygon where a point goes": ("places", lambda d: _places_geo(d / "p.gpkg", 1, WEST),
                                   1, "geometry must be a Point, got Polygon"),
    "longitude out of range": ("places", lambda d: _places_csv(d / "p.csv", 3, lon=200),
                               3, "longitude 200 out of range [-180, 180]"),
    "swapped lon/lat": ("places", lambda d: _places_csv(d / "p.csv", 2, lon=36.05, lat=103.86),
                        2, "latitude 103.86 out of range [-90, 90] (lon/lat swapped?)"),
    "projected point far outside its zone": ("places", lambda d: _gk_places_gpkg(d / "p.gpkg", 2, (500_000, 1e12)),
                                             2, "coordinates cannot be converted to WGS 84"),
    "NaN coordinate": ("places", lambda d: _places_csv(d / "p.csv", 2, lon="nan"),
                       2, "coordinates are not numbers (NaN)"),
    "text coordinate": ("places", lambda d: _places_csv(d / "p.csv", 1, lat="36,05"), 1, "lat '36,05' is not a number"),
    "blank coordinate": ("places", lambda d: _places_csv(d / "p.csv", 2, lon=""), 2, "missing coordinates (lon/lat)"),
    "unknown place kind": ("places", lambda d: _places_csv(d / "p.csv", 2, kind="zoo"), 2, "kind: 'zoo' is not one of"),
    "blank required value": ("places", lambda d: _places_csv(d / "p.csv", 3, name=""), 3, "name is required"),
    "ref repeated in file": ("places", lambda d: _places_csv(d / "p.csv", 3, ref="P1"), 3, "ref P1 repeats row 1"),
    "ref already in ledger": ("houses", lambda d: _houses_csv(d / "h.csv", 2, ref="H1"), 2, "ref H1 already exists"),
    "floors out of range": ("houses", lambda d: _houses_csv(d / "h.csv", 1, floors=0),
                            1, "floors: 0 is outside 1..200"),
    "unknown house_ref": ("persons", lambda d: _persons_csv(d / "p.csv", 2, house_ref="H9"),
                          2, "house_ref H9 does not exist"),
    "bad ID check digit": ("persons", lambda d: _persons_csv(d / "p.csv", 3, id_number=ID_WRONG_CHECK),
                           3, "id_number: ID number check character should be 3"),
    "bad birth date": ("persons", lambda d: _persons_csv(d / "p.csv", 1, birth_date="1990-13-01"),
                       1, "birth_date: '1990-13-01' is not a real date"),
    "unknown tag": ("persons", lambda d: _persons_csv(d / "p.csv", 2, tags="party_member;vip"),
                    2, "tags: unknown code(s) vip"),
    "household in another house": ("persons", lambda d: _persons_csv(d / "p.csv", 3, household_ref="HH1",
                                                                     house_ref="H2"),
                                   3, "household HH1 is in house H1 (row 1), not H2"),
    "unknown parent grid": ("grids", lambda d: _grids_file(d / "g.gpkg", 3, "620105.009.001", "community", EAST),
                            3, "parent grid 620105.009 does not exist"),
    "grid already exists": ("grids", lambda d: _grids_file(d / "g.gpkg", 1, "620105.001.001.02", "cell", EAST),
                            1, "code 620105.001.001.02 already exists"),
    "code depth does not match level": ("grids", lambda d: _grids_file(d / "g.gpkg", 2, "620105.001.001.05",
                                                                       "community", EAST),
                                        2, "code 620105.001.001.05 has 4 part(s) but a community grid needs 3"),
    "unknown category": ("events", lambda d: _events_csv(d / "e.csv", 2, category="aliens"),
                         2, "category aliens does not exist"),
    "due before reported": ("events", lambda d: _events_csv(d / "e.csv", 1, due_at="2026-11-01T07:59"),
                            1, "due_at is before reported_at"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_each_bad_input_names_its_row_and_reason_and_writes_nothing(town, tmp_path, case):
    kind, make, row, reason = BAD_INPUTS[case]
    path = make(tmp_path)
    before = counts(town)
    with pytest.raises(LoadError) as caught:
        load_file(town, kind, path)
    assert [r for r, _ in caught.value.problems] == [row]
    assert reason in caught.value.problems[0][1]
    assert f"row {row}: " in str(caught.value) and "nothing was written" in str(caught.value)
    assert counts(town) == before
    assert not list(tmp_path.glob("*.rejects.csv"))


@pytest.mark.parametrize(("kind", "rows", "missing"), [
    ("persons", [{"name": "x", "gender": "M", "birth_date": "1990-01-01", "relation": "head", "household_ref": "HH1"}],
     "house_ref"),
    ("places", [{"name": "x", "kind": "park", "lon": 103.86}], "geometry (lon/lat"),
    ("events", [{"title": "x", "source": "sensor", "reported_at": "2026-11-01", "lon": 103.86, "lat": 36.05}],
     "category"),
])
def test_a_missing_required_column_is_refused_before_any_row_work(town, tmp_path, kind, rows, missing):
    before = counts(town)
    with pytest.raises(LoadError) as caught:
        load_file(town, kind, write_csv(tmp_path / "in.csv", rows))
    assert f"missing required column(s): {missing}" in str(caught.value)
    assert caught.value.problems == []
    assert counts(town) == before


@pytest.mark.filterwarnings("ignore:Column names longer than 10", "ignore:Normalized/laundered field name")
def test_shapefile_truncated_column_names_still_match(town, tmp_path):
    frame = gpd.GeoDataFrame({"title": ["t"], "category": ["noise"], "source": ["sensor"],
                              "reported_at": ["2026-11-01T08:00:00+08:00"]}, geometry=[Point(103.81, 36.02)], crs=4326)
    frame.to_file(tmp_path / "events.shp")  # the driver cuts reported_at to reported_a
    assert load_file(town, "events", tmp_path / "events.shp").rows_written == 1


def test_unknown_kind_crs_and_file_are_load_errors(town, tmp_path):
    path = _places_csv(tmp_path / "p.csv", 1)
    with pytest.raises(LoadError, match="unknown kind 'cats'"):
        load_file(town, "cats", path)
    with pytest.raises(LoadError, match="unknown crs 'mars'"):
        load_file(town, "places", path, crs="mars")
    with pytest.raises(LoadError, match="no such file"):
        load_file(town, "places", tmp_path / "absent.gpkg")


def test_a_database_refusal_rolls_everything_back(town, tmp_path, monkeypatch):
    # let a duplicate ref past our checks: the UNIQUE constraint refuses the COPY and nothing stays
    monkeypatch.setattr("data.loaders.load.check_references", lambda *args: {})
    path = write_csv(tmp_path / "h.csv", [{"ref": "H3", "address": "a", "lon": 103.82, "lat": 36.02},
                                          {"ref": "H1", "address": "b", "lon": 103.82, "lat": 36.02}])
    before = counts(town)
    with pytest.raises(LoadError, match="the database refused the load, nothing was written: duplicate key"):
        load_file(town, "houses", path, skip_invalid=True)
    assert counts(town) == before
    assert not (tmp_path / "h.rejects.csv").exists()


# ---------------------------------------------------------------- skip_invalid


def test_skip_invalid_writes_good_rows_and_a_rejects_file(town, tmp_path):
    path = write_csv(tmp_path / "places.csv", [
        {"name": "市场", "kind": "market", "ref": "P1", "lon": 103.81, "lat": 36.01},
        {"name": "坏点", "kind": "market", "ref": "P2", "lon": 36.05, "lat": 103.86},
        {"name": "加油站", "kind": "gas_station", "ref": "P3", "lon": 103.86, "lat": 36.05},
        {"name": "动物园", "kind": "zoo", "ref": "P4", "lon": 103.86, "lat": 36.05},
    ])
    before = counts(town)
    report = load_file(town, "places", path, skip_invalid=True)
    assert (report.rows_read, report.rows_written) == (4, 2)
    assert [r for r, _ in report.rejects] == [2, 4] and all(type(r) is int for r, _ in report.rejects)
    assert report.rejects_path == tmp_path / "places.rejects.csv"
    assert counts(town) == {**before, "place": before["place"] + 2}
    assert [r[0] for r in stored_points(town, "place")] == ["P1", "P3"]
    assert scalar(town, "SELECT is_key FROM place WHERE ref = 'P3'") is True  # gas stations are key places
    rejects = pd.read_csv(report.rejects_path, dtype=str, keep_default_na=False)
    assert list(rejects.columns) == ["name", "kind", "ref", "lon", "lat", "row", "reason"]
    assert rejects.ref.tolist() == ["P2", "P4"] and rejects.row.tolist() == ["2", "4"]
    assert rejects.lon.tolist() == ["36.05", "103.86"]
    assert "swapped" in rejects.reason[0] and "'zoo'" in rejects.reason[1]
    # the rejects file is itself loadable once fixed: row and reason are columns the loader ignores
    rejects.loc[0, ["lon", "lat"]] = ["103.86", "36.05"]
    rejects.loc[1, "kind"] = "park"
    rejects.to_csv(tmp_path / "fixed.csv", index=False)
    assert load_file(town, "places", tmp_path / "fixed.csv").rows_written == 2
    assert [r[0] for r in stored_points(town, "place")] == ["P1", "P2", "P3", "P4"]


def test_skip_invalid_takes_a_rejected_grids_subtree_with_it(town, tmp_path):
    path = tmp_path / "grids.gpkg"
    grid_frame([
        ("620106", "新区", "district", NEAR),
        ("620106.003", "坏街道", "street", BOW_TIE),
        ("620106.003.001", "坏街道的社区", "community", NEAR),
        ("620106.003.001.01", "坏街道的网格", "cell", NEAR),
        ("620106.001", "新街道", "street", NEAR),
    ]).to_file(path)
    target = tmp_path / "out" / "grid_rejects.csv"
    target.parent.mkdir()
    report = load_file(town, "grids", path, skip_invalid=True, rejects_path=target)
    assert report.rows_written == 2
    assert [(r, reason.split(":")[0]) for r, reason in report.rejects] == [
        (2, "invalid geometry"),
        (3, "parent grid 620106.003 is rejected"),
        (4, "parent grid 620106.003.001 is rejected"),
    ]
    with town.connect() as conn:
        codes = conn.execute(text("SELECT code FROM grid WHERE code LIKE '620106%' ORDER BY code")).scalars().all()
    assert codes == ["620106", "620106.001"]
    rejects = pd.read_csv(target, dtype=str)
    assert rejects.code.tolist() == ["620106.003", "620106.003.001", "620106.003.001.01"]
    assert rejects.wkt[0].startswith("POLYGON ((103.8 36")  # the original geometry, to fix and load again


def test_skip_invalid_persons_only_make_households_for_good_rows(town, tmp_path):
    path = _persons_csv(tmp_path / "persons.csv", 2, house_ref="H9")
    report = load_file(town, "persons", path, skip_invalid=True)
    assert report.rows_written == 2
    with town.connect() as conn:
        assert conn.execute(text("SELECT ref FROM household ORDER BY ref")).scalars().all() == ["HH1", "HH3"]
    assert report.rejects == [(2, "house_ref H9 does not exist")]


# ---------------------------------------------------------------- grids tile their parents


def load_grids(engine, path: Path, rows, **options):
    grid_frame(rows).to_file(path)
    return load_file(engine, "grids", path, **options)


def geodesic_m2(geom) -> float:
    return abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])


def m2_in(message: str) -> int:
    return int(re.search(r"(\d+) m²", message)[1])


def test_a_complete_set_of_grids_loads_with_no_warnings(empty_db, tmp_path):
    # WEST's corner sits mid-way along TOWN's 9 km north edge: straight in lon/lat, bowed 1 m in UTM
    rows = GRIDS + [("620106", "新区", "district", NEAR), ("620106.001", "西街道", "street", NEAR_WEST),
                    ("620106.002", "东街道", "street", NEAR_EAST)]
    before = counts(empty_db)
    report = load_grids(empty_db, tmp_path / "grids.gpkg", rows)
    assert (report.rows_written, report.rejects, report.warnings) == (8, [], [])
    assert counts(empty_db)["grid"] == before["grid"] + 8


def test_overlapping_siblings_are_rejected_naming_both(town, tmp_path):
    path = tmp_path / "grids.gpkg"
    wide_west = box(103.90, 36.00, 103.96, 36.10)  # 0.01 degrees into NEAR_EAST
    across = box(103.84, 36.00, 103.86, 36.01)  # over both current cells of 620105.001.001
    rows = [("620106", "新区", "district", NEAR), ("620106.001", "西街道", "street", wide_west),
            ("620106.002", "东街道", "street", NEAR_EAST), ("620105.001.001.03", "跨格", "cell", across)]
    before = counts(town)
    with pytest.raises(LoadError) as caught:
        load_grids(town, path, rows)
    assert counts(town) == before
    problems = dict(caught.value.problems)
    assert sorted(problems) == [2, 3, 4]
    assert problems[2] == problems[3]
    assert problems[2].startswith("620106.001 (row 2) and 620106.002 (row 3) overlap by ")
    assert m2_in(problems[2]) == pytest.approx(geodesic_m2(wide_west & NEAR_EAST), rel=0.005)
    assert "620105.001.001.03 (row 4) and current grid 620105.001.001.01 overlap by " in problems[4]
    assert "620105.001.001.03 (row 4) and current grid 620105.001.001.02 overlap by " in problems[4]
    report = load_file(town, "grids", path, skip_invalid=True)
    assert (report.rows_written, [r for r, _ in report.rejects]) == (1, [2, 3, 4])
    assert report.warnings == []  # no child of 620106 was written: no gap to speak of yet


def test_a_grid_sticking_out_of_its_parent_is_rejected_with_its_subtree(town, tmp_path):
    path = tmp_path / "grids.gpkg"
    too_wide = box(103.90, 36.00, 104.01, 36.10)  # 0.01 degrees (~900 m) east of NEAR
    rows = [("620106", "新区", "district", NEAR), ("620106.001", "宽街道", "street", too_wide),
            ("620106.001.001", "宽街道的社区", "community", NEAR_WEST)]
    before = counts(town)
    with pytest.raises(LoadError) as caught:
        load_grids(town, path, rows)
    assert counts(town) == before
    problems = dict(caught.value.problems)
    assert sorted(problems) == [2, 3]
    assert problems[2].startswith("grid 620106.001 sticks out of its parent 620106 by ")
    assert m2_in(problems[2]) == pytest.approx(geodesic_m2(too_wide - NEAR), rel=0.005)
    assert problems[3] == "parent grid 620106.001 is rejected"
    report = load_file(town, "grids", path, skip_invalid=True)
    assert (report.rows_written, [r for r, _ in report.rejects]) == (1, [2, 3])


@pytest.mark.parametrize(("overhang", "rejected"), [(0.02, False), (0.2, True)])
def test_the_tolerance_is_five_centimetres_against_a_parent_in_the_ledger(town, tmp_path, overhang, rejected):
    assert load_grids(town, tmp_path / "district.gpkg", [("620106", "新区", "district", NEAR)]).rows_written == 1
    south = 36.00 - overhang / METRES_PER_DEGREE_LAT
    path = tmp_path / "street.gpkg"
    rows = [("620106.001", "西街道", "street", box(103.90, south, 103.95, 36.10))]
    before = counts(town)
    if not rejected:
        assert load_grids(town, path, rows).rows_written == 1
        return
    with pytest.raises(LoadError) as caught:
        load_grids(town, path, rows)
    assert counts(town) == before
    [(row, reason)] = caught.value.problems
    assert row == 1 and "sticks out of its parent 620106 by " in reason
    assert re.search(r"up to 0\.(19|20|21) m \(tolerance 0\.05 m\)", reason), reason


def test_a_gap_is_reported_as_a_warning_with_its_area_and_written(town, tmp_path):
    before = counts(town)
    report = load_grids(town, tmp_path / "first.gpkg", [("620106", "新区", "district", NEAR),
                                                         ("620106.001", "西街道", "street", NEAR_WEST)])
    assert (report.rows_written, report.rejects) == (2, [])
    assert counts(town)["grid"] == before["grid"] + 2
    [warning] = report.warnings
    assert re.fullmatch(r"children of 620106 leave \d+ m² of it uncovered", warning), warning
    assert m2_in(warning) == pytest.approx(geodesic_m2(NEAR_EAST), rel=0.005)
    # the rest of the children in a later file close the gap, checked against the sibling already loaded
    report = load_grids(town, tmp_path / "rest.gpkg", [("620106.002", "东街道", "street", NEAR_EAST)])
    assert (report.rows_written, report.warnings) == (1, [])
