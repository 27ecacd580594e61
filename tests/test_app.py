"""The app factory, `/healthz` and the overview page, against the tiny city."""
from __future__ import annotations

import pytest
from sqlalchemy import make_url, text

from data import migrate
from data.settings import Settings
from mapserver import create_app


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema"] == migrate.head_revision()
    assert body["postgis"].startswith("3.")


def test_healthz_says_503_when_the_database_is_unreachable(city_engine):
    url = make_url(city_engine.url.render_as_string(hide_password=False)).set(port=1)
    app = create_app(Settings(database_url=url.render_as_string(hide_password=False)), {"TESTING": True, "MINQING_DEMO_LOGIN": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["database"] == "unreachable"


def test_overview_lists_every_current_grid_with_counts(client, city_engine):
    response = client.get("/overview")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    with city_engine.connect() as conn:
        codes = conn.execute(text("SELECT code, name FROM grid WHERE valid_to IS NULL")).all()
    assert codes and all(code in page and name in page for code, name in codes)
    assert "网格总览" in page and "专属" in page


def test_overview_counts_roll_up_the_tree(client, city_engine):
    body = client.get("/api/overview").get_json()
    with city_engine.connect() as conn:
        households, residents = conn.execute(text(
            "SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM person)")).one()
    district = next(g for g in body["grids"] if g["level"] == "district")
    assert district["households"] == households == body["totals"]["households"]
    assert district["residents"] == residents
    cells = [g for g in body["grids"] if g["level"] == "cell"]
    assert sum(g["households"] for g in cells) == households
    assert body["totals"]["pins_outside_grids"] == 0


def test_root_is_the_command_centre_and_the_overview_stays(client):
    response = client.get("/")
    assert response.status_code == 200 and "指挥中心" in response.get_data(as_text=True)
    assert client.get("/overview").status_code == 200


def test_unknown_path_is_a_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == 404


@pytest.mark.parametrize("sql,status", [
    ("SELECT pg_sleep(2)", 503),  # statement_timeout below
    ("INSERT INTO department (id, code, name, name_en) VALUES (1, 'dup', 'x', 'x')", 409),
    ("SELECT 1/0", 400),
    ("SELECT * FROM no_such_table", 500),
])
def test_database_failures_answer_json_with_a_reason(city_engine, sql, status):
    from flask import Blueprint

    from mapserver import db

    url = city_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, statement_timeout_ms=500), {"TESTING": True, "MINQING_DEMO_LOGIN": True})
    bp = Blueprint("boom", __name__)
    bp.get("/boom")(lambda: str(db.connection().execute(text(sql)).first()))
    app.register_blueprint(bp)
    response = app.test_client().get("/boom")
    assert response.status_code == status
    assert response.get_json()["error"]["reason"]
    if status == 503:
        assert response.headers["Retry-After"]


@pytest.mark.parametrize("body", ["[" * 100_000, '{"geometry": NaN}', '{"limit": Infinity}', '{"a": -Infinity}'])
def test_bodies_are_strict_json_and_never_a_500(client, body):
    response = client.post("/api/events/search", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "Failed to decode JSON" in response.get_json()["error"]["reason"]  # refused as JSON, not later
