"""The database goes away and comes back: requests fail fast with 503 and Retry-After, never hang, and the
service recovers as soon as PostgreSQL is back. Outages are staged on a private cluster (tests/private_cluster.py)."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import text

from data.settings import Settings
from mapserver import create_app
from tests.private_cluster import running_city

TEST_CONFIG = {"TESTING": True, "MINQING_DEMO_LOGIN": True, "SECRET_KEY": "tests-only", "MINQING_VERSION_TTL": 0}
READS = ["/api/events?limit=5", "/api/grids", "/api/stats/events", "/api/overview", "/tiles/events/14/12919/6308.pbf"]


@pytest.fixture(scope="module")
def private_city():
    yield from running_city()


def timed(call):
    start = time.monotonic()
    response = call()
    return response, time.monotonic() - start


def assert_unavailable(response, elapsed: float, limit: float) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert int(response.headers["Retry-After"]) > 0
    assert (response.get_json().get("error") or response.get_json())["reason"]
    assert elapsed < limit, f"took {elapsed:.2f} s"


def test_a_restart_answers_503_fast_and_the_first_request_after_it_succeeds(private_city):
    cluster, settings = private_city
    client = create_app(settings, TEST_CONFIG).test_client()
    for path in READS:  # warm the pool: its connections go stale when the server stops
        assert client.get(path).status_code in (200, 204), path
    cluster.stop()
    try:
        for path in READS + ["/healthz"]:
            response, elapsed = timed(lambda: client.get(path))
            assert_unavailable(response, elapsed, limit=settings.connect_timeout_s + 1)
        response, elapsed = timed(lambda: client.post("/api/events", headers={"X-Demo-User": "worker1"}, json={
            "category": "noise", "description": "停电时上报", "lon": 103.8, "lat": 36.05}))
        assert_unavailable(response, elapsed, limit=settings.connect_timeout_s + 1)
    finally:
        cluster.start()
    back = time.monotonic()
    for path in READS:  # pre-ping replaces the stale connections: no request sees the restart
        assert client.get(path).status_code in (200, 204), path
    assert time.monotonic() - back < 5
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_a_server_that_accepts_but_never_answers_is_a_503_within_the_connect_timeout(private_city):
    _, settings = private_city
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes handshakes; nobody ever speaks
    try:
        port = silent.getsockname()[1]
        hung = replace(settings, database_url=f"postgresql://postgres@127.0.0.1:{port}/minqing",
                       connect_timeout_s=1)
        client = create_app(hung, TEST_CONFIG).test_client()  # start-up's own check of the schema may wait too
        response, elapsed = timed(lambda: client.get("/api/events"))
        assert_unavailable(response, elapsed, limit=3)
    finally:
        silent.close()


def test_request_connections_carry_statement_and_lock_timeouts(private_city):
    from mapserver import db

    _, settings = private_city
    app = create_app(replace(settings, statement_timeout_ms=1234, lock_timeout_ms=567), TEST_CONFIG)
    with app.app_context():
        conn = db.connection()
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "1234ms"
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "567ms"


def test_a_locked_case_is_a_503_after_lock_timeout_and_nothing_changes(private_city):
    from data.db import make_engine

    _, settings = private_city
    client = create_app(replace(settings, lock_timeout_ms=300), TEST_CONFIG).test_client()
    engine = make_engine(settings)
    try:
        with engine.connect() as holder:
            event_id, rev = holder.execute(text(
                "SELECT id, rev FROM event WHERE status NOT IN ('closed', 'rejected') ORDER BY id LIMIT 1")).one()
            holder.execute(text("SELECT 1 FROM event WHERE id = :i FOR UPDATE"), {"i": event_id})
            response, elapsed = timed(lambda: client.post(f"/api/events/{event_id}/supervise",
                                                          json={"note": "督办"}, headers={"X-Demo-User": "admin"}))
            holder.rollback()
        assert_unavailable(response, elapsed, limit=3)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT rev FROM event WHERE id = :i"), {"i": event_id}).scalar_one() == rev
    finally:
        engine.dispose()


def test_a_slow_query_is_cut_by_statement_timeout(private_city):
    from flask import Blueprint

    from mapserver import db

    _, settings = private_city
    app = create_app(replace(settings, statement_timeout_ms=300), TEST_CONFIG)
    bp = Blueprint("slow", __name__)
    bp.get("/slow")(lambda: str(db.connection().execute(text("SELECT pg_sleep(30)")).scalar()))
    app.register_blueprint(bp)
    response, elapsed = timed(lambda: app.test_client().get("/slow"))
    assert_unavailable(response, elapsed, limit=3)


def test_concurrent_requests_during_an_outage_all_fail_fast(private_city):
    """A full pool of callers during the outage: none waits for a connection longer than the connect timeout."""
    cluster, settings = private_city
    app = create_app(settings, TEST_CONFIG)
    results: list[tuple[int, float]] = []

    def call():
        response, elapsed = timed(lambda: app.test_client().get("/api/events?limit=1"))
        results.append((response.status_code, elapsed))

    cluster.stop()
    try:
        threads = [threading.Thread(target=call) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        cluster.start()
    assert len(results) == 20 and {status for status, _ in results} == {503}
    assert max(elapsed for _, elapsed in results) < settings.connect_timeout_s + 2
    assert app.test_client().get("/api/events?limit=1").status_code == 200


def test_settings_read_the_connect_timeout():
    assert Settings.from_env({"MINQING_CONNECT_TIMEOUT_S": "7"}).connect_timeout_s == 7


def small_pool_app(settings: Settings, pool_timeout: float = 0.5):
    """An app whose pool holds one connection and makes a caller wait at most `pool_timeout` for it."""
    from data.db import make_engine

    app = create_app(replace(settings, pool_size=1), TEST_CONFIG)
    app.extensions["minqing.engine"] = make_engine(replace(settings, pool_size=1), max_overflow=0,
                                                   pool_timeout=pool_timeout)
    return app


def test_a_full_pool_is_a_503_with_retry_after_not_a_500(private_city):
    _, settings = private_city
    app = small_pool_app(settings)
    with app.extensions["minqing.engine"].connect():  # every connection busy
        response, elapsed = timed(lambda: app.test_client().get("/api/events?limit=1"))
    assert_unavailable(response, elapsed, limit=3)
    assert app.test_client().get("/api/events?limit=1").status_code == 200


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg"])
def test_stalled_downloads_hold_no_connection(private_city, fmt):
    """A client that reads an export slowly (or never) must not keep a pooled connection while it does."""
    _, settings = private_city
    app = small_pool_app(settings)
    client = app.test_client()
    stalled = [client.get(f"/api/events/export?format={fmt}", buffered=False) for _ in range(3)]
    assert all(r.status_code == 200 for r in stalled)
    assert app.extensions["minqing.engine"].pool.checkedout() == 0
    assert client.get("/api/events?limit=1").status_code == 200  # the pool still serves others
    whole = stalled[0].get_data()
    assert len(whole) == int(stalled[0].headers["Content-Length"]) > 0
    for response in stalled:
        response.close()


def test_a_transaction_left_idle_is_ended_by_the_server(private_city):
    from psycopg.errors import IdleInTransactionSessionTimeout
    from sqlalchemy.exc import DBAPIError

    from data.db import make_engine

    _, settings = private_city
    engine = make_engine(replace(settings, statement_timeout_ms=300))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # opens the transaction, then nobody says anything
            time.sleep(1.0)
            with pytest.raises(DBAPIError) as ended:
                conn.execute(text("SELECT 1"))
        assert isinstance(ended.value.orig, IdleInTransactionSessionTimeout)
    finally:
        engine.dispose()
