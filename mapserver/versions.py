"""What the data behind a tile looks like now, known without a query for most requests.

Each worker keeps the `data_version` rows (and the event categories and departments, which filters
are checked against) for `MINQING_VERSION_TTL` seconds, so a client revalidating a tile it holds gets its 304
before any database work; a change is seen at most one TTL late.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import text

from mapserver import db

DEFAULT_TTL = 1.0


@dataclass
class Snapshot:
    versions: dict[str, int]
    categories: tuple[str, ...]
    departments: tuple[str, ...]
    taken: float = field(default_factory=time.monotonic)


class VersionCache:
    def __init__(self, ttl: float):
        self.ttl = ttl
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def current(self) -> Snapshot:
        snap = self._snapshot
        if snap is None or time.monotonic() - snap.taken > self.ttl:
            with self._lock:
                snap = self._snapshot
                if snap is None or time.monotonic() - snap.taken > self.ttl:
                    snap = self._snapshot = self._read()
        return snap

    @staticmethod
    def _read() -> Snapshot:
        with db.engine().connect() as conn:
            versions = dict(conn.execute(text("SELECT name, sum(version)::bigint FROM data_version GROUP BY name")).all())
            categories = tuple(conn.execute(text("SELECT code FROM event_category ORDER BY code")).scalars())
            departments = tuple(conn.execute(text("SELECT code FROM department ORDER BY code")).scalars())
        return Snapshot(versions, categories, departments)


def init_app(app) -> None:
    app.extensions["minqing.versions"] = VersionCache(float(app.config.get("MINQING_VERSION_TTL", DEFAULT_TTL)))


def snapshot() -> Snapshot:
    return current_app.extensions["minqing.versions"].current()


def etag(*parts: object) -> str:
    """The opaque part of a weak validator (gzip and identity bodies differ in bytes, not in meaning)."""
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=12).hexdigest()
