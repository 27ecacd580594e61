"""Every HTML page of the product loads in headless Chromium with the network closed: nothing tries to leave
the machine, every asset loads, no script fails. Pages are found from the app's routes, so a new page is
checked without editing this file (a page with path parameters needs a way to build its URL below)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from data import intake, qrcodes
from mapserver.citizen import CITIZEN
from tests.conftest import offline_page

SETTLE_MS = 1500  # after `load`: pages fetch tiles and JSON once scripts run


def openapi_path(rule) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule).replace("{layer_id}", "{layer}")


def html_routes(app) -> list[str]:
    """GET routes documented as answering 200 with text/html, and `/` whatever it serves."""
    paths = app.test_client().get("/openapi.json").get_json()["paths"]
    found = {"/"}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule.endswith((".json", ".xml", ".pbf")):
            continue  # the same document for apps (/track/<number>.json shares its page's description)
        responses = paths.get(openapi_path(rule), {}).get("get", {}).get("responses", {})
        if "text/html" in (responses.get("200", {}).get("content") or {}):
            found.add(rule.rule)
    return sorted(found)


@pytest.fixture(scope="module")
def some_cell(city_engine):
    with city_engine.connect() as conn:
        return conn.execute(text(
            "SELECT code FROM grid WHERE valid_to IS NULL AND level = 'cell' ORDER BY code LIMIT 1")).scalar_one()


@pytest.fixture(scope="module")
def filed(city_engine, some_cell):
    """A citizen's report for the tracking page, deleted afterwards with its log."""
    with city_engine.begin() as conn:
        category = conn.execute(text("SELECT code FROM event_category ORDER BY code LIMIT 1")).scalar_one()
        done = intake.submit(conn, intake.NewReport(category=category, description="路灯不亮，晚上很黑。",
                                                    source="citizen_qr", grid_code=some_cell), actor=CITIZEN)
    yield done.tracking_no
    with city_engine.begin() as conn:
        conn.execute(text("UPDATE event SET possible_duplicate_of = NULL WHERE possible_duplicate_of = :i"),
                     {"i": done.id})
        conn.execute(text("DELETE FROM event_log WHERE event_id = :i"), {"i": done.id})
        conn.execute(text("DELETE FROM event WHERE id = :i"), {"i": done.id})


@pytest.fixture(scope="module")
def page_urls(app, some_cell, filed) -> dict[str, str]:
    secret = app.extensions["minqing.settings"].qr_secret
    builders = {
        "/report/<grid_code>": f"/report/{some_cell}?sig={qrcodes.sign(secret, some_cell)}",
        "/track/<number>": f"/track/{filed}",
        "/grids/<code>/edit": f"/grids/{some_cell}/edit",
    }
    urls = {}
    for route in html_routes(app):
        if "<" not in route:
            urls[route] = route
        else:
            assert route in builders, f"page {route} has path parameters: add how to build its URL here"
            urls[route] = builders[route]
    return urls


def test_the_known_pages_are_found(page_urls):
    assert {"/", "/overview", "/analyst", "/report/<grid_code>", "/track/<number>"} <= set(page_urls)


@pytest.fixture
def closed_page(browser):
    page = offline_page(browser, console_errors=True, bypass_csp=False, viewport={"width": 1280, "height": 800})
    yield page
    page.context.close()


@pytest.mark.parametrize("route", ["/", "/overview", "/analyst", "/report/<grid_code>", "/track/<number>",
                                   "others"])
def test_every_page_loads_only_from_this_machine(closed_page, server, page_urls, route):
    if route == "others":
        routes = sorted(set(page_urls) - {"/", "/overview", "/analyst", "/report/<grid_code>", "/track/<number>"})
    else:
        routes = [route]
    for r in routes:
        response = closed_page.goto(server + page_urls[r], wait_until="load")
        assert response is not None and response.ok, (r, response and response.status)
        assert "text/html" in response.headers.get("content-type", ""), r
        closed_page.wait_for_timeout(SETTLE_MS)
        assert closed_page.left_the_machine == [], (r, closed_page.left_the_machine)
        assert closed_page.broken == [], (r, closed_page.broken)
