"""Boundary edits refresh the map once, for exactly the grids they change.

Revision ID: 0008_edit_refresh
Revises: 0007_analysis
Create Date: 2026-11-26

The grid triggers refresh after every statement, so an edit (close old versions, insert new ones) paid
for it twice and re-derived every pin of the changed grids against a map with a hole in it. An edit
now says so with `minqing.grid_refresh = 'edit'` for its transaction and calls `grid_edit_refresh`
itself: the changed grids' leaf pieces are rebuilt once and only pins where old and new shapes differ are
re-derived, through the pin trigger as before. A changed grid keeps its row (and id) and the old version
is copied to a closed row, so the pins that stay in it are not rewritten at all. Every other write to `grid` keeps the triggers.
"""
from alembic import op

revision = "0008_edit_refresh"
down_revision = "0007_analysis"
branch_labels = None
depends_on = None

PINNED = ("house", "place", "thing", "organization", "event", "visit")  # as in 0001
# as data.vocab.OPEN_STATUSES when this was written: a migration keeps the values it was written with
OPEN = ("accepted", "dispatched", "escalated", "in_progress", "reported", "returned", "suspended")
DEFERRED = "current_setting('minqing.grid_refresh', true) = 'edit'"


def _triggers(guard: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION grid_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  {guard}
  PERFORM grid_refresh(ARRAY(SELECT id FROM new_rows), ARRAY(SELECT path FROM new_rows));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION grid_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed bigint[];
  paths ltree[];
BEGIN
  {guard}
  SELECT array_agg(n.id), array_agg(n.path) || array_agg(o.path) INTO changed, paths
  FROM new_rows n JOIN old_rows o USING (id)
  WHERE n.geom IS DISTINCT FROM o.geom OR n.valid_to IS DISTINCT FROM o.valid_to OR n.code IS DISTINCT FROM o.code;
  IF changed IS NOT NULL THEN
    PERFORM grid_refresh(changed, paths);
  END IF;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(_triggers(f"IF {DEFERRED} THEN RETURN NULL; END IF;"))
    op.execute(f"""
-- An edit of sibling leaves: changed grids keep their row (history gets a copy of the old version),
-- retired ones are closed, new ones inserted; the parent and every other grid stay as they were. Only
-- pins in `area` (where old and new shapes differ) can change grid. Returns each pin that did.
CREATE FUNCTION grid_edit_refresh(changed_ids bigint[], area geometry)
RETURNS TABLE (pin text, pin_id bigint, from_grid bigint, to_grid bigint, open boolean)
LANGUAGE plpgsql AS $$
DECLARE
  t text;
BEGIN
  PERFORM pg_advisory_xact_lock(grid_lock_key());
  DELETE FROM grid_leaf_piece WHERE grid_id = ANY(changed_ids);
  INSERT INTO grid_leaf_piece (grid_id, code, geom)
  SELECT g.id, g.code, ST_Subdivide(g.geom, 64)
  FROM grid g
  WHERE g.id = ANY(changed_ids) AND g.valid_to IS NULL
    AND NOT EXISTS (SELECT 1 FROM grid k WHERE k.valid_to IS NULL AND k.path <@ g.path AND k.id <> g.id);
  FOREACH t IN ARRAY ARRAY{list(PINNED)} LOOP
    -- assigning geom to itself fires the pin trigger, the one place a grid is computed
    RETURN QUERY EXECUTE format(
      'WITH candidate AS ('
      '  SELECT DISTINCT p.id, p.grid_id FROM (SELECT ST_Subdivide($1, 64) AS geom) a'
      '    JOIN %1$I p ON p.geom && a.geom AND ST_Intersects(a.geom, p.geom)),'
      ' moved AS ('  -- nearly every pin in the area changes grid: one lookup each, in the trigger
      '  UPDATE %1$I p SET geom = p.geom FROM candidate c WHERE p.id = c.id'
      '  RETURNING p.id, c.grid_id AS from_grid, p.grid_id AS to_grid, %2$s AS open)'
      ' SELECT %1$L, id, from_grid, to_grid, open FROM moved WHERE from_grid IS DISTINCT FROM to_grid', t,
      CASE t WHEN 'event' THEN 'p.status = ANY($2)' ELSE 'NULL::boolean' END)
    USING area, ARRAY{list(OPEN)};
  END LOOP;
END $$;
""")


def downgrade() -> None:
    op.execute("DROP FUNCTION grid_edit_refresh(bigint[], geometry);")
    op.execute(_triggers(""))
