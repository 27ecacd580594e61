"""The analyst's page in a real headless Chromium (Debian's, driven by Playwright), with the network
closed: every asset comes from this server, a polygon drawn with the mouse gives the API's count."""
from __future__ import annotations


import pytest
from tests.conftest import offline_page




@pytest.fixture
def page(browser, server):
    page = offline_page(browser, viewport={"width": 1400, "height": 900})
    yield page
    page.context.close()


def test_the_page_loads_only_from_this_server_and_counts_every_event(page, server, app):
    page.goto(f"{server}/analyst")
    page.wait_for_function("window.minqingReady !== undefined")
    page.evaluate("window.minqingReady")
    total = app.test_client().get("/api/events?limit=1").get_json()["total"]
    assert page.text_content("#count") == str(total)
    assert page.locator("#chart rect").count() >= 6  # a year of months
    assert page.locator(".leaflet-draw-draw-polygon").is_visible()
    assert page.left_the_machine == [] and page.broken == []


def test_drawing_a_polygon_selects_what_the_api_selects(page, server, app):
    page.goto(f"{server}/analyst")
    page.wait_for_function("window.minqingReady !== undefined")
    page.evaluate("window.minqingReady")
    box = page.locator(".folium-map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.click(".leaflet-draw-draw-polygon")
    corners = [(cx - 250, cy - 200), (cx + 250, cy - 200), (cx + 250, cy + 200), (cx - 250, cy + 200)]
    for x, y in corners + corners[:1]:  # back on the first vertex closes the polygon
        page.mouse.move(x, y, steps=5)  # Leaflet.draw follows the pointer between clicks, as a hand would
        page.wait_for_timeout(100)
        page.mouse.down()
        page.mouse.up()
        page.wait_for_timeout(100)
    page.wait_for_function("window.minqingArea && document.getElementById('area-note').textContent !== ''")
    area = page.evaluate("window.minqingArea")
    assert area["type"] == "Polygon"
    expected = app.test_client().post("/api/events/search", json={"geometry": area, "limit": 1}).get_json()["total"]
    page.wait_for_function(f"document.getElementById('count').textContent === '{expected}'")
    everything = app.test_client().get("/api/events?limit=1").get_json()["total"]
    assert 0 < expected < everything
    rows = page.locator("#results tbody tr").count()
    assert rows == min(expected, 500)

    page.click("#results th[data-key=id]")
    page.click("#results th[data-key=id]")  # second click: descending
    ids = [int(t) for t in page.locator("#results tbody tr td:first-child").all_text_contents()]
    assert ids == sorted(ids, reverse=True)
    assert page.left_the_machine == [] and page.broken == []


def test_filters_narrow_the_count_like_the_api(page, server, app):
    page.goto(f"{server}/analyst")
    page.wait_for_function("window.minqingReady !== undefined")
    page.evaluate("window.minqingReady")
    page.select_option("select[name=category]", ["noise", "dispute"])
    page.fill("input[name=from]", "2026-05-01")
    page.click("#filters button[type=submit]")
    expected = app.test_client().get("/api/events?category=noise,dispute&from=2026-05-01&limit=1").get_json()["total"]
    page.wait_for_function(f"document.getElementById('count').textContent === '{expected}'")
    assert page.left_the_machine == [] and page.broken == []
