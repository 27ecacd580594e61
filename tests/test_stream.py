"""`/stream` on a real HTTP server and real PostGIS: live, scoped, replayed after a reconnect, never stuck."""
from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from data import event_feed, workflow
from data.actors import Actor
from data.intake import NewReport, submit

REPLAY_LIMIT = 20  # small, so the reset after too much missed is cheap to reach


@pytest.fixture(scope="module")
def app(city_engine):
    from data.settings import Settings
    from mapserver import create_app

    url = city_engine.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url), {
        "TESTING": True, "MINQING_DEMO_LOGIN": True, "MINQING_VERSION_TTL": 0, "MINQING_STREAM_KEEPALIVE": 0.5,
        "MINQING_STREAM_QUEUE": 50, "MINQING_STREAM_REPLAY_LIMIT": REPLAY_LIMIT})


@pytest.fixture(scope="module")
def cells(city_engine):
    """worker1's cell and a cell outside it, each with a point inside."""
    with city_engine.connect() as conn:
        (mine,) = conn.execute(text("SELECT scope::text[] FROM app_user WHERE username = 'worker1'")).scalar_one()
        rows = conn.execute(text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat FROM grid "
            "WHERE level = 'cell' AND kind = 'regular' AND valid_to IS NULL ORDER BY code")).mappings().all()
    return {"mine": next(r for r in rows if r["code"] == mine),
            "other": next(r for r in rows if not r["code"].startswith(mine.rsplit(".", 1)[0]))}


class Stream:
    """One `/stream` read line by line in a thread; events and comments arrive on a queue."""

    def __init__(self, base: str, headers: dict | None = None, path: str = "/stream"):
        where = urlsplit(base)
        self.conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        self.conn.request("GET", path, headers=headers or {})
        self.sock = self.conn.sock  # http.client lets go of it once the response says it will close
        self.response = self.conn.getresponse()
        self.items: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next(comment=True)["comment"] == "connected"

    def _read(self) -> None:
        event: dict = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    self.items.put({"comment": line[1:].strip()})
                elif line:
                    name, _, value = line.partition(": ")
                    event[name] = json.loads(value) if name == "data" else value
                elif "data" in event:
                    self.items.put(event)
                    event = {}
        except (OSError, ValueError, http.client.HTTPException):  # the stream was closed under the reader
            pass
        self.items.put(None)

    def next(self, timeout: float = 3.0, comment: bool = False) -> dict | None:
        """The next event (or comment, if asked); keep-alives are skipped otherwise."""
        end = time.monotonic() + timeout
        while True:
            item = self.items.get(timeout=max(end - time.monotonic(), 0.001))
            if item is None or comment or "comment" not in item:
                return item

    def until(self, log_id: int, timeout: float = 3.0) -> list[dict]:
        """Events up to and including log id `log_id`."""
        got = []
        while not got or int(got[-1]["id"]) != log_id:
            got.append(self.next(timeout))
        return got

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.conn.close()


def report(engine, cell, category: str = "noise") -> int:
    with engine.begin() as conn:
        return submit(conn, NewReport(category, "楼上装修噪音", cell["lon"], cell["lat"]),
                      actor=Actor("t", "grid_worker", (cell["code"],))).id


def log_ids(engine, event_id: int) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM event_log WHERE event_id = :e ORDER BY id"),
                            {"e": event_id}).scalars().all()


def log_rows(engine, event_id: int, n: int) -> None:
    """`n` note rows for one event, in one statement."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO event_log (event_id, at, actor, to_status, level, action) "
                          "SELECT :e, now(), 'test', 'reported', 'grid', 'supervise' FROM generate_series(1, :n)"),
                     {"e": event_id, "n": n})


def test_a_report_arrives_within_a_second(server, city_engine, cells, own_events):
    stream = Stream(server)
    try:
        assert stream.response.getheader("Content-Type").startswith("text/event-stream")
        assert stream.response.getheader("Cache-Control") == "no-cache"
        assert stream.response.getheader("X-Accel-Buffering") == "no"
        latencies = []
        for _ in range(5):
            event_id = report(city_engine, cells["mine"])
            committed = time.monotonic()
            event = stream.next(timeout=1.0)
            latencies.append(time.monotonic() - committed)
            assert event["event"] == "transition" and int(event["id"]) == log_ids(city_engine, event_id)[0]
            data = event["data"]
            assert (data["event_id"], data["from"], data["to"], data["status"], data["grid"]) == (
                event_id, None, "reported", "reported", cells["mine"]["code"])
            assert abs(data["lon"] - cells["mine"]["lon"]) < 1e-5 and data["category"] == "noise"
        print(f"commit → SSE latency: max {max(latencies) * 1000:.1f} ms")
        assert max(latencies) < 1.0
    finally:
        stream.close()


def test_a_reconnect_replays_exactly_what_was_missed(server, city_engine, cells, own_events):
    stream = Stream(server)
    report(city_engine, cells["mine"])
    last = int(stream.next()["id"])
    stream.close()

    second = report(city_engine, cells["mine"])
    with city_engine.begin() as conn:
        workflow.transition(conn, second, "accepted", Actor("t", "grid_worker", (cells["mine"]["code"],)))
    third = report(city_engine, cells["other"])
    missed = log_ids(city_engine, second) + log_ids(city_engine, third)
    assert len(missed) >= 3

    for headers, path in (({"Last-Event-ID": str(last)}, "/stream"), ({}, f"/stream?last_event_id={last}")):
        again = Stream(server, headers, path)
        try:
            fourth = report(city_engine, cells["mine"])  # live, right behind the replay
            got = again.until(log_ids(city_engine, fourth)[-1])
            assert [int(e["id"]) for e in got] == missed + log_ids(city_engine, fourth)
            assert [e["data"]["to"] for e in got[:2]] == ["reported", "accepted"]
            with pytest.raises(queue.Empty):  # and nothing twice
                again.next(timeout=0.7)
        finally:
            again.close()
        missed += log_ids(city_engine, fourth)


def test_too_much_missed_ends_the_replay_with_a_reset(server, city_engine, cells, own_events):
    stream = Stream(server)
    event_id = report(city_engine, cells["mine"])
    last = int(stream.next()["id"])
    stream.close()
    log_rows(city_engine, event_id, REPLAY_LIMIT + 5)

    again = Stream(server, {"Last-Event-ID": str(last)})
    try:
        replayed = [again.next() for _ in range(REPLAY_LIMIT)]
        assert [int(e["id"]) for e in replayed] == log_ids(city_engine, event_id)[1:REPLAY_LIMIT + 1]
        reset = again.next()
        assert reset["event"] == "reset" and int(reset["id"]) == log_ids(city_engine, event_id)[-1]
        later = report(city_engine, cells["mine"])
        assert int(again.next()["id"]) == log_ids(city_engine, later)[0]
    finally:
        again.close()


def test_a_worker_hears_only_their_own_cell(server, city_engine, cells, own_events):
    worker, commander = Stream(server, {"X-Demo-User": "worker1"}), Stream(server)
    try:
        elsewhere = report(city_engine, cells["other"])
        here = report(city_engine, cells["mine"])
        assert [e["data"]["event_id"] for e in (commander.next(), commander.next())] == [elsewhere, here]
        assert worker.next()["data"]["event_id"] == here
        with pytest.raises(queue.Empty):
            worker.next(timeout=0.7)
    finally:
        worker.close()
        commander.close()
    replay = Stream(server, {"X-Demo-User": "worker1", "Last-Event-ID": str(log_ids(city_engine, elsewhere)[0] - 1)})
    try:
        assert replay.next()["data"]["event_id"] == here
        with pytest.raises(queue.Empty):
            replay.next(timeout=0.7)
    finally:
        replay.close()


def test_keep_alive_comments_flow_when_nothing_happens(server):
    stream = Stream(server)
    try:
        assert stream.next(timeout=2.0, comment=True) == {"comment": "keep-alive"}
    finally:
        stream.close()


def test_a_big_statement_sends_one_bulk_message(server, city_engine, cells, own_events):
    stream = Stream(server)
    try:
        event_id = report(city_engine, cells["mine"])
        assert stream.next()["data"]["event_id"] == event_id
        log_rows(city_engine, event_id, 1001)
        bulk = stream.next()
        ids = log_ids(city_engine, event_id)
        assert bulk["event"] == "bulk" and int(bulk["id"]) == ids[-1]
        assert bulk["data"] == {"op": "bulk", "count": 1001, "first_id": ids[1], "log_id": ids[-1]}
        later = report(city_engine, cells["mine"])
        assert stream.next()["data"]["event_id"] == later  # nothing per row in between
    finally:
        stream.close()


def test_a_slow_client_is_dropped_and_others_carry_on(app, server):
    hub = app.extensions["minqing.stream"]
    earlier = hub.count()  # an earlier test's closed stream is noticed only at the server's next write
    good = Stream(server)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((urlsplit(server).hostname, urlsplit(server).port))
    slow.sendall(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")  # and never read
    try:
        deadline = time.monotonic() + 3
        while hub.count() < earlier + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hub.count() == earlier + 2
        pad, slowest, received = "x" * 8000, 0.0, 0
        for i in range(3000):
            started = time.monotonic()
            hub.publish({"log_id": 10**12 + i, "action": "supervise", "grid": None, "pad": pad})
            slowest = max(slowest, time.monotonic() - started)
            while received < i - 20:  # the good client keeps up; the slow one cannot
                assert int(good.next()["id"]) == 10**12 + received
                received += 1
        while received < 3000:
            assert int(good.next()["id"]) == 10**12 + received
            received += 1
        assert hub.count() == 1 and slowest < 0.05
    finally:
        slow.close()
        good.close()


def test_the_listener_comes_back_after_the_database_drops_it(app, server, city_engine, cells, own_events):
    stream = Stream(server)
    try:
        with city_engine.connect() as conn:
            assert conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"),
                {"name": app.extensions["minqing.stream"].application_name}).scalar_one() == 1
        during = report(city_engine, cells["mine"])  # committed while nobody listens: caught up afterwards
        assert stream.next(timeout=5)["data"]["event_id"] == during
        after = report(city_engine, cells["mine"])
        assert stream.next(timeout=2)["data"]["event_id"] == after
    finally:
        stream.close()


@pytest.mark.parametrize("grid, scope, seen", [
    ("1.2.3", None, True), (None, None, True), (None, ("1",), False), ("1.2.3", ("1.2",), True),
    ("1.2", ("1.2",), True), ("1.23", ("1.2",), False), ("1.2.3", (), False)])
def test_visibility_follows_grid_subtrees(grid, scope, seen):
    assert event_feed.visible(grid, scope) is seen


def test_a_bad_last_event_id_is_a_400(client):
    response = client.get("/stream", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "last_event_id"


def test_open_streams_hold_no_database_connection(app, server, city_engine):
    streams = [Stream(server) for _ in range(12)]
    try:
        assert app.extensions["minqing.engine"].pool.checkedout() == 0
        with city_engine.connect() as conn:
            listeners = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND application_name = :name"),
                                     {"name": app.extensions["minqing.stream"].application_name}).scalar_one()
        assert listeners == 1  # one per process, however many clients
    finally:
        for stream in streams:
            stream.close()


@pytest.fixture
def stream_account(city_engine):
    """A grid leader of its own, to disable or re-scope while its stream is open."""
    from data import users

    with city_engine.begin() as conn:
        scope = conn.execute(text("SELECT scope::text[] FROM app_user WHERE username = 'leader1'")).scalar_one()
        users.add(conn, "stream_leader", "grid_leader", tuple(scope))
    yield "stream_leader"
    with city_engine.begin() as conn:
        conn.execute(text("DELETE FROM app_user WHERE username = 'stream_leader'"))


def close_quietly(stream: Stream) -> None:
    """A stream the server ended has already let go of its socket."""
    with contextlib.suppress(OSError):
        stream.close()


def ended(stream: Stream, within: float) -> list[str]:
    """The comments a stream sent before it ended; fails if it is still open after `within` seconds."""
    comments, end = [], time.monotonic() + within
    while (item := stream.next(timeout=max(end - time.monotonic(), 0.001), comment=True)) is not None:
        comments.append(item.get("comment"))
    return comments


@pytest.mark.parametrize("change", ["disable", "rescope"])
def test_a_stream_ends_when_its_account_is_disabled_or_rescoped(server, city_engine, stream_account, change):
    from data import users

    stream = Stream(server, {"X-Demo-User": stream_account})
    try:
        assert stream.next(timeout=2.0, comment=True) == {"comment": "keep-alive"}  # open and re-checked
        with city_engine.begin() as conn:
            if change == "disable":
                users.set_disabled(conn, stream_account)
            else:
                conn.execute(text("UPDATE app_user SET scope = CAST(:s AS ltree[]) WHERE username = :u"),
                             {"s": ["nowhere"], "u": stream_account})
        assert "closed: the account was disabled or changed" in ended(stream, within=3.0)  # keep-alive is 0.5 s
    finally:
        close_quietly(stream)


def test_a_stream_ends_after_its_maximum_age(app, server):
    app.config["MINQING_STREAM_MAX_AGE"] = 1.0
    try:
        stream = Stream(server)
        try:
            assert "closed: reconnect to go on" in ended(stream, within=3.0)
        finally:
            close_quietly(stream)
    finally:
        del app.config["MINQING_STREAM_MAX_AGE"]
