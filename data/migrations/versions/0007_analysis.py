"""Stored analyses: each run with its parameters, the event data version it saw and when; its cells.

Revision ID: 0007_analysis
Revises: 0006_live_stream
Create Date: 2026-11-25

A run is reused while its parameters and the event table's data_version both match, so the API answers
a repeated question from here instead of recomputing Gi*; the catalogue layers draw the latest run.
"""
from alembic import op

revision = "0007_analysis"
down_revision = "0006_live_stream"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE analysis_run (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('hotspots', 'emerging', 'heat')),
    params jsonb NOT NULL,
    params_key text NOT NULL,
    data_version bigint NOT NULL,
    n_events integer NOT NULL DEFAULT 0,
    seconds double precision,
    computed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analysis_run_lookup ON analysis_run (kind, params_key, data_version, computed_at DESC);

-- one row per hexagon or grid cell of a run; cls is -3..3 (cold/hot at 99/95/90 % after FDR)
CREATE TABLE analysis_cell (
    run_id bigint NOT NULL REFERENCES analysis_run (id) ON DELETE CASCADE,
    cell text NOT NULL,
    count double precision NOT NULL DEFAULT 0,
    z double precision,
    p double precision,
    cls smallint NOT NULL DEFAULT 0 CHECK (cls BETWEEN -3 AND 3),
    trend text CHECK (trend IN ('new', 'intensifying', 'persistent', 'diminishing', 'sporadic', 'none')),
    density double precision,
    geom geometry(Geometry, 4326) NOT NULL,
    PRIMARY KEY (run_id, cell)
);
CREATE INDEX analysis_cell_geom ON analysis_cell USING gist (geom);

-- a new run changes what the hotspots, emerging and heat tiles draw, so it must change their ETags
INSERT INTO data_version (name, slot, version) SELECT 'analysis_run', s, 0 FROM generate_series(0, 15) s;
CREATE TRIGGER analysis_run_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis_run
  FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version();
""")


def downgrade() -> None:
    op.execute("DROP TABLE analysis_cell; DROP TABLE analysis_run; DELETE FROM data_version WHERE name = 'analysis_run';")
