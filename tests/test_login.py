"""Logging in: the form and its CSRF token, sessions, lockout, logout, and bearer tokens that expire and are revoked."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from data import api_tokens, users
from data.settings import Settings
from mapserver import create_app

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def login_app(city_engine):
    url = city_engine.url.render_as_string(hide_password=False)
    with city_engine.begin() as conn:
        users.add(conn, "login_t", "analyst", _district(conn), PASSWORD)
    yield create_app(Settings(database_url=url, tick_seconds=0), {"TESTING": True, "SECRET_KEY": "login-tests"})
    with city_engine.begin() as conn:
        conn.execute(text("DELETE FROM app_user WHERE username LIKE 'login_%'"))
        conn.execute(text("DELETE FROM login_failure"))


def _district(conn) -> tuple[str, ...]:
    return (conn.execute(text("SELECT code FROM grid WHERE valid_to IS NULL AND level = 'district'")).scalar_one(),)


def _csrf(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(client, username="login_t", password=PASSWORD, csrf=None, next_="/analyst"):
    return client.post("/login", data={"username": username, "password": password, "next": next_,
                                       "csrf_token": _csrf(client) if csrf is None else csrf})


def test_a_page_sends_the_anonymous_to_the_form_and_back_after_login(login_app):
    client = login_app.test_client()
    first = client.get("/analyst?x=1")
    assert first.status_code == 302 and first.headers["Location"] == "/login?next=/analyst?x%3D1"
    form = client.get("/login").get_data(as_text=True)
    assert "用户名" in form and "密码" in form and "https://" not in form  # local assets only
    done = _login(client)
    assert done.status_code == 302 and done.headers["Location"] == "/analyst"
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/analyst").status_code == 200
    assert client.get("/api/grids").status_code == 200


def test_wrong_password_and_missing_csrf_are_refused(login_app):
    client = login_app.test_client()
    assert _login(client, password="wrong password!").status_code == 401
    refused = _login(client, csrf="forged")
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]["reason"]
    assert client.get("/api/grids").status_code == 401
    assert _login(client, next_="https://evil.example/").headers["Location"] == "/"  # no open redirect


@pytest.mark.parametrize("target", ["/\\evil.example", "/\\/evil.example", "//evil.example", "/\t/evil.example",
                                    "/%0a/evil.example".replace("%0a", "\n"), "https://evil.example/",
                                    "/no/such/page", "javascript:alert(1)"])
def test_next_is_only_a_page_of_this_site(login_app, target):
    client = login_app.test_client()
    assert _login(client, next_=target).headers["Location"] == "/"
    assert f'value="/"' in client.get("/login", query_string={"next": target}).get_data(as_text=True)


def test_next_keeps_a_real_page_with_its_query(login_app):
    assert _login(login_app.test_client(), next_="/analyst?x=1").headers["Location"] == "/analyst?x=1"


def test_a_session_posting_from_another_site_needs_the_csrf_token(login_app):
    client = login_app.test_client()
    _login(client)
    body = {"geometry": {"type": "Point", "coordinates": [0, 0]}}
    cross = client.post("/api/events/search", json=body, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 400 and cross.get_json()["error"]["field"] == "csrf_token"
    same = client.post("/api/events/search", json=body, headers={"Origin": "http://localhost"})
    assert same.status_code != 400 or same.get_json()["error"].get("field") != "csrf_token"


def test_five_failures_lock_the_name_even_for_the_right_password(login_app, city_engine):
    client = login_app.test_client()
    with city_engine.begin() as conn:
        users.add(conn, "login_lock", "analyst", _district(conn), PASSWORD)
    for _ in range(4):
        assert _login(client, "login_lock", "not the password").status_code == 401
    locked = _login(client, "login_lock", "not the password")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60
    right = _login(client, "login_lock", PASSWORD)
    assert right.status_code == 429 and "Retry-After" in right.headers
    ghost = [_login(client, "login_nobody", "guess guess") for _ in range(5)]  # unknown names lock the same way
    assert [r.status_code for r in ghost] == [401] * 4 + [429]


def test_logout_ends_the_session_and_needs_its_csrf_token(login_app):
    client = login_app.test_client()
    _login(client)
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/api/grids").status_code == 200
    assert client.post("/logout", data={"csrf_token": _csrf(client)}).status_code == 302
    assert client.get("/api/grids").status_code == 401


def test_disabling_an_account_ends_its_session_and_its_tokens(login_app, city_engine):
    client = login_app.test_client()
    with city_engine.begin() as conn:
        users.add(conn, "login_gone", "commander", _district(conn), PASSWORD)
        token = api_tokens.issue(conn, "login_gone")
    _login(client, "login_gone")
    assert client.get("/api/grids").status_code == 200
    with city_engine.begin() as conn:
        users.set_disabled(conn, "login_gone")
    assert client.get("/api/grids").status_code == 401
    assert client.get("/api/grids", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_expire_are_revoked_and_are_stored_only_as_hashes(login_app, city_engine):
    client = login_app.test_client()
    with city_engine.begin() as conn:
        live = api_tokens.issue(conn, "login_t", label="login")
        dead = api_tokens.issue(conn, "login_t", timedelta(minutes=1), label="login")
        conn.execute(text("UPDATE api_token SET created_at = now() - interval '2 hours', "
                          "expires_at = now() - interval '1 second' WHERE token_hash = sha256(:t)"),
                     {"t": dead.encode()})
        stored = conn.execute(text("SELECT count(*) FROM api_token WHERE position(:t in encode(token_hash, 'escape')) > 0"),
                              {"t": live}).scalar_one()
    assert stored == 0
    auth = {"Authorization": f"Bearer {live}"}
    assert client.get("/api/grids", headers=auth).status_code == 200
    assert client.get("/api/grids", headers={"Authorization": f"Bearer {dead}"}).status_code == 401
    assert client.get("/api/grids", headers={"Authorization": "Basic eDp5"}).status_code == 401
    with city_engine.begin() as conn:
        (info,) = [t for t in api_tokens.listing(conn, "login_t") if t.expires_at > t.created_at + timedelta(days=1)]
        assert info.last_used_at is not None
        api_tokens.revoke(conn, info.id)
    refused = client.get("/api/grids", headers=auth)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_demo_placeholder_is_off_unless_configured(login_app):
    client = login_app.test_client()
    assert client.get("/api/grids", headers={"X-Demo-User": "admin"}).status_code == 401
    assert client.get("/api/grids?as=admin").status_code == 401
    assert Settings.from_env({}).demo_login is False


def test_passwords_are_argon2id_and_short_ones_refused(city_engine):
    with city_engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM app_user WHERE username = 'login_t'")).scalar()
    assert stored is None or stored.startswith("$argon2id$")
    with pytest.raises(users.AccountError):
        users.hash_password("short")
