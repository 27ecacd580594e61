"""Pages against script injection: a reflected `?as=` and a stored grid name never run, in the HTML and in
Chromium with the Content-Security-Policy enforced; only the app's own inline scripts carry the nonce."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from data import users
from data.errors import Refused
from data.grid_edits import Edit
from data.settings import Settings
from mapserver import create_app
from tests.conftest import offline_page, serving

PAYLOAD = "</script><script>window.pwned = 1; alert(1)</script>"
EVIL_NAME = "</title><script>window.pwned = 1; alert(1)</script><img src=x onerror=alert(2)>"
PASSWORD = "pages tests password"
SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S)


def inline_scripts(html: str) -> list[tuple[str, str]]:
    """(attributes, body) of every <script> without a src."""
    return [(attrs, body) for attrs, body in SCRIPT.findall(html) if "src=" not in attrs]


def assert_only_own_scripts(html: str, response) -> None:
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    scripts = inline_scripts(html)
    assert scripts and all(f'nonce="{nonce}"' in attrs for attrs, _ in scripts)
    assert not any(body.lstrip().startswith("window.pwned") for _, body in scripts)


@pytest.fixture(scope="module")
def evil_cell(city_engine):
    """A cell whose stored name is markup (written past Edit.parse, as an old row or a direct SQL edit might)."""
    with city_engine.begin() as conn:
        code, name = conn.execute(text("SELECT code, name FROM grid WHERE level = 'cell' AND valid_to IS NULL "
                                       "ORDER BY code LIMIT 1")).one()
        conn.execute(text("UPDATE grid SET name = :n WHERE code = :c AND valid_to IS NULL"), {"n": EVIL_NAME, "c": code})
    yield code
    with city_engine.begin() as conn:
        conn.execute(text("UPDATE grid SET name = :n WHERE code = :c AND valid_to IS NULL"), {"n": name, "c": code})


@pytest.fixture(scope="module")
def session_app(city_engine):
    """Demo login off, as in production: a real session from the login form."""
    url = city_engine.url.render_as_string(hide_password=False)
    with city_engine.begin() as conn:
        users.add(conn, "pages_admin", "admin", (), PASSWORD)
    yield create_app(Settings(database_url=url, tick_seconds=0), {"TESTING": True, "SECRET_KEY": "pages-tests"})
    with city_engine.begin() as conn:
        conn.execute(text("DELETE FROM app_user WHERE username = 'pages_admin'"))


def test_as_is_not_echoed_without_demo_login(session_app):
    client = session_app.test_client()
    form = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/login", data={"username": "pages_admin", "password": PASSWORD,
                                       "csrf_token": csrf}).status_code == 302
    response = client.get("/", query_string={"as": PAYLOAD})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "pwned" not in html and '"as": null' in html
    assert_only_own_scripts(html, response)


def test_as_is_escaped_in_demo_mode(client):
    response = client.get("/", query_string={"as": PAYLOAD}, headers={"X-Demo-User": "admin"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert_only_own_scripts(html, response)
    assert "\\u003c/script\\u003e\\u003cscript\\u003ewindow.pwned" in html  # there, as a harmless JS string


def test_a_grid_name_is_escaped_in_the_editor_title(client, evil_cell):
    response = client.get(f"/grids/{evil_cell}/edit", headers={"X-Demo-User": "admin"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<title>民情地图 · 边界调整 · &lt;/title&gt;&lt;script&gt;" in html
    assert_only_own_scripts(html, response)
    assert "<img src=x" not in html


@pytest.mark.parametrize("name", ["<b>x</b>", "a\nb", "tab\there", "\x7f", "x" * 65, "", 5])
def test_edits_refuse_names_with_markup_control_characters_or_too_long(name):
    body = {"grids": [{"code": "a.b", "geometry": {"type": "Point", "coordinates": [0, 0]}, "name": name}]}
    with pytest.raises(Refused) as refused:
        Edit.parse(body)
    assert refused.value.field == "name"


def test_edits_keep_ordinary_names():
    body = {"grids": [{"code": "a.b", "geometry": {"type": "Point", "coordinates": [0, 0]}, "name": "城关　一社区 (东)"}]}
    assert Edit.parse(body).entries[0].name == "城关　一社区 (东)"


def _visit(browser, url: str) -> dict:
    page = offline_page(browser, extra_http_headers={"X-Demo-User": "admin"}, bypass_csp=False)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    seen = {"pwned": page.evaluate("() => window.pwned === undefined ? null : window.pwned"), "dialogs": dialogs,
            "map": page.evaluate("() => !!document.querySelector('.leaflet-container')")}
    page.context.close()
    return seen


def test_injected_scripts_do_not_run_in_chromium(browser, app, evil_cell):
    gen = serving(app)
    base = next(gen)
    try:
        command = _visit(browser, f"{base}/?as={PAYLOAD}")
        editor = _visit(browser, f"{base}/grids/{evil_cell}/edit")
    finally:
        next(gen, None)
    assert command == {"pwned": None, "dialogs": [], "map": True}
    assert editor == {"pwned": None, "dialogs": [], "map": True}
