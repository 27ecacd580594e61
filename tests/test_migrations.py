"""Migrations build the ledger from nothing, tear it down cleanly, and agree with the models."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from data import migrate
from data.models import Base
from tests.conftest import db_name, fresh_database
from data.db import make_engine

LEDGER = {"grid", "grid_shape", "data_version", "house_residents", "grid_leaf_piece", "department", "event_category", "staff", "house", "household", "person",
          "place", "thing", "organization", "event", "event_log", "visit", "app_user", "audit_log", "demo_hotspot"}


@pytest.fixture(scope="module")
def scratch():
    engine = make_engine(fresh_database(db_name("migrations")))
    yield engine
    engine.dispose()


def test_upgrade_from_empty_then_downgrade_cleanly(scratch):
    migrate.upgrade(scratch)
    assert migrate.current_revision(scratch) == migrate.head_revision()
    assert LEDGER <= set(inspect(scratch).get_table_names())

    migrate.downgrade(scratch, "base")
    assert migrate.current_revision(scratch) is None
    assert set(inspect(scratch).get_table_names()) & LEDGER == set()
    with scratch.connect() as conn:
        leftovers = conn.execute(text(
            "SELECT proname FROM pg_proc WHERE proname IN "
            "('geom_ok', 'grid_at', 'grid_refresh', 'pin_assign_grid', 'event_assign_grid')")).scalars().all()
    assert leftovers == []

    migrate.upgrade(scratch)  # and up again, from a downgraded database
    assert migrate.current_revision(scratch) == migrate.head_revision()


def test_models_match_the_migrated_schema(scratch):
    migrate.upgrade(scratch)
    with scratch.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    def relevant(d) -> bool:
        # index/constraint placement is the migration's business; tables and columns must agree
        kind = d[0] if isinstance(d, tuple) else d[0][0]
        return kind in ("add_table", "remove_table", "add_column", "remove_column")

    owned_elsewhere = ("alembic_version", "spatial_ref_sys")  # Alembic's and PostGIS's own tables
    problems = [d for d in diff if relevant(d) and not any(t in str(d[1]) for t in owned_elsewhere)]
    assert problems == []
