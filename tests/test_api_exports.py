"""Exports hold exactly the rows the list holds, in every format, with a name that says what they are."""
from __future__ import annotations

import csv
import io
import json

import pyogrio
import pytest
import shapely


QUERY = {"category": "noise,environment,dispute", "from": "2026-02-01"}


@pytest.fixture(scope="module")
def listed(client) -> dict[int, dict]:
    body = client.get("/api/events", query_string={**QUERY, "limit": 1000}).get_json()
    assert body["total"] == len(body["features"]) > 0
    return {f["id"]: f for f in body["features"]}


def download(client, fmt: str):
    response = client.get("/api/events/export", query_string={**QUERY, "format": fmt})
    assert response.status_code == 200 and response.is_streamed
    disposition = response.headers["Content-Disposition"]
    assert "events_all-grids_2026-02-01_to_now_noise_environment_dispute_made-" in disposition
    assert disposition.rstrip('"').endswith(f".{fmt}")
    return response.get_data()


def test_geojson_export_is_rfc7946_and_matches_the_list(client, listed):
    body = json.loads(download(client, "geojson"))
    assert body["type"] == "FeatureCollection"
    assert {f["id"] for f in body["features"]} == set(listed)
    for feature in body["features"]:
        assert feature["geometry"]["coordinates"] == pytest.approx(listed[feature["id"]]["geometry"]["coordinates"])


def test_csv_export_has_lon_lat_and_matches_the_list(client, listed):
    text = download(client, "csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {int(r["id"]) for r in rows} == set(listed)
    assert {"lon", "lat", "title", "grid"} <= set(rows[0])
    assert any("附近" in r["title"] for r in rows)  # Chinese survives the round trip


def test_geopackage_export_reads_back_with_pyogrio(client, listed, tmp_path):
    path = tmp_path / "events.gpkg"
    path.write_bytes(download(client, "gpkg"))
    frame = pyogrio.read_dataframe(path)
    assert set(frame.id) == set(listed)
    assert frame.crs.to_epsg() == 4326
    first = frame.iloc[0]
    assert [first.geometry.x, first.geometry.y] == pytest.approx(listed[first.id]["geometry"]["coordinates"])


def test_a_drawn_area_exports_what_the_search_finds(client):
    area = shapely.geometry.mapping(shapely.box(103.6, 35.95, 103.9, 36.15))
    found = client.post("/api/events/search", json={"geometry": area, "limit": 1000, "category": "noise"}).get_json()
    response = client.post("/api/events/search/export", json={"geometry": area, "category": "noise",
                                                               "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert {int(r["id"]) for r in rows} == {f["id"] for f in found["features"]}
    assert "drawn-area" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("fmt", ["geojson", "csv", "gpkg"])
def test_an_empty_export_is_a_well_formed_file(client, fmt, tmp_path):
    response = client.get("/api/events/export", query_string={"from": "1990-01-01", "to": "1990-01-02",
                                                               "format": fmt})
    assert response.status_code == 200
    data = response.get_data()
    if fmt == "geojson":
        assert json.loads(data)["features"] == []
    elif fmt == "csv":
        assert data.decode("utf-8-sig").strip() == "id"
    else:
        (tmp_path / "e.gpkg").write_bytes(data)
        assert len(pyogrio.read_dataframe(tmp_path / "e.gpkg")) == 0


def test_an_unknown_format_says_why(client):
    response = client.get("/api/events/export", query_string={"format": "xlsx"})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "format"
