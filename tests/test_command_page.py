"""The command centre's live map in a real headless Chromium with the network closed: local assets only,
grids drawn, a posted report on the page within a second, overdue turns its grid red, a dropped stream
loses nothing, and a scoped commander sees only their area. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from data import workflow
from tests.conftest import offline_page

ARTIFACTS = Path(__file__).parent / "artifacts"

# the situation layer's colours as drawn (fillOpacity 0.45 over the white map)
PIXEL_AT = """([lon, lat]) => {
  const layer = MinqingCommand.layers.situation, map = layer._map, z = map.getZoom();
  const p = map.project([lat, lon], z), size = layer.getTileSize();
  const key = Math.floor(p.x / size.x) + ':' + Math.floor(p.y / size.y) + ':' + z;
  const tile = layer._tiles[key];
  if (!tile || !tile.el.getContext) { return null; }
  const d = tile.el.getContext('2d').getImageData(Math.floor(p.x % size.x), Math.floor(p.y % size.y), 1, 1).data;
  return [d[0], d[1], d[2], d[3]];
}"""


@pytest.fixture(scope="module")
def app(city_engine):
    from data.settings import Settings
    from mapserver import create_app

    url = city_engine.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url), {"TESTING": True, "MINQING_DEMO_LOGIN": True, "MINQING_VERSION_TTL": 0,
                                                    "MINQING_STREAM_KEEPALIVE": 1.0})


@pytest.fixture(scope="module")
def cells(city_engine):
    """Two regular cells with a point inside each: one in leader1's community, one outside it."""
    with city_engine.connect() as conn:
        (scope,) = conn.execute(text("SELECT scope::text[] FROM app_user WHERE username = 'leader1'")).one()
        rows = conn.execute(text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat FROM grid "
            "WHERE level = 'cell' AND kind = 'regular' AND valid_to IS NULL ORDER BY code")).mappings().all()
    inside = [r for r in rows if any(r["code"].startswith(s + ".") for s in scope)]
    outside = [r for r in rows if r not in inside]
    return {"mine": inside[0], "other": outside[0], "scope": scope}


@pytest.fixture
def page(browser, server):
    page = offline_page(browser, viewport={"width": 1400, "height": 900})
    yield page
    page.context.close()


def open_page(page, server, query: str = "") -> None:
    page.goto(f"{server}/{query}")
    page.wait_for_function("window.minqingReady !== undefined && window.minqingLive.connected === true")
    page.evaluate("window.minqingReady")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"command_{name}.png"))


def post_report(page, cell, user: str | None = "admin") -> int:
    """POST /api/events from inside the page, as a grid worker's phone would (by default as the admin, who may
    file in any grid: the page's own caller is a commander, who files none)."""
    headers = {"Content-Type": "application/json", **({"X-Demo-User": user} if user else {})}
    body = {"category": "noise", "description": "指挥中心测试: 夜间施工噪音", "lon": cell["lon"], "lat": cell["lat"]}
    response = page.evaluate("""([body, headers]) => fetch('/api/events', {method: 'POST', headers: headers,
        body: JSON.stringify(body)}).then(r => r.json())""", [body, headers])
    return response["properties"]["id"]


def wait_tiles(page) -> None:
    page.wait_for_function("""() => { const l = MinqingCommand.layers.situation;
        return l._map && Object.keys(l._tiles).length > 0 && !l._loading; }""")
    page.wait_for_timeout(150)


def test_the_page_loads_only_from_this_server_and_draws_the_grids(page, server, app):
    open_page(page, server)
    wait_tiles(page)
    painted = page.evaluate("""() => { const l = MinqingCommand.layers.situation; let n = 0;
        Object.values(l._tiles).forEach(t => { const c = t.el, d = c.getContext('2d').getImageData(0, 0, c.width,
            c.height).data; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) { n++; } } }); return n; }""")
    assert painted > 10_000  # non-background pixels in the grid layer's canvases
    summary = app.test_client().get("/api/live/summary").get_json()
    assert page.text_content("#c-open") == str(summary["open"])
    assert page.text_content("#c-overdue") == str(summary["overdue"])
    assert page.locator("#latest li").count() == len(summary["latest"])
    assert page.locator(".leaflet-control-scale").is_visible()
    assert page.locator("#legend .entry").count() >= 3
    shot(page, "green")
    for view, layer in (("red", "organizations"), ("blue", "places")):
        page.click(f"#views button[data-view={view}]")
        assert page.evaluate(f"MinqingCommand.layers.{layer}._map !== null && MinqingCommand.layers.situation._map "
                             "=== null") or page.evaluate(f"!!MinqingCommand.layers.{layer}._map")
        page.wait_for_timeout(400)
        shot(page, view)
    page.click("#views button[data-view=green]")
    page.locator("#latest li").first.click()
    page.wait_for_function("window.minqingLive.flewTo !== undefined")
    assert page.left_the_machine == [] and page.broken == []


def test_a_posted_report_is_on_the_page_within_a_second(page, server, app, cells, own_events):
    open_page(page, server)
    before = app.test_client().get("/api/live/summary").get_json()
    latencies = []
    for _ in range(5):
        started = time.monotonic()
        event_id = post_report(page, cells["mine"])
        page.wait_for_function(f"document.querySelector('#latest li[data-id=\"{event_id}\"]') !== null",
                               timeout=1000)
        latencies.append(time.monotonic() - started)
    page.wait_for_function(f"document.getElementById('c-today').textContent === '{before['today'] + 5}'",
                           timeout=1000)
    assert page.text_content("#c-open") == str(before["open"] + 5)
    assert page.evaluate("MinqingCommand.layers && window.minqingLive.lastReport.event_id") == event_id
    print(f"report → visible: max {max(latencies) * 1000:.0f} ms, mean {sum(latencies) / 5 * 1000:.0f} ms")
    assert max(latencies) < 1.0
    shot(page, "live_report")
    assert page.left_the_machine == [] and page.broken == []


def test_a_case_turning_overdue_turns_its_grid_red_and_raises_the_alarm(page, server, app, city_engine, cells,
                                                                        own_events):
    open_page(page, server)
    page.select_option("select[name=window]", "24")  # only today's cases: the demo's older ones are all overdue
    cell = cells["mine"]
    page.evaluate("([lon, lat]) => MinqingCommand.layers.situation._map.setView([lat, lon], 15)",
                  [cell["lon"], cell["lat"]])
    wait_tiles(page)
    page.evaluate(f"() => {{ window.pixelAt = {PIXEL_AT}; }}")
    at = f"window.pixelAt([{cell['lon']}, {cell['lat']}])"
    green = page.evaluate(at)
    assert green[1] > green[0] and green[1] > green[2], green
    event_id = post_report(page, cell)
    page.wait_for_function(f"() => {{ const p = {at}; return p !== null && p[0] > 200 && p[1] > 150; }}",
                           timeout=3000)  # yellow
    # each overdue stage escalates one level up with a fresh deadline (the flag is cleared); at the district,
    # with no one above, the case stays overdue
    for month in range(1, 6):
        with city_engine.begin() as conn:
            result = workflow.tick(conn, now=datetime.now(timezone.utc) + timedelta(days=30 * month), only=[event_id])
        assert result.overdue == 1
        if not result.escalated:
            break
    assert not result.escalated
    page.wait_for_function("window.minqingLive.alarm !== undefined", timeout=2000)
    assert page.locator("#alarm").is_visible() and str(event_id) in page.text_content("#alarm-text")
    page.wait_for_function(f"() => {{ const p = {at}; return p !== null && p[0] > 180 && p[1] < 120; }}",
                           timeout=3000)  # red
    page.wait_for_timeout(600)  # the other tiles of the redraw, for the screenshot
    shot(page, "overdue_red")
    assert page.left_the_machine == [] and page.broken == []


def test_a_dropped_stream_loses_no_event(page, server, app, cells, own_events):
    open_page(page, server)
    first = post_report(page, cells["mine"])
    page.wait_for_function(f"document.querySelector('#latest li[data-id=\"{first}\"]') !== null")
    page.wait_for_timeout(500)  # the counters' refresh after it is done too
    page.evaluate("MinqingCommand.disconnect()")
    heard = page.evaluate("window.minqingLive.received.length")
    missed = [post_report(page, cells["mine"]) for _ in range(3)]
    page.wait_for_timeout(500)
    assert page.evaluate("window.minqingLive.received.length") == heard  # really offline
    page.evaluate("MinqingCommand.connect()")  # with ?last_event_id= (EventSource cannot set the header)
    for event_id in missed:
        page.wait_for_function(f"document.querySelector('#latest li[data-id=\"{event_id}\"]') !== null",
                               timeout=2000)
    received = page.evaluate("window.minqingLive.received")
    assert len(received) == len(set(received))  # and nothing twice
    assert page.left_the_machine == [] and page.broken == []


@pytest.mark.parametrize("user", ["street1", "leader1"])
def test_a_scoped_commander_sees_only_their_area(page, server, app, city_engine, cells, own_events, user):
    open_page(page, server, f"?as={user}")
    wait_tiles(page)
    expected = app.test_client().get("/api/live/summary", headers={"X-Demo-User": user}).get_json()
    assert page.text_content("#c-open") == str(expected["open"])
    with city_engine.connect() as conn:
        (scope,) = conn.execute(text("SELECT scope::text[] FROM app_user WHERE username = :u"), {"u": user}).one()
    grids = [li.get_attribute("data-id") for li in page.locator("#latest li").all()]
    assert grids and all(g in {str(e["id"]) for e in expected["latest"]} for g in grids)
    assert all(any(e["grid"].startswith(s) for s in scope) for e in expected["latest"])
    # the live feed too: a report outside the area never reaches this page, one inside does
    outside_scope = not any(cells["other"]["code"].startswith(s) for s in scope)
    outside = post_report(page, cells["other"])
    inside = post_report(page, cells["mine"])
    page.wait_for_function(f"document.querySelector('#latest li[data-id=\"{inside}\"]') !== null", timeout=1500)
    if outside_scope:
        assert page.locator(f'#latest li[data-id="{outside}"]').count() == 0
    tiles = page.evaluate("performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/tiles/'))")
    assert tiles and all(f"as={user}" in t for t in tiles)
    shot(page, f"scoped_{user}")
    assert page.left_the_machine == [] and page.broken == []


def test_a_click_on_the_map_tells_what_is_here(page, server, app, cells):
    open_page(page, server)
    cell = cells["mine"]
    page.evaluate("([lon, lat]) => MinqingCommand.layers.situation._map.setView([lat, lon], 16, {animate: false})",
                  [cell["lon"], cell["lat"]])
    wait_tiles(page)
    x, y = page.evaluate("""([lon, lat]) => { const map = MinqingCommand.layers.situation._map;
        const p = map.latLngToContainerPoint([lat, lon]), box = map.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y]; }""", [cell["lon"], cell["lat"]])
    page.mouse.click(x, y)
    page.wait_for_selector(".command-popup", timeout=3000)
    popup = page.text_content(".command-popup")
    grid = app.test_client().get(f"/api/grids/{cell['code']}").get_json()["properties"]
    if page.evaluate("window.minqingLive.popup.grid") is not None:  # no event within a few pixels: the grid
        assert "网格长" in popup and "户数" in popup and str(grid["households"]) in popup
    else:
        assert "类别" in popup and "期限" in popup
    event = app.test_client().get("/api/live/summary").get_json()["latest"][0]
    page.evaluate("([lon, lat]) => MinqingCommand.layers.situation._map.setView([lat, lon], 18, {animate: false})",
                  [event["lon"], event["lat"]])
    wait_tiles(page)
    x, y = page.evaluate("""([lon, lat]) => { const map = MinqingCommand.layers.situation._map;
        const p = map.latLngToContainerPoint([lat, lon]), box = map.getContainer().getBoundingClientRect();
        return [box.left + p.x, box.top + p.y]; }""", [event["lon"], event["lat"]])
    page.mouse.click(x, y)
    page.wait_for_function("window.minqingLive.popup && window.minqingLive.popup.event !== undefined", timeout=3000)
    popup = page.text_content(".command-popup")
    assert "类别" in popup and "状态" in popup and "期限" in popup
    assert page.locator(".command-popup").is_visible()
    page.wait_for_timeout(400)  # the popup's pan
    shot(page, "identify_event")
    assert page.left_the_machine == [] and page.broken == []
