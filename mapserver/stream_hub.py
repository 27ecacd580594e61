"""One LISTEN connection per server process, fanned out to every open `/stream` through bounded queues."""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Engine

from data import event_feed

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000  # messages a client may lag behind before it is dropped (it reconnects and replays)
BACKOFF = (0.5, 30.0)  # seconds between reconnects to PostgreSQL: first, most


@dataclass(eq=False)
class Subscriber:
    scope: tuple[str, ...] | None
    queue: queue.Queue = field(default_factory=lambda: queue.Queue(QUEUE_SIZE))
    dropped: bool = False


class Hub:
    """Started on the first subscription, in the process that serves it (never before a fork)."""

    def __init__(self, engine: Engine, queue_size: int = QUEUE_SIZE):
        self.engine = engine
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.queue_size = queue_size
        self.listening = threading.Event()
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._last_id: int | None = None  # newest log id passed on; where to catch up from after an outage
        self.application_name = f"minqing-stream-{id(self) % 100000}"  # names this hub's connection in pg_stat_activity

    def subscribe(self, scope: tuple[str, ...] | None, wait: float = 5.0) -> Subscriber:
        """Register before reading what a client missed, and only once LISTEN is in place, so that a row
        committed between the two reaches the client one way or the other."""
        sub = Subscriber(scope, queue.Queue(self.queue_size))
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="minqing-listen", daemon=True)
                self._thread.start()
            self._subscribers.add(sub)
        if not self.listening.wait(wait):
            self.unsubscribe(sub)
            raise ConnectionError("not listening to the database")
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, message: dict) -> None:
        """Never blocks: a client whose queue is full is dropped (its stream ends, it reconnects)."""
        with self._lock:
            subscribers = list(self._subscribers)
        bulk = event_feed.is_bulk(message)
        for sub in subscribers:
            if bulk or event_feed.visible(message.get("grid"), sub.scope, message.get("departments")):
                try:
                    sub.queue.put_nowait(message)
                except queue.Full:
                    sub.dropped = True
                    self.unsubscribe(sub)
                    log.warning("stream client dropped: %d messages behind", self.queue_size)

    def _run(self) -> None:
        delay = BACKOFF[0]
        while True:
            try:
                self._listen()
            except (psycopg.Error, OSError) as exc:
                log.warning("stream listener lost the database (%s); retrying in %.1f s", exc, delay)
            self.listening.clear()
            threading.Event().wait(delay)
            delay = min(delay * 2, BACKOFF[1])

    def _listen(self) -> None:
        # keepalives: a vanished server (not just a restarted one) is noticed within about a minute
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5, application_name=self.application_name,
                             keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3) as conn:
            conn.execute(f"LISTEN {event_feed.CHANNEL}")
            caught_up = self._catch_up()
            self.listening.set()
            log.info("stream listener on %s", event_feed.CHANNEL)
            for notice in conn.notifies():
                message = json.loads(notice.payload)
                log_id = message.get("log_id")
                if log_id in caught_up:
                    continue
                self._last_id = max(self._last_id or 0, log_id or 0)
                self.publish(message)

    def _catch_up(self) -> set[int]:
        """After an outage, pass on what was logged while nobody listened (or one bulk message)."""
        with self.engine.connect() as conn:
            if self._last_id is None:
                self._last_id = event_feed.missed(conn, 0, None, limit=0).newest
                return set()
            missed = event_feed.missed(conn, self._last_id, None)
        if missed.more:
            self.publish({"op": "bulk", "count": None, "log_id": missed.newest})
        for message in missed.messages:
            self.publish(message)
        self._last_id = max(self._last_id, missed.newest)
        return {m["log_id"] for m in missed.messages}
