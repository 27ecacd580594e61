"""Resident counts per house, kept current by statement triggers on person and household.

Revision ID: 0004_house_residents
Revises: 0003_data_version
Create Date: 2026-11-22

Residents are only ever drawn as counts; summing ~60k house rows instead of joining ~1 M people
makes the city-wide residents tile about 50x cheaper. Each writing statement re-derives the rows
of the houses it touched, so a bulk load costs one grouped query, and a single edit a tiny one.
"""
from alembic import op

revision = "0004_house_residents"
down_revision = "0003_data_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE house_residents (
    house_id bigint PRIMARY KEY REFERENCES house (id) ON DELETE CASCADE,
    residents integer NOT NULL,
    households integer NOT NULL,
    elderly_alone integer NOT NULL,
    left_behind_children integer NOT NULL,
    subsistence integer NOT NULL,
    disabled integer NOT NULL,
    floating integer NOT NULL,
    key_persons integer NOT NULL
);

-- IN (SELECT unnest(...)) hashes the list; = ANY(array) scans it once per row (hours for a bulk load).
-- The house rows are locked first, in id order: two transactions refreshing one house queue up, and the
-- second re-derives from what the first committed (each statement here takes a fresh snapshot).
CREATE FUNCTION house_residents_refresh(houses bigint[]) RETURNS void
LANGUAGE sql AS $$
  SELECT 1 FROM house WHERE id IN (SELECT unnest(houses)) ORDER BY id FOR UPDATE;
  DELETE FROM house_residents WHERE house_id IN (SELECT unnest(houses));
  INSERT INTO house_residents
  SELECT hh.house_id, count(r.id), count(DISTINCT hh.id),
         count(*) FILTER (WHERE 'elderly_alone' = ANY(r.tags)),
         count(*) FILTER (WHERE 'left_behind_child' = ANY(r.tags)),
         count(*) FILTER (WHERE 'subsistence' = ANY(r.tags)),
         count(*) FILTER (WHERE 'disabled' = ANY(r.tags)),
         count(*) FILTER (WHERE 'floating' = ANY(r.tags)),
         count(*) FILTER (WHERE r.is_key_person)
  FROM household hh LEFT JOIN person r ON r.household_id = hh.id
  WHERE hh.house_id IN (SELECT unnest(houses))
  GROUP BY hh.house_id;
$$;

CREATE FUNCTION person_touches_houses() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  houses bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT hh.house_id) INTO houses FROM new_rows n JOIN household hh ON hh.id = n.household_id;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT hh.house_id) INTO houses FROM old_rows o JOIN household hh ON hh.id = o.household_id;
  ELSE
    SELECT array_agg(DISTINCT hh.house_id) INTO houses FROM household hh
    WHERE hh.id IN (SELECT household_id FROM new_rows UNION SELECT household_id FROM old_rows);
  END IF;
  PERFORM house_residents_refresh(houses);
  RETURN NULL;
END $$;

CREATE FUNCTION household_touches_houses() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  houses bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT house_id) INTO houses FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT house_id) INTO houses FROM old_rows;
  ELSE
    SELECT array_agg(DISTINCT house_id) INTO houses FROM (SELECT house_id FROM new_rows UNION SELECT house_id FROM old_rows) x;
  END IF;
  PERFORM house_residents_refresh(houses);
  RETURN NULL;
END $$;

CREATE FUNCTION house_residents_rebuild() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM house_residents_refresh(ARRAY(SELECT id FROM house));
  RETURN NULL;
END $$;
CREATE TRIGGER person_truncated AFTER TRUNCATE ON person FOR EACH STATEMENT EXECUTE FUNCTION house_residents_rebuild();
CREATE TRIGGER household_truncated AFTER TRUNCATE ON household
  FOR EACH STATEMENT EXECUTE FUNCTION house_residents_rebuild();

CREATE TRIGGER person_inserted AFTER INSERT ON person REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION person_touches_houses();
CREATE TRIGGER person_updated AFTER UPDATE ON person REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION person_touches_houses();
CREATE TRIGGER person_deleted AFTER DELETE ON person REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION person_touches_houses();
CREATE TRIGGER household_inserted AFTER INSERT ON household REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION household_touches_houses();
CREATE TRIGGER household_updated AFTER UPDATE ON household REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION household_touches_houses();
CREATE TRIGGER household_deleted AFTER DELETE ON household REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION household_touches_houses();

SELECT house_residents_refresh(ARRAY(SELECT id FROM house));
""")


def downgrade() -> None:
    op.execute("""
DROP TRIGGER person_inserted ON person; DROP TRIGGER person_updated ON person; DROP TRIGGER person_deleted ON person;
DROP TRIGGER household_inserted ON household; DROP TRIGGER household_updated ON household;
DROP TRIGGER household_deleted ON household;
DROP TRIGGER person_truncated ON person; DROP TRIGGER household_truncated ON household;
DROP FUNCTION house_residents_rebuild();
DROP FUNCTION household_touches_houses(); DROP FUNCTION person_touches_houses();
DROP FUNCTION house_residents_refresh(bigint[]);
DROP TABLE house_residents;
""")
