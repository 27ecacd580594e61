"""A transactional version per table, so tile ETags change exactly when the data behind them commits.

Revision ID: 0003_data_version
Revises: 0002_grid_shapes
Create Date: 2026-11-22

A sequence would be cheaper but is not transactional: a tile rendered before a write commits could
be tagged with the version that write already took, and then cached as current forever.
"""
from alembic import op

revision = "0003_data_version"
down_revision = "0002_grid_shapes"
branch_labels = None
depends_on = None

VERSIONED = ("grid", "grid_shape", "house", "household", "person", "place", "thing", "organization", "event",
             "visit", "event_category", "department")


def upgrade() -> None:
    rows = ", ".join(f"('{t}', 1)" for t in VERSIONED)
    triggers = "\n".join(
        f"CREATE TRIGGER {t}_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();" for t in VERSIONED)
    op.execute(f"""
CREATE TABLE data_version (
    name text PRIMARY KEY,
    version bigint NOT NULL
);
INSERT INTO data_version (name, version) VALUES {rows};

-- once per statement, so a bulk COPY costs one update; writers of one table queue here until commit
CREATE FUNCTION bump_data_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE data_version SET version = version + 1 WHERE name = TG_TABLE_NAME;
  RETURN NULL;
END $$;
{triggers}
""")


def downgrade() -> None:
    drops = "\n".join(f"DROP TRIGGER IF EXISTS {t}_bump_version ON {t};" for t in VERSIONED)
    op.execute(f"""{drops}
DROP FUNCTION bump_data_version();
DROP TABLE data_version;""")
