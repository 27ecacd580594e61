"""`/analyst/hotspots` and `/analyst/coverage`: folium maps of layers.analysis_maps, in Chromium with the network
closed; bad parameters are 400s; the same maps build in a notebook with no server and no network."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from layers import analysis_maps
from tests.conftest import offline_page



@pytest.fixture
def page(browser):
    page = offline_page(browser, console_errors=True, viewport={"width": 1280, "height": 800})
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def category(city_engine):
    """The category with the most events in the tiny city: a selection that is never empty."""
    with city_engine.connect() as conn:
        return conn.execute(text("SELECT category FROM event GROUP BY category ORDER BY count(*) DESC, category "
                                 "LIMIT 1")).scalar_one()


def shows(page, server, url: str) -> None:
    response = page.goto(server + url, wait_until="load")
    assert response.ok, (url, response.status)
    page.wait_for_selector(".leaflet-interactive")
    assert page.locator(".minqing-legend .row").count() >= 2
    assert page.left_the_machine == [] and page.broken == [], url


@pytest.mark.parametrize("kind", ["hotspots", "emerging", "heat"])
def test_hotspot_maps_draw_offline_with_a_legend(page, server, category, kind):
    shows(page, server, f"/analyst/hotspots?kind={kind}&category={category}&resolution=8")
    legend = page.text_content(".minqing-legend")
    assert {"hotspots": "热点（99%置信）", "emerging": "加剧", "heat": "高"}[kind] in legend
    assert "件事件" in legend  # the note says how many events the map stands on


@pytest.fixture(scope="module")
def planted(city_engine):
    """One of the generator's planted clusters: its category and window as query parameters."""
    with city_engine.connect() as conn:
        row = conn.execute(text("SELECT category, starts_at, ends_at FROM demo_hotspot ORDER BY id LIMIT 1")).first()
    assert row is not None, "the tiny city plants hot spots"
    return urlencode({"category": row[0], "from": row[1].isoformat(), "to": row[2].isoformat(), "resolution": 9})


def test_hotspot_classes_are_the_stored_runs(page, server, client, planted):
    shows(page, server, f"/analyst/hotspots?{planted}")
    api = client.get(f"/api/analysis/hotspots?{planted}").get_json()
    expected = sorted((f["id"], f["properties"]["cls"]) for f in api["features"])
    drawn = page.evaluate("""() => { const out = []; for (const k in window) { const l = window[k];
        if (k.startsWith("geo_json_") && l && l.toGeoJSON) {
            for (const f of l.toGeoJSON().features) out.push([f.properties.cell, f.properties.cls]); } }
        return out; }""")
    assert expected and sorted(map(tuple, drawn)) == expected


@pytest.mark.parametrize("kind", ["visits", "reach", "staff", "party", "grid"])
def test_coverage_maps_draw_offline_with_a_legend(page, server, kind):
    if kind == "grid":  # no gaps in the tiny city: only the cells' outlines are drawn
        response = page.goto(f"{server}/analyst/coverage?kind=grid", wait_until="load")
        assert response.ok
        page.wait_for_selector(".leaflet-interactive")
        assert "未覆盖 0 平方米" in page.text_content(".minqing-legend")
        assert page.left_the_machine == [] and page.broken == []
        return
    shows(page, server, f"/analyst/coverage?kind={kind}" + ("&facility=school" if kind == "reach" else ""))
    legend = page.text_content(".minqing-legend")
    assert {"visits": "走访覆盖", "reach": "15分钟生活圈", "staff": "网格员负荷", "party": "党组织覆盖"}[kind] in legend


@pytest.mark.parametrize("url, field", [
    ("/analyst/hotspots?kind=volcano", "kind"),
    ("/analyst/hotspots?resolution=16", "resolution"),
    ("/analyst/hotspots?resolution=abc", "resolution"),
    ("/analyst/hotspots?category=no_such_thing", "category"),
    ("/analyst/hotspots?from=2026-05-01&to=2026-01-01", "from"),
    ("/analyst/coverage?kind=everything", "kind"),
    ("/analyst/coverage?kind=reach&facility=casino", "facility"),
])
def test_bad_parameters_are_400_naming_the_field(client, url, field):
    response = client.get(url)
    assert response.status_code == 400, response.data[:300]
    assert response.get_json()["error"]["field"] == field


def test_an_empty_selection_is_an_empty_map_not_an_error(client, category):
    response = client.get(f"/analyst/hotspots?category={category}&from=1999-01-01&to=1999-02-01")
    assert response.status_code == 200
    assert "minqing-legend" in response.text and "0 件事件" in response.text


def test_citizens_get_no_maps(client, city_engine):
    with city_engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (username, display_name, role, scope) VALUES "
                          "('maps_citizen', 'c', 'citizen', '{}') ON CONFLICT (username) DO NOTHING"))
    for url in ("/analyst/hotspots", "/analyst/coverage"):
        assert client.get(url, headers={"X-Demo-User": "maps_citizen"}).status_code == 403


def test_a_scoped_caller_sees_only_its_cells(client, city_engine):
    with city_engine.connect() as conn:
        user, scope = conn.execute(text(
            "SELECT username, scope::text[] FROM app_user WHERE NOT disabled AND role <> 'citizen' "
            "AND cardinality(scope) > 0 ORDER BY username LIMIT 1")).one()
        inside, outside = conn.execute(text(
            "SELECT array_agg(code) FILTER (WHERE path <@ CAST(:s AS ltree[])), "
            "array_agg(code) FILTER (WHERE NOT path <@ CAST(:s AS ltree[])) "
            "FROM grid WHERE valid_to IS NULL AND level = 'cell'"), {"s": scope}).one()
    body = client.get("/analyst/coverage?kind=staff", headers={"X-Demo-User": user}).text
    assert all(f'"code": "{c}"' in body for c in inside)
    assert not any(f'"code": "{c}"' in body for c in outside or ())


def test_the_pages_load_nothing_from_a_cdn(client):
    for url in ("/analyst/hotspots", "/analyst/coverage?kind=staff"):
        body = client.get(url).text
        assert "/assets/leaflet/dist/leaflet.js" in body
        assert "cdn" not in body.lower() and "https://" not in body


def test_a_notebook_map_inlines_leaflet_and_needs_no_server(city_conn):
    from data import coverage

    m = analysis_maps.coverage_map(city_conn, coverage.party_coverage(city_conn))
    body = m.get_root().render()
    head = body.split("</head>")[0]
    assert "data:text/javascript;base64," in head and "https://" not in head and 'src="http' not in head
    assert "党组织覆盖" in body
