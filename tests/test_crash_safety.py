"""kill -9 of the PostgreSQL postmaster while grid workers' phones send reports with Idempotency-Key: after
the restart they resend whatever was not acknowledged, and every report exists exactly once."""
from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import text

from data.db import make_engine
from mapserver import create_app
from tests.conftest import serving
from tests.private_cluster import running_city

REPORTS = 240
PHONES = 6
KILL_AFTER = 60  # acknowledged reports before the crash
MARK = "crash-safety"


@pytest.fixture(scope="module")
def private_city():
    yield from running_city()


def test_kill9_mid_stream_loses_and_duplicates_nothing(private_city):
    cluster, settings = private_city
    engine = make_engine(settings)
    with engine.connect() as conn:
        worker = conn.execute(text("SELECT username FROM app_user WHERE role = 'grid_worker' ORDER BY username "
                                   "LIMIT 1")).scalar_one()
        lon, lat = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid "
                                     "WHERE valid_to IS NULL AND level = 'cell' ORDER BY code LIMIT 1) s")).one()
        category = conn.execute(text("SELECT min(code) FROM event_category")).scalar_one()
    app = create_app(settings, {"TESTING": True, "MINQING_DEMO_LOGIN": True, "SECRET_KEY": "tests-only"})
    server = serving(app)
    base = next(server)
    acknowledged: dict[str, int] = {}  # key -> event id the phone was told
    failures: list[str] = []
    lock = threading.Lock()
    crashed = threading.Event()

    def send(session: requests.Session, i: int) -> int | None:
        key = f"{MARK}-{i}"
        try:
            response = session.post(f"{base}/api/events", timeout=15, headers={
                "Idempotency-Key": key, "X-Demo-User": worker}, json={
                "category": category, "description": f"{MARK} report {i}", "lon": lon + i * 1e-6, "lat": lat})
        except requests.RequestException as exc:
            failures.append(type(exc).__name__)
            return None
        if response.status_code in (200, 201):
            return response.json()["id"]
        assert response.status_code == 503, (response.status_code, response.text[:300])  # never a 500
        failures.append("503")
        return None

    def phone(numbers: range):
        with requests.Session() as session:
            for i in numbers:
                got = send(session, i)
                if got is not None:
                    with lock:
                        acknowledged[f"{MARK}-{i}"] = got

    def killer():
        while len(acknowledged) < KILL_AFTER:
            time.sleep(0.005)
        cluster.kill9()
        crashed.set()
        time.sleep(1.0)  # the phones keep sending into the outage
        cluster.start()

    try:
        crash = threading.Thread(target=killer)
        crash.start()
        phones = [threading.Thread(target=phone, args=(range(p, REPORTS, PHONES),)) for p in range(PHONES)]
        for t in phones:
            t.start()
        for t in phones:
            t.join(120)
        crash.join(60)
        assert crashed.is_set() and failures, "the crash happened after every report was sent"
        # resend what was not acknowledged, as a phone's outbox does, until everything is
        deadline = time.monotonic() + 30
        with requests.Session() as session:
            while len(acknowledged) < REPORTS and time.monotonic() < deadline:
                for i in range(REPORTS):
                    if f"{MARK}-{i}" not in acknowledged and (got := send(session, i)) is not None:
                        acknowledged[f"{MARK}-{i}"] = got
            assert len(acknowledged) == REPORTS
            # a resend of an acknowledged report is a replay of the same case, never a second one
            for i in range(0, REPORTS, 7):
                assert send(session, i) == acknowledged[f"{MARK}-{i}"]
    finally:
        next(server, None)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.id, k.key FROM event e LEFT JOIN idempotency_key k ON k.event_id = e.id "
            "WHERE e.description LIKE :m"), {"m": f"{MARK} report %"}).all()
    engine.dispose()
    assert len(rows) == REPORTS  # none lost, none doubled
    assert {key: event_id for event_id, key in rows} == acknowledged
    print(f"\n{len(failures)} failed sends during the crash ({', '.join(sorted(set(failures)))})")
