"""For the same area, period and kinds: the API count, every export, the statistics total and the
summed tile counts agree with each other and with an independent recount in geopandas."""
from __future__ import annotations

import csv
import io
import json
import tempfile

import geopandas as gpd
import pyogrio
import pytest
import shapely
from sqlalchemy import text

from tests.test_tiles import decode, tiles_covering

FILTERS = {"from": "2026-01-15", "category": ["noise", "environment", "dispute", "property", "safety_hazard"]}


@pytest.fixture(scope="module")
def exported_events(client) -> gpd.GeoDataFrame:
    """Every event matching the non-area filters, from the GeoJSON export: what the recount starts from."""
    body = client.get("/api/events/export", query_string={**FILTERS, "format": "geojson"}).get_data()
    return gpd.GeoDataFrame.from_features(json.loads(body)["features"], crs=4326)


@pytest.fixture(scope="module")
def district(city_engine):
    with city_engine.connect() as conn:
        return conn.execute(text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM grid "
                                 "WHERE level = 'district'")).one()


def areas(client, district):
    west, south, east, north = district
    w, h = east - west, north - south
    community = client.get("/api/grids").get_json()["grids"][0]["children"][0]["children"][1]["code"]
    crossing = shapely.Polygon([(west + w * .2, south + h * .2), (west + w * .75, south + h * .3),
                                (west + w * .6, south + h * .8), (west + w * .3, south + h * .7)])
    outer = shapely.box(west + w * .1, south + h * .1, west + w * .9, south + h * .9)
    holed = shapely.Polygon(outer.exterior.coords, [shapely.box(west + w * .35, south + h * .35, west + w * .65,
                                                                south + h * .65).exterior.coords])
    return {"grid": {"grid": community},
            "bbox": {"bbox": f"{west + w * .25},{south + h * .25},{west + w * .8},{south + h * .7}"},
            "polygon crossing grids": {"geometry": shapely.geometry.mapping(crossing)},
            "polygon with a hole": {"geometry": shapely.geometry.mapping(holed)}}


def recount(client, events: gpd.GeoDataFrame, area: dict) -> int:
    """Independently: sjoin the exported events with the area's polygon (a grid's, from its export)."""
    if "grid" in area:
        grid = client.get(f"/api/grids/{area['grid']}").get_json()
        polygon = gpd.GeoDataFrame.from_features([grid], crs=4326)
    elif "bbox" in area:
        polygon = gpd.GeoDataFrame(geometry=[shapely.box(*map(float, area["bbox"].split(",")))], crs=4326)
    else:
        polygon = gpd.GeoDataFrame(geometry=[shapely.geometry.shape(area["geometry"])], crs=4326)
    return len(gpd.sjoin(events, polygon[["geometry"]], predicate="intersects").index.unique())


def readers(client, area: dict, district) -> dict[str, int]:
    drawn = "geometry" in area
    body = {**FILTERS, **area}
    listed = (client.post("/api/events/search", json={**body, "limit": 1}) if drawn
              else client.get("/api/events", query_string={**body, "limit": 1})).get_json()["total"]
    stats = (client.post("/api/stats/events/search", json={**body, "by": "category"}) if drawn
             else client.get("/api/stats/events", query_string={**body, "by": "category"})).get_json()
    counts = {"api": listed, "stats total": stats["total"]["count"],
              "stats rows": sum(r["count"] for r in stats["rows"])}
    for fmt in ("geojson", "csv", "gpkg"):
        data = (client.post("/api/events/search/export", json={**body, "format": fmt}) if drawn
                else client.get("/api/events/export", query_string={**body, "format": fmt})).get_data()
        if fmt == "geojson":
            counts[fmt] = len(json.loads(data)["features"])
        elif fmt == "csv":
            counts[fmt] = len(list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")))))
        else:
            with tempfile.NamedTemporaryFile(suffix=".gpkg") as stored:
                stored.write(data)
                stored.flush()
                counts[fmt] = len(pyogrio.read_dataframe(stored.name))
    tile_query = {**FILTERS, **({"geometry": json.dumps(area["geometry"])} if drawn else area)}
    counts["tiles"] = sum(f["properties"]["count"] for x, y in tiles_covering(tuple(district), 10)
                          for f in decode(client.get(f"/tiles/events/10/{x}/{y}.pbf", query_string=tile_query))
                          .get("events", {}).get("features", []))
    return counts


@pytest.mark.parametrize("name", ["grid", "bbox", "polygon crossing grids", "polygon with a hole"])
def test_every_reader_agrees_with_an_independent_recount(client, district, exported_events, name):
    area = areas(client, district)[name]
    counts = readers(client, area, district)
    expected = recount(client, exported_events, area)
    assert expected > 0
    assert counts == {reader: expected for reader in counts}, (name, expected)
