"""Birth dates sealed: a masked ID number (`990103********0022`) hides exactly the 8 digits of the birth
date, so a clear `person.birth_date` let anyone with the database rebuild every full ID number. The date
becomes AES-GCM ciphertext (`birth_date_sealed`, data/pii.py) and only `birth_year` stays clear, for ages.

Revision ID: 0011_sealed_birth
Revises: 0010_personal_data
Create Date: 2026-11-23

As in 0010, existing dates are sealed in the transaction that drops the clear column, with the key file
named by MINQING_PII_KEYS, read only when there are rows. Downgrade opens them back with the same file.
"""
import logging

from alembic import op
from sqlalchemy import text

revision = "0011_sealed_birth"
down_revision = "0010_personal_data"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _keys():
    from data import pii
    from data.settings import Settings

    return pii.load_or_create(Settings.from_env().pii_keys)


def upgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE person ADD COLUMN birth_year smallint CHECK (birth_year BETWEEN 1850 AND 2200), "
               "ADD COLUMN birth_date_sealed bytea CHECK (birth_date_sealed IS NULL OR "
               "(get_byte(birth_date_sealed, 0) = 1 AND octet_length(birth_date_sealed) >= 31))")
    op.execute("COMMENT ON COLUMN person.birth_date_sealed IS 'AES-256-GCM (data/pii.py): the full date is the "
               "8 digits id_number_masked hides. Use birth_year for ages.'")
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM person)")).scalar_one():
        from data import pii_store

        n = pii_store.seal_clear_column(conn, _keys(), "person", "birth_date")
        log.info("sealed %d person.birth_date values", n)
    op.execute("ALTER TABLE person ALTER COLUMN birth_year SET NOT NULL, DROP COLUMN birth_date")


def downgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE person ADD COLUMN birth_date date")
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM person WHERE birth_date_sealed IS NOT NULL)")).scalar_one():
        from data import pii_store

        pii_store.open_to_clear_column(conn, _keys(), "person", "birth_date")
    # a resident loaded without a full date keeps 1 July of their year (the column was NOT NULL)
    op.execute("UPDATE person SET birth_date = make_date(birth_year, 7, 1) WHERE birth_date IS NULL")
    op.execute("ALTER TABLE person ALTER COLUMN birth_date SET NOT NULL, DROP COLUMN birth_year, "
               "DROP COLUMN birth_date_sealed")
