"""Citizen reporters' names and contacts sealed: `event.reporter_name` and `reporter_contact` become AES-GCM
ciphertext bound to their row (data/pii.py) and a masked form (`张*`, `138****5678`); the clear columns go.

Revision ID: 0013_sealed_contact
Revises: 0012_session_epoch
Create Date: 2026-11-23

As in 0010, existing values are sealed in the transaction that drops the clear columns, with the key file
named by MINQING_PII_KEYS, read only when there are values. Downgrade opens them back with the same file.
"""
import logging

from alembic import op
from sqlalchemy import text

revision = "0013_sealed_contact"
down_revision = "0012_session_epoch"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

FIELDS = ("reporter_name", "reporter_contact")  # frozen copy of data.pii_store.MASKED_ONLY["event"]


def _keys():
    from data import pii
    from data.settings import Settings

    return pii.load_or_create(Settings.from_env().pii_keys)


def upgrade() -> None:
    conn = op.get_bind()
    parts = []
    for f in FIELDS:
        parts += [f"ADD COLUMN {f}_sealed bytea CHECK ({f}_sealed IS NULL OR "
                  f"(get_byte({f}_sealed, 0) = 1 AND octet_length({f}_sealed) >= 31))",
                  f"ADD COLUMN {f}_masked text",
                  f"ADD CONSTRAINT event_{f}_both_or_none CHECK (({f}_sealed IS NULL) = ({f}_masked IS NULL))"]
    op.execute(f"ALTER TABLE event {', '.join(parts)}")
    op.execute("COMMENT ON COLUMN event.reporter_contact_sealed IS 'AES-256-GCM (data/pii.py), for call-backs; "
               "show reporter_contact_masked, reveal through POST /api/events/{id}/reveal-contact (logged).'")
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM event WHERE reporter_name IS NOT NULL "
                         "OR reporter_contact IS NOT NULL)")).scalar_one():
        from data import pii_store

        keys = _keys()
        for f in FIELDS:
            log.info("sealed %d event.%s values", pii_store.seal_clear_column(conn, keys, "event", f), f)
    op.execute("ALTER TABLE event DROP COLUMN reporter_name, DROP COLUMN reporter_contact")


def downgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE event ADD COLUMN reporter_name text, ADD COLUMN reporter_contact text")
    if conn.execute(text("SELECT EXISTS (SELECT 1 FROM event WHERE reporter_name_sealed IS NOT NULL "
                         "OR reporter_contact_sealed IS NOT NULL)")).scalar_one():
        from data import pii_store

        keys = _keys()
        for f in FIELDS:
            pii_store.open_to_clear_column(conn, keys, "event", f)
    op.execute("ALTER TABLE event " + ", ".join(f"DROP COLUMN {f}_{part}" for f in FIELDS
                                                for part in ("sealed", "masked")))
