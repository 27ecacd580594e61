"""The database itself refuses geometry that is invalid, empty, out of range, NaN or in the wrong SRID."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

BAD_POINTS = {
    "nan longitude": "ST_SetSRID(ST_MakePoint('NaN'::float8, 36), 4326)",
    "nan latitude": "ST_SetSRID(ST_MakePoint(103, 'NaN'::float8), 4326)",
    "longitude > 180": "ST_SetSRID(ST_MakePoint(181, 36), 4326)",
    "latitude < -90": "ST_SetSRID(ST_MakePoint(103, -91), 4326)",
    "empty": "'SRID=4326;POINT EMPTY'::geometry",
    "infinite": "ST_SetSRID(ST_MakePoint('Infinity'::float8, 36), 4326)",
}
CHECK = "geom_check"  # the constraint names PostgreSQL gives CHECK (geom_ok(geom))
BAD_POLYGONS = {
    # (SQL for the geometry, what must refuse it)
    "bow-tie": ("'SRID=4326;MULTIPOLYGON(((0 0,1 1,1 0,0 1,0 0)))'", CHECK),
    # GeoJSON input reaches the column without the WKT parser's ring check: the CHECK must catch it
    "unclosed ring": ("ST_SetSRID(ST_GeomFromGeoJSON('{\"type\":\"MultiPolygon\",\"coordinates\":"
                      "[[[[0,0],[1,0],[1,1],[0,1]]]]}'), 4326)", CHECK + "|closed rings"),
    "hole outside shell": ("'SRID=4326;MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0),(2 2,3 2,3 3,2 3,2 2)))'", CHECK),
    "out of range": ("'SRID=4326;MULTIPOLYGON(((0 0,200 0,200 1,0 1,0 0)))'", CHECK),
    "empty": ("'SRID=4326;MULTIPOLYGON EMPTY'", CHECK),
    "wrong srid": ("'SRID=3857;MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)))'", "SRID"),
}


@pytest.mark.parametrize("label", BAD_POINTS)
def test_bad_points_are_refused(city_conn, label):
    before = city_conn.execute(text("SELECT count(*) FROM house")).scalar_one()
    with pytest.raises(DBAPIError, match=CHECK):
        with city_conn.begin_nested():
            city_conn.execute(text(f"INSERT INTO house (address, geom) VALUES ('x', {BAD_POINTS[label]})"))
    assert city_conn.execute(text("SELECT count(*) FROM house")).scalar_one() == before


@pytest.mark.parametrize("label", BAD_POLYGONS)
def test_bad_grid_polygons_are_refused(city_conn, label):
    geometry, refused_by = BAD_POLYGONS[label]
    with pytest.raises(DBAPIError, match=refused_by):
        with city_conn.begin_nested():
            city_conn.execute(text(
                f"INSERT INTO grid (code, name, level, geom) VALUES ('1', 'x', 'district', {geometry})"))


def test_grid_code_depth_must_match_level(city_conn):
    with pytest.raises(DBAPIError, match="check constraint"):
        with city_conn.begin_nested():
            city_conn.execute(text(
                "INSERT INTO grid (code, name, level, geom) VALUES "
                "('1.2', 'x', 'cell', 'SRID=4326;MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)))')"))


def test_grid_versions_are_never_deleted(city_conn):
    with pytest.raises(DBAPIError, match="never deleted"):
        with city_conn.begin_nested():
            city_conn.execute(text("DELETE FROM grid WHERE level = 'cell'"))
    with pytest.raises(DBAPIError, match="never truncated"):
        with city_conn.begin_nested():
            city_conn.execute(text("TRUNCATE grid CASCADE"))


def test_an_events_grid_at_report_time_cannot_be_rewritten(city_conn):
    event, reported = city_conn.execute(text("SELECT id, reported_grid_id FROM event LIMIT 1")).one()
    city_conn.execute(text("UPDATE event SET reported_grid_id = 999999 WHERE id = :id"), {"id": event})
    assert city_conn.execute(text("SELECT reported_grid_id FROM event WHERE id = :id"),
                             {"id": event}).scalar_one() == reported


def test_person_tags_and_id_shape_are_checked(city_conn):
    household = city_conn.execute(text("SELECT min(id) FROM household")).scalar_one()
    sealed = "'010001' || repeat('00', 28)"  # format 1, key 1, 28 bytes of nonce and tag: a sealed shape
    sealed_id = f"decode({sealed}, 'hex'), decode(repeat('ab', 32), 'hex')"
    for column, value in (("tags", "'{not_a_tag}'"),
                          ("id_number_sealed, id_number_hmac, id_number_masked", f"{sealed_id}, '12345'"),
                          ("id_number_sealed, id_number_hmac, id_number_masked", f"{sealed_id}, NULL"),
                          ("id_number_sealed, id_number_hmac, id_number_masked",
                           "decode('00', 'hex'), decode(repeat('ab', 32), 'hex'), '990101********123X'")):
        with pytest.raises(DBAPIError, match="check constraint"):
            with city_conn.begin_nested():
                city_conn.execute(text(
                    f"INSERT INTO person (household_id, name, gender, birth_year, {column}) "
                    f"VALUES ({household}, '王五', 'M', 1980, {value})"))
    city_conn.execute(text(  # and the well-formed triple is accepted, so the refusals above are the checks'
        f"INSERT INTO person (household_id, name, gender, birth_year, id_number_sealed, id_number_hmac, "
        f"id_number_masked) VALUES ({household}, '王五', 'M', 1980, {sealed_id}, '990101********123X')"))
