"""App-level hardening: /healthz tells nothing about the server's credentials and refuses an old schema, the QR
secret is never a constant, and client addresses come from trusted proxies only."""
from __future__ import annotations

import logging
import stat

from flask import request
from sqlalchemy import text

from data import migrate
from data.settings import Settings
from mapserver import create_app

OLD_QR_CONSTANT = "minqing-demo-qr-secret"


def _app(city_engine, **settings):
    url = city_engine.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url, tick_seconds=0, **settings),
                      {"TESTING": True, "SECRET_KEY": "app-tests", "MINQING_DEMO_LOGIN": True})


def test_healthz_names_no_host_port_or_user_and_logs_the_detail(caplog):
    url = "postgresql://secret_user:pw@127.0.0.1:1/nowhere"
    app = create_app(Settings(database_url=url, tick_seconds=0, connect_timeout_s=1), {"TESTING": True})
    with caplog.at_level(logging.WARNING):
        response = app.test_client().get("/healthz")
    body = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["database"] == "unreachable"
    assert not any(leak in body for leak in ("127.0.0.1", "secret_user", ":1", "nowhere", "port"))
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records)  # the operator still sees why


def test_a_schema_below_the_head_is_a_503_and_a_warning_at_start(city_engine, caplog):
    head = migrate.head_revision()
    with city_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001_old'"))
    try:
        with caplog.at_level(logging.WARNING):
            app = _app(city_engine)
        assert any("0001_old" in r.getMessage() and head in r.getMessage() for r in caplog.records)
        response = app.test_client().get("/healthz")
        assert response.status_code == 503 and response.get_json()["schema"] == "behind"
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": head})
    response = _app(city_engine).test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json()["schema"] == head


def test_an_unset_qr_secret_is_generated_into_a_private_file(tmp_path, city_engine):
    path = tmp_path / "var" / "qr_secret"
    assert Settings.from_env({}).qr_secret != OLD_QR_CONSTANT
    first = Settings.from_env({"MINQING_QR_SECRET_FILE": str(path)}).with_stored_secrets()
    again = Settings(qr_secret_file=str(path)).with_stored_secrets()
    assert first.qr_secret == again.qr_secret == path.read_text() and len(first.qr_secret) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(qr_secret="set", qr_secret_file=str(tmp_path / "unused")).with_stored_secrets().qr_secret == "set"
    app = _app(city_engine, qr_secret_file=str(path))
    assert app.extensions["minqing.settings"].qr_secret == first.qr_secret


def _remote_addr(app) -> str:
    app.add_url_rule("/_test/remote_addr", "remote_addr", lambda: request.remote_addr)
    return app.test_client().get("/_test/remote_addr", headers={"X-Forwarded-For": "203.0.113.7"},
                                 environ_base={"REMOTE_ADDR": "10.0.0.2"}).get_data(as_text=True)


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(city_engine):
    assert Settings.from_env({}).trusted_proxies == 0
    assert _remote_addr(_app(city_engine)) == "10.0.0.2"  # a client cannot pick its own rate-limit bucket
    proxied = _app(city_engine, trusted_proxies=Settings.from_env({"MINQING_TRUSTED_PROXIES": "1"}).trusted_proxies)
    assert _remote_addr(proxied) == "203.0.113.7"
