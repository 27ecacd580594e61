"""Engines and sessions: the one way code reaches PostGIS."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from data.settings import Settings


def make_engine(settings: Settings, **kwargs) -> Engine:
    """Pre-ping so a restarted server is survived; timeouts so nothing waits forever."""
    options = f"-c statement_timeout={settings.statement_timeout_ms} -c lock_timeout={settings.lock_timeout_ms}"
    return create_engine(
        settings.sqlalchemy_url,
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        connect_args={"options": options, "application_name": "minqing"},
        **kwargs,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: everything in the block commits together or not at all."""
    with Session(engine) as session, session.begin():
        yield session


def raw_connection(engine: Engine):
    """The psycopg connection under SQLAlchemy, for COPY; the caller commits."""
    return engine.raw_connection()

