"""Logging in: the form and its CSRF token, sessions, lockout, logout, and bearer tokens that expire and are revoked."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
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
        conn.execute(text("DELETE FROM rate_limit WHERE bucket LIKE 'login:%'"))


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


def _copied_session(client, login_app):
    """A second browser holding a copy of this one's session cookie."""
    thief = login_app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/api/grids").status_code == 200
    return thief


def test_logout_ends_every_copy_of_the_session_cookie(login_app):
    client = login_app.test_client()
    _login(client)
    thief = _copied_session(client, login_app)
    assert client.post("/logout", data={"csrf_token": _csrf(client)}).status_code == 302
    assert thief.get("/api/grids").status_code == 401


def test_a_password_change_ends_the_sessions_before_it(login_app, city_engine):
    client = login_app.test_client()
    with city_engine.begin() as conn:
        users.add(conn, "login_pw", "analyst", _district(conn), PASSWORD)
    _login(client, "login_pw")
    thief = _copied_session(client, login_app)
    with city_engine.begin() as conn:
        users.set_password(conn, "login_pw", "a brand new password")
    assert thief.get("/api/grids").status_code == 401 and client.get("/api/grids").status_code == 401
    _login(client, "login_pw", "a brand new password")
    assert client.get("/api/grids").status_code == 200


def test_a_cookie_with_only_the_username_is_refused(login_app):
    client = login_app.test_client()
    with client.session_transaction() as session:
        session["user"] = "login_t"  # what sessions held before epochs: no way to end them
    assert client.get("/api/grids").status_code == 401


def _parallel(login_app, attempts: list[tuple[str, str]], address: str = "127.0.0.1") -> list:
    """POST /login for each (username, password) at the same moment, each from its own browser."""
    clients = [login_app.test_client() for _ in attempts]
    tokens = [_csrf(c) for c in clients]
    start = threading.Barrier(len(attempts))

    def attempt(i):
        start.wait()
        username, password = attempts[i]
        return clients[i].post("/login", data={"username": username, "password": password, "csrf_token": tokens[i]},
                               environ_base={"REMOTE_ADDR": address})

    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(attempt, range(len(attempts))))


def test_parallel_guesses_get_no_more_than_the_lockout_allows(login_app, city_engine):
    with city_engine.begin() as conn:
        users.add(conn, "login_race", "analyst", _district(conn), PASSWORD)
    answers = [r.status_code for r in _parallel(login_app, [("login_race", f"guess number {i}") for i in range(12)],
                                                "192.0.2.10")]
    answers += [_login(login_app.test_client(), "login_race", f"late guess {i}").status_code for i in range(6)]
    assert answers.count(401) <= 5 and set(answers) <= {401, 429, 503}, answers
    with city_engine.connect() as conn:
        assert conn.execute(text("SELECT locked_until > now() FROM login_failure WHERE username = 'login_race'")).scalar()


def test_one_address_spraying_many_names_is_limited(city_engine):
    url = city_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, tick_seconds=0, login_attempts_per_ip=3),
                     {"TESTING": True, "SECRET_KEY": "login-tests"})
    client = app.test_client()
    answers = [client.post("/login", data={"username": f"login_spray{i}", "password": "Password123!",
                                           "csrf_token": _csrf(client)}, environ_base={"REMOTE_ADDR": "192.0.2.20"})
               for i in range(5)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    other = client.post("/login", data={"username": "login_spray9", "password": "Password123!",
                                        "csrf_token": _csrf(client)}, environ_base={"REMOTE_ADDR": "192.0.2.21"})
    assert other.status_code == 401


def test_password_checks_at_once_are_capped(city_engine):
    url = city_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, tick_seconds=0, login_checks=1, pool_size=10),
                     {"TESTING": True, "SECRET_KEY": "login-tests"})
    answers = _parallel(app, [(f"login_busy{i}", "not a password") for i in range(6)], "192.0.2.30")
    codes = [r.status_code for r in answers]
    assert 401 in codes and 503 in codes and set(codes) == {401, 503}, codes
    assert all(r.headers["Retry-After"] == "1" for r in answers if r.status_code == 503)
