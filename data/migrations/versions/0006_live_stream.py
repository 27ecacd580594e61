"""The live map's feed: every `event_log` row is announced on `minqing_log`, so `/stream` can send it on.

Revision ID: 0006_live_stream
Revises: 0005_closed_loop
Create Date: 2026-11-24

The log row, not the event, is what a browser follows: it has an id that only grows (the SSE id a
reconnecting client hands back) and says what happened. `event_log_message` builds the one message
shape for the trigger and for the replay after a reconnect, so the two cannot drift apart; `minqing_events`
(0005) stays as it is for listeners that want event states.
"""
from alembic import op

revision = "0006_live_stream"
down_revision = "0005_closed_loop"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
-- One log row as the live map needs it: what happened (from the log) and where the event is now.
-- STABLE, not a view, because the trigger passes rows of its transition table.
CREATE FUNCTION event_log_message(l event_log) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT json_build_object(
      'log_id', l.id, 'event_id', l.event_id, 'action', l.action, 'from', l.from_status, 'to', l.to_status,
      'status', e.status, 'level', l.level, 'overdue', e.overdue, 'category', e.category, 'grid', g.code,
      'lon', round(ST_X(e.geom)::numeric, 6), 'lat', round(ST_Y(e.geom)::numeric, 6), 'at', l.at)
  FROM (SELECT 1) one
  LEFT JOIN event e ON e.id = l.event_id
  LEFT JOIN grid g ON g.id = e.grid_id
$$;

-- A statement logging more than 1,000 rows (an import, a mass escalation) sends one 'bulk' message with
-- the id range instead: listeners reload rather than drown, and NOTIFY's queue stays small.
CREATE FUNCTION event_log_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n bigint := (SELECT count(*) FROM added);
BEGIN
  IF n > 1000 THEN
    PERFORM pg_notify('minqing_log', json_build_object(
        'op', 'bulk', 'count', n, 'first_id', (SELECT min(id) FROM added),
        'log_id', (SELECT max(id) FROM added))::text);
  ELSIF n > 0 THEN
    PERFORM pg_notify('minqing_log', event_log_message(a)::text) FROM added a ORDER BY a.id;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER event_log_notify AFTER INSERT ON event_log REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION event_log_notify();
""")


def downgrade() -> None:
    op.execute("""
DROP TRIGGER event_log_notify ON event_log;
DROP FUNCTION event_log_notify();
DROP FUNCTION event_log_message(event_log);
""")
