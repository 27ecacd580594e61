"""One engine per app, one connection per request on `g`, returned when the request ends."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine

from data.db import make_engine
from data.settings import Settings


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["minqing.settings"] = settings
    app.extensions["minqing.engine"] = make_engine(settings)
    app.teardown_appcontext(_close)


def settings() -> Settings:
    """The settings the app was built with."""
    return current_app.extensions["minqing.settings"]


def engine() -> Engine:
    return current_app.extensions["minqing.engine"]


def connection() -> Connection:
    """The request's connection; reads only, so nothing here commits."""
    if "conn" not in g:
        g.conn = engine().connect()
    return g.conn


def writing():
    """A transaction for a request that writes, on the request's own connection (one pool checkout per
    request): what was read so far is ended first; committed when the block ends, rolled back on error."""
    conn = connection()
    if conn.in_transaction():
        conn.commit()
    return _Writing(conn)


class _Writing:
    def __init__(self, conn: Connection):
        self.conn = conn

    def __enter__(self) -> Connection:
        self.tx = self.conn.begin()
        return self.conn

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.tx.commit()
        else:
            self.tx.rollback()


def _close(_exc: BaseException | None) -> None:
    conn = g.pop("conn", None)
    if conn is not None:
        conn.close()
