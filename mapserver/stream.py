"""`GET /stream`: the case log live, as Server-Sent Events, with what a reconnecting client missed."""
from __future__ import annotations

import json
import queue
import time
from typing import Iterator

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import ServiceUnavailable

from data import crs as coordinates, event_feed, users
from data.actors import Actor
from mapserver import caller, db
from mapserver.stream_hub import QUEUE_SIZE, Hub, Subscriber

bp = Blueprint("stream", __name__)
KEEPALIVE_SECONDS = 15.0  # under the 30–60 s idle timeouts of common proxies and load balancers
FORGET_REPLAYED_AFTER = 60.0  # seconds after which a live message can no longer repeat a replayed one
RETRY_MS = 2000
MAX_AGE_SECONDS = 3600.0  # then the stream ends and EventSource reconnects with Last-Event-ID: logged in afresh


def hub() -> Hub:
    app = current_app
    if "minqing.stream" not in app.extensions:
        app.extensions["minqing.stream"] = Hub(db.engine(), app.config.get("MINQING_STREAM_QUEUE", QUEUE_SIZE))
    return app.extensions["minqing.stream"]


@bp.get("/stream")
def stream() -> Response:
    who = caller.staff_only()
    last_id = event_feed.parse_last_id(request.headers.get("Last-Event-ID") or request.args.get("last_event_id"))
    crs = request.args.get("crs") or None
    coordinates.resolve(crs)  # an unknown crs is a 400 before the stream opens
    try:
        sub = hub().subscribe(who.scope_filter)  # before the replay query: nothing falls between the two
    except ConnectionError:
        raise ServiceUnavailable("the live feed is reconnecting to the database; retry shortly") from None
    backlog, replayed, skip_upto = [], set(), last_id
    try:
        if last_id is not None:
            limit = current_app.config.get("MINQING_STREAM_REPLAY_LIMIT", event_feed.REPLAY_LIMIT)
            missed = event_feed.missed(db.connection(), last_id, who.scope_filter, limit)
            backlog = [frame(m, crs) for m in missed.messages]
            replayed = {m["log_id"] for m in missed.messages}
            if missed.more:
                backlog.append(_reset(missed.newest))
                skip_upto = missed.newest
    except BaseException:
        hub().unsubscribe(sub)
        raise
    keepalive = current_app.config.get("MINQING_STREAM_KEEPALIVE", KEEPALIVE_SECONDS)
    max_age = current_app.config.get("MINQING_STREAM_MAX_AGE", MAX_AGE_SECONDS)
    # an account the database does not hold (the demo placeholder's default) has nothing to re-check
    account = who if users.active_actor(db.connection(), who.username) is not None else None
    still_allowed = _AccountCheck(db.engine(), account)
    body = _events(hub(), sub, backlog, replayed, skip_upto, keepalive, crs, still_allowed, max_age)
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def frame(message: dict, crs: str | None = None) -> str:
    kind = "bulk" if event_feed.is_bulk(message) else message["action"]
    if crs and message.get("lon") is not None:  # a GCJ-02 basemap: positions as the map draws them
        (lon,), (lat,) = coordinates.from_wgs84([message["lon"]], [message["lat"]], crs)
        message = {**message, "lon": round(float(lon), 7), "lat": round(float(lat), 7)}
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return f"id: {message['log_id']}\nevent: {kind}\ndata: {data}\n\n"


def _reset(newest: int) -> str:
    data = json.dumps({"log_id": newest, "reason": "too much was missed; reload, then follow from here"})
    return f"id: {newest}\nevent: reset\ndata: {data}\n\n"


class _AccountCheck:
    """Is the caller still who opened the stream: enabled, same role, same scope? Asked between messages,
    on a connection held only for the one query; a database that cannot answer ends the stream (fail closed)."""

    def __init__(self, engine: Engine, who: Actor | None):
        self.engine, self.who = engine, who

    def __call__(self) -> bool:
        if self.who is None:
            return True
        try:
            with self.engine.connect() as conn:
                now = users.active_actor(conn, self.who.username)
        except DBAPIError:
            return False
        return now is not None and (now.role, tuple(now.scope), now.department_id) == \
            (self.who.role, tuple(self.who.scope), self.who.department_id)


def _events(hub: Hub, sub: Subscriber, backlog: list[str], replayed: set[int], skip_upto: int | None,
            keepalive: float, crs: str | None = None, still_allowed=lambda: True,
            max_age: float = MAX_AGE_SECONDS) -> Iterator[str]:
    """Runs after the request's context (and its database connection) is gone: it needs neither. The account
    is re-checked every `keepalive` seconds, busy or idle, and the stream ends after `max_age` in any case."""
    started = time.monotonic()
    forget_at = started + FORGET_REPLAYED_AFTER
    ends_at, check_at = started + max_age, started + keepalive
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"  # sends the headers now, not with the first event
        yield from backlog
        del backlog
        while not sub.dropped:
            now = time.monotonic()
            if now >= ends_at:
                yield ": closed: reconnect to go on\n\n"
                return
            if now >= check_at:
                if not still_allowed():
                    yield ": closed: the account was disabled or changed\n\n"
                    return
                check_at = now + keepalive
            try:
                message = sub.queue.get(timeout=max(0.0, min(check_at, ends_at) - now))
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            log_id = message.get("log_id") or 0
            if replayed and time.monotonic() > forget_at:
                replayed = set()
            if log_id in replayed or (skip_upto is not None and log_id <= skip_upto):
                continue
            yield frame(message, crs)
    finally:
        hub.unsubscribe(sub)


OPENAPI_PATHS = {
    "/stream": {"get": {
        "summary": "The case log live (Server-Sent Events): one message per event_log row in the caller's area",
        "description": (
            "`id` is the log row's id, `event` its action (`transition`, `overdue`, `supervise`, …), `data` a JSON "
            "object {log_id, event_id, action, from, to, status, level, overdue, category, grid, lon, lat, at}. "
            "A statement logging more than 1,000 rows sends one `bulk` event {op, count, first_id, log_id}: "
            "reload. Reconnect with `Last-Event-ID` (or `?last_event_id=`) to receive what was missed, at most "
            "10,000 rows, followed by a `reset` event (reload) if there was more. A comment every 15 s keeps "
            "the connection open; the account is re-checked as often, and the stream ends when it is disabled "
            "or its role or scope change, and after an hour in any case (EventSource reconnects). Staff only."),
        "parameters": [
            {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string", "pattern": "^[0-9]+$"},
             "description": "the last id received; what came after it is sent first"},
            {"name": "last_event_id", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]+$"},
             "description": "the same, for EventSource polyfills that cannot set headers"}],
        "responses": {
            "200": {"description": "an endless event stream", "content": {"text/event-stream": {
                "schema": {"type": "object", "description": "one message", "properties": {
                    "id": {"type": "string", "pattern": "^[0-9]+$"}, "event": {"type": "string"},
                    "data": {"type": "string", "description": "a JSON object, as above"}}}}}},
            "400": {"description": "Last-Event-ID is not a log id", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}},
            "403": {"description": "citizens cannot follow the case log", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}},
            "503": {"description": "the live feed is reconnecting to the database", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
}
