"""Engines and sessions: the one way code reaches PostGIS."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine

from data.settings import Settings


def make_engine(settings: Settings, **kwargs) -> Engine:
    """Pre-ping so a restarted server is survived; timeouts so nothing waits forever.

    connect_timeout bounds a connect to a server that does not answer (a refused one fails at once);
    the pool timeout bounds the wait for a free connection when every one is busy. A transaction left open
    and idle (a stalled client, a forgotten cursor) is ended by the server after as long as a statement may
    run, so it cannot hold locks or a pooled connection forever; the CLI's 0 turns both off.
    """
    options = (f"-c statement_timeout={settings.statement_timeout_ms} -c lock_timeout={settings.lock_timeout_ms} "
               f"-c idle_in_transaction_session_timeout={settings.statement_timeout_ms}")
    kwargs.setdefault("pool_timeout", max(settings.connect_timeout_s, 10))
    return create_engine(
        settings.sqlalchemy_url,
        pool_pre_ping=True,
        pool_size=settings.pool_size,
        connect_args={"options": options, "application_name": "minqing",
                      "connect_timeout": settings.connect_timeout_s},
        **kwargs,
    )
