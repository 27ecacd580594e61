"""The governance ledger: grids, people, places, things, organizations, events, users.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-22

The code lists in CHECK constraints are frozen copies of data/vocab.py as of
this revision; a later vocabulary change is a later migration.
"""
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

PINNED = ("house", "place", "thing", "organization", "event", "visit")


def _in(*codes: str) -> str:
    return "(" + ", ".join(f"'{c}'" for c in codes) + ")"


LEVELS = _in("district", "street", "community", "cell")
PERSON_TAGS = (
    "party_member", "veteran", "floating", "overseas", "elderly_alone", "subsistence", "disabled",
    "left_behind_child", "serious_illness", "community_correction", "released_prisoner", "drug_rehab",
    "mental_illness", "petitioner",
)
PLACE_KINDS = _in(
    "school", "kindergarten", "clinic", "hospital", "elderly_care", "market", "party_center",
    "construction_site", "rental_housing", "restaurant", "internet_cafe", "gas_station", "hazmat_store",
    "park", "religious",
)
THING_KINDS = _in("hydrant", "camera", "aed", "manhole", "streetlight", "charger")
ORG_KINDS = _in("party_branch", "property_company", "owners_committee", "social_org", "volunteer_team", "firm")
STAFF_ROLES = _in(
    "leader", "worker", "auxiliary", "police", "legal_advisor", "doctor", "supervisor", "party_liaison",
    "department_liaison", "special",
)
SOURCES = _in("grid_worker", "citizen_qr", "hotline_12345", "sensor", "video_ai", "open311")
STATUSES = _in(
    "reported", "accepted", "dispatched", "in_progress", "resolved", "verified", "closed", "returned",
    "escalated", "rejected", "suspended",
)
HANDLING_LEVELS = _in("grid", "community", "street", "district")
USER_ROLES = _in("admin", "commander", "analyst", "grid_leader", "grid_worker", "department", "citizen")

UPGRADE = f"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS ltree;

-- PostGIS 3.3 stores unclosed rings and NaN coordinates if asked; this is the gate every geometry passes.
CREATE FUNCTION geom_ok(g geometry) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- NaN sorts above every number in PostgreSQL, so the upper range checks also reject NaN;
  -- a point needs no GEOS validity check (the costly part), a polygon does
  SELECT ST_SRID(g) = 4326 AND NOT ST_IsEmpty(g)
     AND ST_XMin(g) >= -180 AND ST_XMax(g) <= 180 AND ST_YMin(g) >= -90 AND ST_YMax(g) <= 90
     AND (GeometryType(g) = 'POINT' OR ST_IsValid(g))
$$;

CREATE TABLE grid (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code text NOT NULL CHECK (code ~ '^[0-9A-Za-z]+(\\.[0-9A-Za-z]+)*$'),
    path ltree GENERATED ALWAYS AS (code::ltree) STORED,
    name text NOT NULL CHECK (name <> ''),
    level text NOT NULL CHECK (level IN {LEVELS}),
    kind text NOT NULL DEFAULT 'regular' CHECK (kind IN ('regular', 'dedicated')),
    dedicated_for text CHECK (dedicated_for IN ('school', 'hospital', 'market', 'industrial_park')),
    geom geometry(MultiPolygon, 4326) NOT NULL CHECK (geom_ok(geom)),
    leader text,
    household_target integer CHECK (household_target > 0),
    version integer NOT NULL DEFAULT 1 CHECK (version > 0),
    valid_from timestamptz NOT NULL DEFAULT now(),
    valid_to timestamptz,
    changed_by text,
    change_note text,
    CHECK (nlevel(code::ltree) = CASE level WHEN 'district' THEN 1 WHEN 'street' THEN 2
                                            WHEN 'community' THEN 3 ELSE 4 END),
    CHECK ((kind = 'dedicated') = (dedicated_for IS NOT NULL)),
    CHECK (kind = 'regular' OR level = 'cell'),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
COMMENT ON TABLE grid IS 'Versioned grid polygons; the current version of a code has valid_to IS NULL. The parent is the code''s prefix.';
CREATE UNIQUE INDEX grid_current_code ON grid (code) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX grid_code_version ON grid (code, version);
CREATE INDEX grid_path ON grid USING gist (path);
CREATE INDEX grid_geom ON grid USING gist (geom);

-- Current leaf grids cut into small pieces: point lookups test <=64 vertices instead of a whole polygon.
CREATE TABLE grid_leaf_piece (
    grid_id bigint NOT NULL REFERENCES grid (id),
    code text NOT NULL COLLATE "C",
    geom geometry(Polygon, 4326) NOT NULL
);
CREATE INDEX grid_leaf_piece_geom ON grid_leaf_piece USING gist (geom);
CREATE INDEX grid_leaf_piece_grid ON grid_leaf_piece (grid_id);

-- The deterministic rule: a point belongs to the current leaf grids that cover it (edges included);
-- on a shared edge or vertex, the one with the smallest code wins.
CREATE FUNCTION grid_at(p geometry) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  -- plpgsql, not sql: a non-inlined SQL function is planned again on every call, ~5x slower per pin
  RETURN (SELECT grid_id FROM grid_leaf_piece
          WHERE geom && p AND ST_Covers(geom, p)
          ORDER BY code LIMIT 1);
END $$;

CREATE TABLE department (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    name_en text NOT NULL
);

CREATE TABLE event_category (
    code text PRIMARY KEY,
    name text NOT NULL,
    name_en text NOT NULL,
    department_id integer REFERENCES department (id)
);

CREATE TABLE staff (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    grid_code text NOT NULL,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN {STAFF_ROLES}),
    phone text CHECK (phone ~ '^[0-9]{{11}}$'),
    department_id integer REFERENCES department (id),
    active boolean NOT NULL DEFAULT true
);
CREATE INDEX staff_grid_code ON staff (grid_code);

CREATE TABLE house (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ref text UNIQUE,
    address text NOT NULL,
    compound text,
    kind text NOT NULL DEFAULT 'residential' CHECK (kind IN ('residential', 'rental', 'bungalow', 'mixed')),
    floors smallint CHECK (floors BETWEEN 1 AND 200),
    geom geometry(Point, 4326) NOT NULL CHECK (geom_ok(geom)),
    grid_id bigint,
    outside_grid boolean GENERATED ALWAYS AS (grid_id IS NULL) STORED
);

CREATE TABLE household (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ref text UNIQUE,
    house_id bigint NOT NULL REFERENCES house (id),
    unit text,
    registered boolean NOT NULL DEFAULT true
);
CREATE INDEX household_house ON household (house_id);

-- ID numbers: 17 digits and a check character (GB 11643); the check digit itself is verified by loaders.
CREATE TABLE person (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    household_id bigint NOT NULL REFERENCES household (id),
    name text NOT NULL CHECK (name <> ''),
    gender char(1) NOT NULL CHECK (gender IN ('M', 'F')),
    birth_date date NOT NULL,
    id_number char(18) UNIQUE CHECK (id_number ~ '^[0-9]{{17}}[0-9X]$'),
    phone text CHECK (phone ~ '^[0-9]{{11}}$'),
    relation text NOT NULL DEFAULT 'head'
        CHECK (relation IN ('head', 'spouse', 'child', 'parent', 'grandchild', 'other')),
    tags text[] NOT NULL DEFAULT '{{}}' CHECK (tags <@ ARRAY{list(PERSON_TAGS)}::text[]),
    is_key_person boolean NOT NULL DEFAULT false
);
CREATE INDEX person_household ON person (household_id);
CREATE INDEX person_tags ON person USING gin (tags);

CREATE TABLE place (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ref text UNIQUE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN {PLACE_KINDS}),
    is_key boolean NOT NULL DEFAULT false,
    address text,
    geom geometry(Point, 4326) NOT NULL CHECK (geom_ok(geom)),
    grid_id bigint,
    outside_grid boolean GENERATED ALWAYS AS (grid_id IS NULL) STORED
);

CREATE TABLE thing (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ref text UNIQUE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN {THING_KINDS}),
    in_service boolean NOT NULL DEFAULT true,
    geom geometry(Point, 4326) NOT NULL CHECK (geom_ok(geom)),
    grid_id bigint,
    outside_grid boolean GENERATED ALWAYS AS (grid_id IS NULL) STORED
);

CREATE TABLE organization (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ref text UNIQUE,
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN {ORG_KINDS}),
    members integer CHECK (members >= 0),
    geom geometry(Point, 4326) NOT NULL CHECK (geom_ok(geom)),
    grid_id bigint,
    outside_grid boolean GENERATED ALWAYS AS (grid_id IS NULL) STORED
);

-- Events are the large table; every column a partition or shard key would need (reported_at) is here.
CREATE TABLE event (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ref text UNIQUE,
    title text NOT NULL CHECK (title <> ''),
    description text,
    category text NOT NULL REFERENCES event_category (code),
    source text NOT NULL CHECK (source IN {SOURCES}),
    status text NOT NULL DEFAULT 'reported' CHECK (status IN {STATUSES}),
    level text NOT NULL DEFAULT 'grid' CHECK (level IN {HANDLING_LEVELS}),
    priority smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 3),
    is_major boolean NOT NULL DEFAULT false,
    department_id integer REFERENCES department (id),
    reported_at timestamptz NOT NULL,
    due_at timestamptz,
    resolved_at timestamptz,
    closed_at timestamptz,
    overdue boolean NOT NULL DEFAULT false,
    satisfaction smallint CHECK (satisfaction BETWEEN 1 AND 5),
    geom geometry(Point, 4326) NOT NULL CHECK (geom_ok(geom)),
    grid_id bigint,
    reported_grid_id bigint,
    outside_grid boolean GENERATED ALWAYS AS (grid_id IS NULL) STORED,
    CHECK (due_at IS NULL OR due_at >= reported_at),
    CHECK (resolved_at IS NULL OR resolved_at >= reported_at),
    CHECK (closed_at IS NULL OR closed_at >= reported_at)
);
CREATE INDEX event_reported_at ON event (reported_at);
CREATE INDEX event_status ON event (status);
CREATE INDEX event_category_idx ON event (category);

CREATE TABLE event_log (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES event (id),
    at timestamptz NOT NULL,
    actor text NOT NULL,
    from_status text CHECK (from_status IN {STATUSES}),
    to_status text NOT NULL CHECK (to_status IN {STATUSES}),
    level text NOT NULL CHECK (level IN {HANDLING_LEVELS}),
    note text
);
CREATE INDEX event_log_event ON event_log (event_id, at);

CREATE TABLE visit (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    household_id bigint NOT NULL REFERENCES household (id),
    staff_id bigint REFERENCES staff (id),
    visited_at timestamptz NOT NULL,
    note text,
    geom geometry(Point, 4326) NOT NULL CHECK (geom_ok(geom)),
    grid_id bigint,
    outside_grid boolean GENERATED ALWAYS AS (grid_id IS NULL) STORED
);
CREATE INDEX visit_household ON visit (household_id, visited_at);

CREATE TABLE app_user (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{{2,64}}$'),
    display_name text NOT NULL,
    role text NOT NULL CHECK (role IN {USER_ROLES}),
    scope ltree[] NOT NULL DEFAULT '{{}}',
    password_hash text,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN app_user.scope IS 'Grid codes whose subtrees the user may see; empty means none (admins see all).';

CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    username text,
    action text NOT NULL,
    object_type text NOT NULL,
    object_id text,
    detail jsonb NOT NULL DEFAULT '{{}}'
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Ground truth of the demo generator's planted hotspots, so analytics can be scored.
CREATE TABLE demo_hotspot (
    id integer PRIMARY KEY,
    category text NOT NULL REFERENCES event_category (code),
    center geometry(Point, 4326) NOT NULL CHECK (geom_ok(center)),
    radius_m double precision NOT NULL CHECK (radius_m > 0),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    n_events integer NOT NULL
);

-- A pin's grid is the database's job: computed on insert and on every move, never taken from the writer.
-- grid_id has no foreign key: only this trigger writes it, from grid_leaf_piece, and grid rows are never
-- deleted; the check would cost more than the assignment itself on bulk loads.
CREATE FUNCTION pin_assign_grid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(grid_lock_key());
  NEW.grid_id := (SELECT grid_id FROM grid_leaf_piece
                  WHERE geom && NEW.geom AND ST_Covers(geom, NEW.geom) ORDER BY code LIMIT 1);
  RETURN NEW;
END $$;

-- Events also remember the grid they were reported in, for the record; it never changes afterwards.
CREATE FUNCTION event_assign_grid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(grid_lock_key());
  NEW.grid_id := (SELECT grid_id FROM grid_leaf_piece
                  WHERE geom && NEW.geom AND ST_Covers(geom, NEW.geom) ORDER BY code LIMIT 1);
  IF TG_OP = 'INSERT' THEN
    NEW.reported_grid_id := NEW.grid_id;
  ELSE
    NEW.reported_grid_id := OLD.reported_grid_id;
  END IF;
  RETURN NEW;
END $$;

-- After grids change: rebuild the leaf pieces touched, then re-derive every pin in the changed area.
-- One lock orders grid changes against pin writes: an edit's refresh holds it exclusively until
-- commit, every pin lookup shares it. Without it, a pin written while an edit is uncommitted would
-- keep the retired grid (its lookup saw the old pieces; the refresh never saw the new pin).
CREATE FUNCTION grid_lock_key() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 7260101::bigint $$;

-- After grids change: rebuild the leaf pieces whose leaf status or shape may differ, then re-derive
-- every pin in the changed area. A grid is a leaf when no current grid lies below its path, so a
-- change to a row can flip only that row and the ancestors of its old and new paths.
CREATE FUNCTION grid_refresh(changed_ids bigint[], paths ltree[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  touched bigint[];
  areas geometry[];
  t text;
BEGIN
  PERFORM pg_advisory_xact_lock(grid_lock_key());
  SELECT array_agg(DISTINCT g.id) INTO touched
  FROM grid g
  WHERE g.id = ANY(changed_ids) OR (g.valid_to IS NULL AND g.path @> ANY(paths));

  -- where a pin's grid may now differ: the old leaf pieces and the changed polygons, kept small for the index
  SELECT array_agg(p.geom) INTO areas FROM (
    SELECT geom FROM grid_leaf_piece WHERE grid_id = ANY(touched)
    UNION ALL SELECT ST_Subdivide(geom, 64) FROM grid WHERE id = ANY(changed_ids)
  ) p;

  DELETE FROM grid_leaf_piece WHERE grid_id = ANY(touched);
  INSERT INTO grid_leaf_piece (grid_id, code, geom)
  SELECT g.id, g.code, ST_Subdivide(g.geom, 64)
  FROM grid g
  WHERE g.id = ANY(touched) AND g.valid_to IS NULL
    AND NOT EXISTS (SELECT 1 FROM grid k WHERE k.valid_to IS NULL AND k.path <@ g.path AND k.id <> g.id);

  FOREACH t IN ARRAY ARRAY{list(PINNED)} LOOP
    -- assigning geom to itself fires the pin trigger, the one place a grid is computed
    EXECUTE format(
      'WITH candidate AS ('
      '  SELECT p.id FROM unnest($2) a JOIN %1$I p ON p.geom && a AND ST_Intersects(a, p.geom)'
      '  UNION SELECT id FROM %1$I WHERE grid_id = ANY($1))'
      ' UPDATE %1$I p SET geom = p.geom FROM candidate c'
      ' WHERE p.id = c.id AND p.grid_id IS DISTINCT FROM grid_at(p.geom)', t)
    USING touched, coalesce(areas, '{{}}'::geometry[]);
  END LOOP;
END $$;

CREATE FUNCTION grid_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM grid_refresh(ARRAY(SELECT id FROM new_rows), ARRAY(SELECT path FROM new_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION grid_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed bigint[];
  paths ltree[];
BEGIN
  SELECT array_agg(n.id), array_agg(n.path) || array_agg(o.path) INTO changed, paths
  FROM new_rows n JOIN old_rows o USING (id)
  WHERE n.geom IS DISTINCT FROM o.geom OR n.valid_to IS DISTINCT FROM o.valid_to OR n.code IS DISTINCT FROM o.code;
  IF changed IS NOT NULL THEN
    PERFORM grid_refresh(changed, paths);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER grid_after_insert AFTER INSERT ON grid
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION grid_after_insert();
CREATE TRIGGER grid_after_update AFTER UPDATE ON grid
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION grid_after_update();

-- Grid rows are history: close a version (valid_to), never delete it.
CREATE FUNCTION grid_no_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'grid versions are never deleted; close them with valid_to' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER grid_no_delete BEFORE DELETE ON grid FOR EACH ROW EXECUTE FUNCTION grid_no_delete();

-- TRUNCATE skips row triggers, so it gets its own guard; emptying the whole ledger on purpose (a demo
-- reload, a test) says so with SET LOCAL minqing.allow_truncate = 'on'.
CREATE FUNCTION grid_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('minqing.allow_truncate', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'grid history is never truncated (set minqing.allow_truncate to empty the whole ledger)'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER grid_no_truncate BEFORE TRUNCATE ON grid FOR EACH STATEMENT EXECUTE FUNCTION grid_no_truncate();
"""


def _pinned_sql() -> str:
    out = []
    for t in PINNED:
        fn = "event_assign_grid" if t == "event" else "pin_assign_grid"
        columns = "geom, grid_id, reported_grid_id" if t == "event" else "geom, grid_id"
        # events: per-grid counts under any filter are answered from the index alone (see layers/events.py)
        include = " INCLUDE (status, overdue, is_major, category, source, reported_at)" if t == "event" else ""
        out.append(f"""
CREATE INDEX {t}_geom ON {t} USING gist (geom);
CREATE INDEX {t}_grid ON {t} (grid_id){include};
CREATE INDEX {t}_outside ON {t} (id) WHERE grid_id IS NULL;
CREATE TRIGGER {t}_assign_grid BEFORE INSERT OR UPDATE OF {columns} ON {t}
  FOR EACH ROW EXECUTE FUNCTION {fn}();""")
    return "\n".join(out)


DOWNGRADE = """
DROP TABLE IF EXISTS demo_hotspot, audit_log, app_user, visit, event_log, event, organization, thing, place,
  person, household, house, staff, event_category, department, grid_leaf_piece, grid CASCADE;
DROP FUNCTION IF EXISTS grid_no_truncate(), grid_no_delete(), grid_after_update(), grid_after_insert(),
  grid_refresh(bigint[], ltree[]), grid_lock_key(),
  event_assign_grid(), pin_assign_grid(), grid_at(geometry), geom_ok(geometry);
"""


def upgrade() -> None:
    op.execute(UPGRADE + _pinned_sql())


def downgrade() -> None:
    op.execute(DOWNGRADE)
