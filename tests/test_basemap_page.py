"""With a GCJ-02 basemap configured, the command page draws it and asks every overlay in its datum."""
from __future__ import annotations

from dataclasses import replace

import pytest

from data import crs as coordinates
from mapserver.stream import frame

BASEMAP = "http://tiles.intranet.example/amap/{z}/{x}/{y}.png"


@pytest.fixture(scope="module")
def gcj_client(city_engine):
    from data.settings import Settings
    from mapserver import create_app

    settings = replace(Settings(database_url=city_engine.url.render_as_string(hide_password=False)),
                       basemap_url=BASEMAP, basemap_attribution="高德地图 (intranet mirror)", basemap_datum="gcj02")
    return create_app(settings, {"TESTING": True, "MINQING_DEMO_LOGIN": True, "MINQING_VERSION_TTL": 0}).test_client()


def test_the_page_draws_the_basemap_and_asks_tiles_in_its_datum(gcj_client, client):
    html = gcj_client.get("/").get_data(as_text=True)
    assert BASEMAP in html and "datum=gcj02&" in html and '"crs": "gcj02"' in html
    plain = client.get("/").get_data(as_text=True)
    assert "datum=" not in plain and "tiles.intranet.example" not in plain


def test_latest_reports_come_in_the_basemap_datum(gcj_client):
    wgs = gcj_client.get("/api/live/summary").get_json()["latest"][0]
    gcj = gcj_client.get("/api/live/summary?crs=gcj02").get_json()["latest"][0]
    (lon,), (lat,) = coordinates.from_wgs84([wgs["lon"]], [wgs["lat"]], "gcj02")
    assert (gcj["lon"], gcj["lat"]) == (round(float(lon), 7), round(float(lat), 7)) != (wgs["lon"], wgs["lat"])


def test_stream_messages_come_in_the_basemap_datum():
    message = {"log_id": 7, "action": "transition", "lon": 103.75, "lat": 36.06}
    (lon,), (lat,) = coordinates.from_wgs84([103.75], [36.06], "gcj02")
    assert f'"lon":{round(float(lon), 7)}' in frame(message, "gcj02") and '"lon":103.75' in frame(message)


def test_an_unknown_stream_crs_is_refused(client):
    assert client.get("/stream?crs=mars").status_code == 400
