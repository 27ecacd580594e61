"""Houses, places, things, organizations and residents in an area, against independent counts."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import text


KINDS = {"houses": "house", "places": "place", "things": "thing", "organizations": "organization"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_pin_kind_pages_through_a_drawn_area(client, city_engine, kind):
    pins = gpd.read_postgis(f"SELECT id, kind, geom FROM {KINDS[kind]}", city_engine, geom_col="geom")
    minx, miny, maxx, maxy = pins.total_bounds
    area = shapely.box(minx, miny, (minx + maxx) / 2, maxy)
    expected = set(pins.id[pins.intersects(area)])
    ids, body = [], {"geometry": shapely.geometry.mapping(area), "limit": 7}
    while True:
        page = client.post(f"/api/{kind}/search", json=body).get_json()
        assert page["total"] == len(expected)
        ids += [f["id"] for f in page["features"]]
        if not page["cursor"]:
            break
        body["cursor"] = page["cursor"]
    assert sorted(ids) == sorted(expected) and expected


def test_kind_and_grid_filters(client, city_engine):
    with city_engine.connect() as conn:
        community, expected = conn.execute(text(
            "SELECT subpath(g.path, 0, 3)::text AS c, count(*) FROM place p JOIN grid g ON g.id = p.grid_id "
            "WHERE p.kind IN ('clinic', 'restaurant') GROUP BY 1 ORDER BY 2 DESC LIMIT 1")).one()
    body = client.get("/api/places", query_string={"grid": community, "kind": "clinic,restaurant"}).get_json()
    assert body["total"] == expected
    assert {f["properties"]["kind"] for f in body["features"]} <= {"clinic", "restaurant"}
    bad = client.get("/api/places", query_string={"kind": "spaceport"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "kind"


def test_residents_are_counts_per_grid_and_sensitive_only_for_person_level_roles(client, city_engine):
    with city_engine.begin() as conn:
        people = conn.execute(text("SELECT count(*) FROM person")).scalar_one()
        for name, role in (("pins_analyst", "analyst"), ("pins_worker", "grid_worker")):
            conn.execute(text("INSERT INTO app_user (username, display_name, role, scope) SELECT :u, :u, :r, "
                              "ARRAY[path] FROM grid WHERE level = 'district' ON CONFLICT DO NOTHING"),
                         {"u": name, "r": role})
    analyst = client.get("/api/residents", headers={"X-Demo-User": "pins_analyst"}).get_json()
    worker = client.get("/api/residents", headers={"X-Demo-User": "pins_worker"}).get_json()
    assert analyst["total"]["residents"] == worker["total"]["residents"] == people
    assert "key_persons" not in analyst["total"] and "key_persons" in worker["total"]
    assert all("name" in r and "grid" in r and "id_number" not in r for r in analyst["rows"])
