"""Every pin belongs to the finest current grid containing it — kept true by the database itself."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely import wkb
from sqlalchemy import text

PINNED = ("house", "place", "thing", "organization", "event", "visit")


def current_leaves(conn) -> gpd.GeoDataFrame:
    return gpd.read_postgis(
        "SELECT g.id AS grid_id, g.code, g.geom FROM grid g WHERE g.valid_to IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM grid k WHERE k.valid_to IS NULL AND k.path <@ g.path AND k.id <> g.id)",
        conn, geom_col="geom")


def recount(conn, table: str) -> tuple[int, list]:
    """Independent check with geopandas: for each pin, the leaves covering it and the smallest code."""
    pins = gpd.read_postgis(f"SELECT id, grid_id, geom FROM {table}", conn, geom_col="geom")
    leaves = current_leaves(conn)
    joined = gpd.sjoin(pins, leaves, how="left", predicate="covered_by", lsuffix="pin", rsuffix="leaf")
    expected = joined.sort_values("code").groupby("id").first()
    wrong = expected[expected.grid_id_pin.fillna(-1) != expected.grid_id_leaf.fillna(-1)]
    return len(pins), wrong.index.tolist()


@pytest.mark.parametrize("table", PINNED)
def test_every_pin_is_in_the_grid_that_contains_it(city_engine, table):
    with city_engine.connect() as conn:
        count, wrong = recount(conn, table)
        outside = conn.execute(text(f"SELECT count(*) FROM {table} WHERE grid_id IS NULL")).scalar_one()
    assert count > 0
    assert wrong == []
    assert outside == 0  # the demo city keeps every pin inside its boundary


def test_pins_land_only_in_leaf_grids(city_engine):
    with city_engine.connect() as conn:
        levels = conn.execute(text(
            "SELECT DISTINCT g.level FROM event e JOIN grid g ON g.id = e.grid_id")).scalars().all()
    assert levels == ["cell"]


def _cell_pair(conn):
    """Two adjacent current cells and a vertex of their shared edge that no third grid touches."""
    row = conn.execute(text("""
        WITH pair AS (
          SELECT a.code AS low, b.code AS high, ST_Intersection(a.geom, b.geom) AS edge
          FROM grid a JOIN grid b ON a.level = 'cell' AND b.level = 'cell' AND a.code < b.code
            AND subpath(a.path, 0, 3) = subpath(b.path, 0, 3)
            AND a.valid_to IS NULL AND b.valid_to IS NULL AND a.kind = 'regular' AND b.kind = 'regular'
            AND ST_Dimension(ST_Intersection(a.geom, b.geom)) = 1
        )
        SELECT low, high, ST_AsBinary(v.geom)
        FROM pair, ST_DumpPoints(pair.edge) v
        WHERE (SELECT count(*) FROM grid g WHERE g.valid_to IS NULL AND g.level = 'cell'
               AND ST_Covers(g.geom, v.geom)) = 2
        ORDER BY low, high, v.path LIMIT 1""")).one()
    return row[0], row[1], wkb.loads(bytes(row[2]))


def _insert_house(conn, point) -> int:
    return conn.execute(text(
        "INSERT INTO house (address, geom) VALUES ('测试', ST_SetSRID(ST_GeomFromText(:wkt), 4326)) RETURNING id"),
        {"wkt": point.wkt}).scalar_one()


def _grid_code_of(conn, table: str, pin_id: int) -> str | None:
    return conn.execute(text(
        f"SELECT g.code FROM {table} p LEFT JOIN grid g ON g.id = p.grid_id WHERE p.id = :id"), {"id": pin_id}
    ).scalar_one()


def test_point_on_a_shared_edge_goes_to_the_smaller_code(city_conn):
    low, high, on_edge = _cell_pair(city_conn)
    house = _insert_house(city_conn, on_edge)
    assert _grid_code_of(city_conn, "house", house) == low
    covering = city_conn.execute(text(
        "SELECT count(*) FROM grid WHERE valid_to IS NULL AND level = 'cell' AND ST_Covers(geom, "
        "ST_SetSRID(ST_GeomFromText(:wkt), 4326))"), {"wkt": on_edge.wkt}).scalar_one()
    assert covering == 2  # really on the edge, so the rule decided it


def test_point_outside_every_grid_is_kept_and_flagged(city_conn):
    house = _insert_house(city_conn, shapely.Point(10.0, 10.0))
    row = city_conn.execute(text("SELECT grid_id, outside_grid FROM house WHERE id = :id"), {"id": house}).one()
    assert row == (None, True)


def test_writers_cannot_choose_a_grid(city_conn):
    low, high, on_edge = _cell_pair(city_conn)
    inside_low = city_conn.execute(text(
        "SELECT ST_AsText(ST_PointOnSurface(geom)) FROM grid WHERE code = :c AND valid_to IS NULL"),
        {"c": low}).scalar_one()
    house = _insert_house(city_conn, shapely.from_wkt(inside_low))
    other = city_conn.execute(text("SELECT id FROM grid WHERE code = :c AND valid_to IS NULL"), {"c": high}).scalar_one()
    city_conn.execute(text("UPDATE house SET grid_id = :g WHERE id = :id"), {"g": other, "id": house})
    assert _grid_code_of(city_conn, "house", house) == low


def test_moving_a_pin_moves_it_between_grids(city_conn):
    low, high, _ = _cell_pair(city_conn)
    event_id, reported = city_conn.execute(text(
        "SELECT e.id, e.reported_grid_id FROM event e JOIN grid g ON g.id = e.grid_id WHERE g.code = :c LIMIT 1"),
        {"c": low}).one()
    city_conn.execute(text(
        "UPDATE event SET geom = (SELECT ST_PointOnSurface(geom) FROM grid WHERE code = :c AND valid_to IS NULL) "
        "WHERE id = :id"), {"c": high, "id": event_id})
    assert _grid_code_of(city_conn, "event", event_id) == high
    # the grid at report time is the record and does not follow the pin
    assert city_conn.execute(text("SELECT reported_grid_id FROM event WHERE id = :id"),
                             {"id": event_id}).scalar_one() == reported


def test_boundary_change_reassigns_every_affected_pin(city_conn):
    """Move the shared edge of two cells: close both versions, insert new ones; pins follow."""
    low, high, _ = _cell_pair(city_conn)
    # give `high`'s whole area to `low`: the simplest edge move, and `high` retires
    city_conn.execute(text("UPDATE grid SET valid_to = now() WHERE code IN (:a, :b) AND valid_to IS NULL"),
                      {"a": low, "b": high})
    city_conn.execute(text("""
        INSERT INTO grid (code, name, level, kind, geom, version)
        SELECT a.code, a.name, a.level, a.kind, ST_Multi(ST_Union(a.geom, b.geom)), a.version + 1
        FROM grid a, grid b
        WHERE a.code = :a AND b.code = :b AND a.valid_to IS NOT NULL AND b.valid_to IS NOT NULL"""),
        {"a": low, "b": high})
    for table in PINNED:
        count, wrong = recount(city_conn, table)
        assert wrong == [], table
    moved = city_conn.execute(text(
        "SELECT count(*) FROM event e JOIN grid g ON g.id = e.grid_id WHERE g.code = :b"), {"b": high}).scalar_one()
    assert moved == 0
    unassigned = city_conn.execute(text("SELECT count(*) FROM event WHERE grid_id IS NULL")).scalar_one()
    assert unassigned == 0


def test_closing_every_child_makes_the_parent_the_leaf_again(city_conn):
    community = city_conn.execute(text(
        "SELECT subpath(path, 0, 3)::text FROM grid WHERE level = 'cell' AND valid_to IS NULL LIMIT 1")).scalar_one()
    city_conn.execute(text("UPDATE grid SET valid_to = now() WHERE valid_to IS NULL AND path <@ CAST(:c AS ltree) "
                           "AND level = 'cell'"), {"c": community})
    for table in PINNED:
        assert recount(city_conn, table)[1] == [], table
    codes = city_conn.execute(text(
        "SELECT DISTINCT g.code FROM house h JOIN grid g ON g.id = h.grid_id WHERE g.path <@ CAST(:c AS ltree)"),
        {"c": community}).scalars().all()
    assert codes == [community]


def test_recoding_grids_refreshes_old_and_new_ancestors(city_conn):
    """Move a community's cells under another community by code: the emptied community is a leaf again
    (its pieces rebuilt although no row with its code changed), and every pin is recounted."""
    first, second = city_conn.execute(text(
        "SELECT code FROM grid WHERE level = 'community' AND valid_to IS NULL ORDER BY code LIMIT 2")).scalars().all()
    city_conn.execute(text(
        "UPDATE grid SET code = :second || '.7' || right(code, 2) "
        "WHERE valid_to IS NULL AND level = 'cell' AND path <@ CAST(:first AS ltree)"),
        {"first": first, "second": second})
    for table in PINNED:
        assert recount(city_conn, table)[1] == [], table
    pieces = city_conn.execute(text("SELECT count(*) FROM grid_leaf_piece WHERE code = :c"), {"c": first}).scalar_one()
    assert pieces > 0
    assert first in set(current_leaves(city_conn).code)
    assert second not in set(current_leaves(city_conn).code)


@pytest.fixture(scope="module")
def own_city(tiny_city):
    """A private copy of the tiny city for tests that must commit (the shared one stays as loaded)."""
    from data.demo.load import load
    from tests.conftest import db_name, migrated_engine

    engine = migrated_engine(db_name("assignment_commits"))
    load(engine, tiny_city, progress=False)
    yield engine
    engine.dispose()


def test_a_pin_written_during_an_uncommitted_edit_follows_the_edit(own_city):
    """Session A merges two cells; B inserts a house inside one of them before A commits."""
    import threading

    city_engine = own_city

    with city_engine.connect() as probe:
        low, high, _ = _cell_pair(probe)
        inside_high = probe.execute(text(
            "SELECT ST_AsText(ST_PointOnSurface(geom)) FROM grid WHERE code = :c AND valid_to IS NULL"),
            {"c": high}).scalar_one()
    a = city_engine.connect()
    tx = a.begin()
    try:
        a.execute(text("UPDATE grid SET valid_to = now() WHERE code IN (:a, :b) AND valid_to IS NULL"),
                  {"a": low, "b": high})
        a.execute(text("""
            INSERT INTO grid (code, name, level, kind, geom, version)
            SELECT x.code, x.name, x.level, x.kind, ST_Multi(ST_Union(x.geom, y.geom)), x.version + 1
            FROM grid x, grid y WHERE x.code = :a AND y.code = :b AND x.valid_to IS NOT NULL
              AND y.valid_to IS NOT NULL AND x.version = (SELECT max(version) FROM grid WHERE code = :a)
              AND y.version = (SELECT max(version) FROM grid WHERE code = :b)"""), {"a": low, "b": high})
        inserted: list[int] = []

        def writer():
            with city_engine.begin() as b:
                inserted.append(_insert_house(b, shapely.from_wkt(inside_high)))

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # B waits for A's edit instead of reading the pieces A is replacing
        tx.commit()
        thread.join(timeout=10)
        assert inserted
        with city_engine.connect() as check:
            assert _grid_code_of(check, "house", inserted[0]) == low
            current = check.execute(text("SELECT h.grid_id = g.id FROM house h, grid g WHERE h.id = :h "
                                         "AND g.code = :a AND g.valid_to IS NULL"), {"h": inserted[0], "a": low}
                                    ).scalar_one()
            assert current
    finally:
        a.close()
