"""The closed loop: intake channels, routing, stage deadlines, supervision, ratings, duplicates, NOTIFY.

Revision ID: 0005_closed_loop
Revises: 0004_house_residents
Create Date: 2026-11-23

Deadlines are computed once, when an event enters a stage (`stage_due_at`, on the stage's clock), so
`tick` is one indexed range scan however many events there are. The working-hours clock and the
stage of each status live in SQL because `tick` escalates inside the database; data/lifecycle.py
holds the same stage table for Python readers and a test keeps the two equal.
"""
from alembic import op

revision = "0005_closed_loop"
down_revision = "0004_house_residents"
branch_labels = None
depends_on = None

OPEN_STATUSES = "('reported', 'accepted', 'dispatched', 'in_progress', 'returned', 'escalated', 'suspended')"
TICKED = OPEN_STATUSES[:-1] + ", 'resolved')"

# (category or '*', stage, hours, clock, on_overdue): shipped defaults, editable rows afterwards
POLICY = [
    ("*", "accept", 4, "continuous", "escalate"),
    ("*", "dispatch", 8, "continuous", "escalate"),
    ("*", "handle", 40, "working", "escalate"),
    ("*", "verify", 48, "continuous", "flag"),
    ("safety_hazard", "accept", 1, "continuous", "escalate"),
    ("safety_hazard", "dispatch", 2, "continuous", "escalate"),
    ("safety_hazard", "handle", 24, "continuous", "escalate"),
    ("public_order", "accept", 1, "continuous", "escalate"),
    ("public_order", "handle", 24, "continuous", "escalate"),
    ("food_safety", "handle", 48, "continuous", "escalate"),
    ("heating", "handle", 48, "continuous", "escalate"),
    ("environment", "handle", 24, "working", "escalate"),
    ("noise", "handle", 24, "working", "escalate"),
    ("property", "handle", 40, "working", "escalate"),
    ("public_service", "handle", 40, "working", "escalate"),
    ("illegal_construction", "handle", 56, "working", "escalate"),
    ("dispute", "handle", 56, "working", "escalate"),
    ("wage_arrears", "handle", 75, "working", "escalate"),
    ("petition", "handle", 112, "working", "flag"),
]

# 12345 work orders name their category in free text; the longest keyword found wins
HOTLINE_KEYWORDS = [
    ("噪音", "noise"), ("噪声", "noise"), ("扰民", "noise"), ("暖气", "heating"), ("供暖", "heating"),
    ("供热", "heating"), ("违建", "illegal_construction"), ("违章", "illegal_construction"),
    ("违章建筑", "illegal_construction"), ("违法建设", "illegal_construction"), ("搭建", "illegal_construction"),
    ("私搭乱建", "illegal_construction"), ("欠薪", "wage_arrears"), ("拖欠工资", "wage_arrears"),
    ("工资", "wage_arrears"), ("讨薪", "wage_arrears"), ("纠纷", "dispute"), ("邻里矛盾", "dispute"),
    ("隐患", "safety_hazard"), ("消防", "safety_hazard"), ("燃气", "safety_hazard"), ("垃圾", "environment"),
    ("环境卫生", "environment"), ("环境", "environment"), ("污染", "environment"), ("餐饮油烟", "environment"),
    ("污水", "environment"), ("占道", "environment"), ("物业", "property"), ("电梯", "property"),
    ("食品", "food_safety"), ("餐饮", "food_safety"), ("治安", "public_order"), ("打架", "public_order"),
    ("盗窃", "public_order"), ("信访", "petition"), ("路灯", "public_service"), ("公共服务", "public_service"),
    ("井盖", "public_service"), ("停水", "public_service"), ("停电", "public_service"),
]


def _values(rows) -> str:
    return ",\n  ".join("(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in row) + ")"
                        for row in rows)


def upgrade() -> None:
    op.execute(f"""
ALTER TABLE app_user ADD COLUMN department_id integer REFERENCES department (id) ON DELETE SET NULL,
  ADD CONSTRAINT department_users_have_one CHECK ((role = 'department') = (department_id IS NOT NULL));

ALTER TABLE event
  ADD COLUMN tracking_no text UNIQUE CHECK (tracking_no ~ '^MQ[0-9A-Z]{{10}}$'),
  ADD COLUMN external_id text CHECK (external_id <> ''),
  ADD COLUMN reporter_name text,
  ADD COLUMN reporter_contact text,
  ADD COLUMN address text,
  ADD COLUMN media_url text CHECK (media_url ~ '^https?://'),
  ADD COLUMN handling_mode text CHECK (handling_mode IN ('grid', 'department', 'joint')),
  ADD COLUMN joint_department_ids integer[],
  ADD COLUMN stage_due_at timestamptz,
  ADD COLUMN review_at timestamptz,
  ADD COLUMN extensions smallint NOT NULL DEFAULT 0 CHECK (extensions BETWEEN 0 AND 2),
  ADD COLUMN supervised boolean NOT NULL DEFAULT false,
  ADD COLUMN possible_duplicate_of bigint REFERENCES event (id),
  ADD COLUMN merged_into bigint REFERENCES event (id),
  ADD COLUMN updated_at timestamptz,
  ADD COLUMN rev integer NOT NULL DEFAULT 0,
  ADD CONSTRAINT joint_has_departments CHECK ((handling_mode = 'joint' AND cardinality(joint_department_ids) >= 2)
                                              OR (handling_mode IS DISTINCT FROM 'joint'
                                                  AND joint_department_ids IS NULL));
-- events already stored: open ones get the deadline of their stage from their last step, suspended ones
-- a review date a month after it
UPDATE event e SET updated_at = COALESCE((SELECT max(l.at) FROM event_log l WHERE l.event_id = e.id), e.reported_at)
WHERE status IN {OPEN_STATUSES};
UPDATE event SET review_at = updated_at + interval '30 days' WHERE status = 'suspended';
ALTER TABLE event ADD CONSTRAINT suspended_has_review CHECK (status <> 'suspended' OR review_at IS NOT NULL);
COMMENT ON COLUMN event.reporter_contact IS 'The reporter''s phone or e-mail: for call-backs only, never shown to grid staff.';
CREATE UNIQUE INDEX event_external_id ON event (source, external_id) WHERE external_id IS NOT NULL;
-- so deleting or merging an event checks its references by index, not by scanning every event
CREATE INDEX event_possible_duplicate ON event (possible_duplicate_of) WHERE possible_duplicate_of IS NOT NULL;
CREATE INDEX event_merged_into ON event (merged_into) WHERE merged_into IS NOT NULL;
-- tick reads only this: events with a running stage deadline (open or awaiting verification), not yet overdue
CREATE INDEX event_stage_due ON event (stage_due_at) WHERE NOT overdue AND status IN {TICKED};
CREATE INDEX event_open_category ON event USING gist (geom) WHERE status IN {OPEN_STATUSES};

ALTER TABLE event_log
  ADD COLUMN action text NOT NULL DEFAULT 'transition'
    CHECK (action IN ('transition', 'overdue', 'extend', 'supervise', 'rate', 'rate_department', 'merge',
                      'flag_duplicate', 'photo')),
  ADD COLUMN actor_role text,
  ADD COLUMN detail jsonb;

CREATE TABLE deadline_policy (
    category text NOT NULL,  -- an event_category code, or '*' for every category without its own row
    stage text NOT NULL CHECK (stage IN ('accept', 'dispatch', 'handle', 'verify')),
    hours numeric NOT NULL CHECK (hours > 0),
    clock text NOT NULL DEFAULT 'continuous' CHECK (clock IN ('continuous', 'working')),
    on_overdue text NOT NULL DEFAULT 'escalate' CHECK (on_overdue IN ('flag', 'escalate')),
    escalate_by smallint NOT NULL DEFAULT 1 CHECK (escalate_by BETWEEN 1 AND 3),
    PRIMARY KEY (category, stage)
);
INSERT INTO deadline_policy (category, stage, hours, clock, on_overdue) VALUES
  {_values(POLICY)};

-- days off the working clock skips besides weekends (public holidays), and weekend days worked (调休)
CREATE TABLE work_calendar (
    day date PRIMARY KEY,
    working boolean NOT NULL
);

CREATE TABLE idempotency_key (
    owner text NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    body_sha256 text NOT NULL,
    event_id bigint REFERENCES event (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_key_event ON idempotency_key (event_id);

CREATE TABLE event_photo (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
    path text NOT NULL UNIQUE,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes integer NOT NULL CHECK (bytes > 0),
    sha256 text NOT NULL,
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_photo_event ON event_photo (event_id);

CREATE TABLE department_rating (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
    department_id integer NOT NULL REFERENCES department (id),
    score smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    rated_by text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    note text,
    UNIQUE (event_id, department_id)
);

CREATE TABLE api_key (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{{1,64}}$'),
    key_sha256 text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked boolean NOT NULL DEFAULT false
);

CREATE TABLE rate_limit (
    bucket text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL
);

CREATE TABLE hotline_category_map (
    keyword text PRIMARY KEY CHECK (keyword <> ''),
    category text NOT NULL
);
INSERT INTO hotline_category_map (keyword, category) VALUES
  {_values(HOTLINE_KEYWORDS)};

-- Which stage a status is in, for deadlines (a frozen copy of data.lifecycle.STAGE_OF).
CREATE FUNCTION event_stage(status text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN status IN ('reported', 'escalated', 'returned') THEN 'accept'
              WHEN status = 'accepted' THEN 'dispatch'
              WHEN status IN ('dispatched', 'in_progress') THEN 'handle'
              WHEN status = 'resolved' THEN 'verify' END
$$;

-- t0 plus `hours` on a clock: 'continuous', or 'working' = Beijing office hours
-- (Mon-Fri 09:00-12:00 and 13:30-18:00, 7.5 h a day) with work_calendar's exceptions.
CREATE FUNCTION add_hours(t0 timestamptz, hours numeric, clock text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  local timestamp := t0 AT TIME ZONE 'Asia/Shanghai';
  remaining interval := make_interval(secs => hours * 3600);
  today date;
  open_at timestamp;
  close_at timestamp;
  span interval;
  shift int;
  working boolean;
BEGIN
  IF clock = 'continuous' THEN
    RETURN t0 + remaining;
  END IF;
  LOOP
    today := local::date;
    working := COALESCE((SELECT w.working FROM work_calendar w WHERE w.day = today),
                        extract(isodow FROM today) < 6);
    IF working THEN
      FOR shift IN 0..1 LOOP
        open_at := today + CASE shift WHEN 0 THEN time '09:00' ELSE time '13:30' END;
        close_at := today + CASE shift WHEN 0 THEN time '12:00' ELSE time '18:00' END;
        IF local < close_at THEN
          local := greatest(local, open_at);
          span := close_at - local;
          IF remaining <= span THEN
            RETURN (local + remaining) AT TIME ZONE 'Asia/Shanghai';
          END IF;
          remaining := remaining - span;
          local := close_at;
        END IF;
      END LOOP;
    END IF;
    local := (today + 1)::timestamp;
  END LOOP;
END $$;

-- The deadline of `stage` for `category` starting at t0 (NULL for stages without one).
CREATE FUNCTION stage_deadline(category text, stage text, t0 timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT add_hours(t0, p.hours, p.clock) FROM deadline_policy p
  WHERE p.stage = stage_deadline.stage AND p.category IN (stage_deadline.category, '*')
  ORDER BY p.category = '*' LIMIT 1
$$;

-- Every change of an event tells listeners (the live map) its id and new state. A statement that
-- touches more than 1,000 events (a bulk load, a boundary edit) sends one 'bulk' message instead.
CREATE FUNCTION event_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  n bigint := (SELECT count(*) FROM changed);
BEGIN
  IF n > 1000 THEN
    PERFORM pg_notify('minqing_events', json_build_object('op', 'bulk', 'count', n)::text);
  ELSIF n > 0 THEN
    PERFORM pg_notify('minqing_events', json_build_object(
        'op', lower(TG_OP), 'id', c.id, 'status', c.status, 'level', c.level, 'overdue', c.overdue,
        'supervised', c.supervised, 'category', c.category, 'grid_id', c.grid_id,
        'lon', round(ST_X(c.geom)::numeric, 6), 'lat', round(ST_Y(c.geom)::numeric, 6))::text)
    FROM changed c ORDER BY c.id;
  END IF;
  RETURN NULL;
END $$;
-- data_version held one row per table, so every writer of events queued on that row until the one
-- before it had committed (fsync included): intake ran one report per commit, ~150/s. Sixteen slots
-- per table, picked by backend, and readers take the sum: still transactional (the sum changes exactly
-- when a write commits), with sixteen queues instead of one.
ALTER TABLE data_version ADD COLUMN slot smallint NOT NULL DEFAULT 0 CHECK (slot BETWEEN 0 AND 15);
ALTER TABLE data_version DROP CONSTRAINT data_version_pkey, ADD PRIMARY KEY (name, slot);
INSERT INTO data_version (name, slot, version)
SELECT name, s, 0 FROM (SELECT DISTINCT name FROM data_version) n, generate_series(1, 15) s;
CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE data_version SET version = version + 1 WHERE name = TG_TABLE_NAME AND slot = pg_backend_pid() % 16;
  RETURN NULL;
END $$;

CREATE TRIGGER event_notify_insert AFTER INSERT ON event REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION event_notify();
CREATE TRIGGER event_notify_update AFTER UPDATE ON event REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION event_notify();

UPDATE event SET stage_due_at = CASE WHEN status = 'suspended' THEN review_at
                                     ELSE stage_deadline(category, event_stage(status), updated_at) END
WHERE status IN {OPEN_STATUSES};
""")


def downgrade() -> None:
    op.execute("""
CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE data_version SET version = version + 1 WHERE name = TG_TABLE_NAME;
  RETURN NULL;
END $$;
UPDATE data_version d SET version = t.total FROM (SELECT name, sum(version) AS total FROM data_version GROUP BY name) t
WHERE d.name = t.name AND d.slot = 0;
DELETE FROM data_version WHERE slot <> 0;
ALTER TABLE data_version DROP CONSTRAINT data_version_pkey, ADD PRIMARY KEY (name);
ALTER TABLE data_version DROP COLUMN slot;
DROP TRIGGER event_notify_update ON event;
DROP TRIGGER event_notify_insert ON event;
DROP FUNCTION event_notify();
DROP FUNCTION stage_deadline(text, text, timestamptz);
DROP FUNCTION add_hours(timestamptz, numeric, text);
DROP FUNCTION event_stage(text);
DROP TABLE hotline_category_map, rate_limit, api_key, department_rating, event_photo, idempotency_key,
  work_calendar, deadline_policy;
ALTER TABLE event_log DROP COLUMN detail, DROP COLUMN actor_role, DROP COLUMN action;
DROP INDEX event_open_category;
DROP INDEX event_stage_due;
DROP INDEX event_merged_into;
DROP INDEX event_possible_duplicate;
DROP INDEX event_external_id;
ALTER TABLE event DROP CONSTRAINT suspended_has_review, DROP CONSTRAINT joint_has_departments,
  DROP COLUMN rev, DROP COLUMN updated_at, DROP COLUMN merged_into, DROP COLUMN possible_duplicate_of,
  DROP COLUMN supervised, DROP COLUMN extensions, DROP COLUMN review_at, DROP COLUMN stage_due_at,
  DROP COLUMN joint_department_ids, DROP COLUMN handling_mode, DROP COLUMN media_url, DROP COLUMN address,
  DROP COLUMN reporter_contact, DROP COLUMN reporter_name, DROP COLUMN external_id, DROP COLUMN tracking_no;
ALTER TABLE app_user DROP CONSTRAINT department_users_have_one, DROP COLUMN department_id;
""")
