"""Scratch databases on the ledger's server, for tests and benchmarks: dropped and made fresh."""
from __future__ import annotations

from sqlalchemy import create_engine, make_url, text

from data.settings import Settings

TEMPLATE = "minqing_template"  # made by scripts/setup.sh with postgis and ltree installed


def fresh_database(name: str, base: Settings | None = None) -> Settings:
    """Drop and recreate database `name` beside the one in `base`, from the PostGIS template if present."""
    base = base or Settings.from_env()
    url = make_url(base.sqlalchemy_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            has_template = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :t"), {"t": TEMPLATE}).first()
            template = f' TEMPLATE "{TEMPLATE}"' if has_template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
    finally:
        admin.dispose()
    return Settings(database_url=url.set(database=name).render_as_string(hide_password=False))


# Every table of the ledger, children before parents (TRUNCATE … CASCADE would find them anyway).
LEDGER_TABLES = ("audit_log", "event_photo", "department_rating", "idempotency_key", "rate_limit", "app_user", "visit", "event_log", "event", "organization", "thing", "place", "person",
                 "household", "house", "staff", "demo_hotspot", "event_category", "department", "grid_shape", "house_residents",
                 "grid_leaf_piece", "grid")
# derived bookkeeping kept across an emptied ledger: versions only ever grow, so old ETags never match again
EMPTY_LEDGER_SQL = ("SET LOCAL minqing.allow_truncate = 'on'; "
                    f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE")
