"""Generalised grid polygons per zoom band, for tiles that keep shared edges shared.

Revision ID: 0002_grid_shapes
Revises: 0001_ledger
Create Date: 2026-11-22
"""
from alembic import op

revision = "0002_grid_shapes"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE grid_shape (
    grid_id bigint NOT NULL REFERENCES grid (id),
    band smallint NOT NULL CHECK (band >= 0),
    geom geometry(MultiPolygon, 4326) NOT NULL CHECK (geom_ok(geom)),
    PRIMARY KEY (grid_id, band)
);
COMMENT ON TABLE grid_shape IS 'Coverage-simplified grid polygons per zoom band (data.generalize); derived, rebuilt after edits.';
""")


def downgrade() -> None:
    op.execute("DROP TABLE grid_shape")
