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


def engine() -> Engine:
    return current_app.extensions["minqing.engine"]


def connection() -> Connection:
    """The request's connection; reads only, so nothing here commits."""
    if "conn" not in g:
        g.conn = engine().connect()
    return g.conn


def writing():
    """A transaction of its own for a request that writes: committed when the block ends, rolled back on error."""
    return engine().begin()


def _close(_exc: BaseException | None) -> None:
    conn = g.pop("conn", None)
    if conn is not None:
        conn.close()
