"""Engines and sessions: the one way code reaches PostGIS."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine

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

