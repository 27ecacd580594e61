"""Personal data sealed at rest: ID numbers and phones become AES-GCM ciphertext, a keyed lookup hash and a
masked display form; the clear columns are gone. And the append-only personal-data access log.

Revision ID: 0010_personal_data
Revises: 0009_access
Create Date: 2026-11-28

Existing clear values are sealed here, in the same transaction that drops their column, with the key
file named by MINQING_PII_KEYS (made, mode 600, if missing): a two-step "add columns now, encrypt
later from the CLI" would leave the clear column in the schema between the steps, which is what this
migration exists to end. The key file is read only when there are clear values; an empty ledger (every
test database, a fresh install) migrates without touching it. Downgrade opens the values again with
the same file.

The access log (schema pii_audit) is installed by scripts/setup.sh as a superuser, owned by a NOLOGIN
role; where it is missing this installs it owned by the application role with triggers refusing
changes, and says so in a warning. Downgrade leaves a protected log alone (it is not ours to drop).
"""
import logging

from alembic import op
from sqlalchemy import text

revision = "0010_personal_data"
down_revision = "0009_access"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

SEALED = "CHECK ({f}_sealed IS NULL OR (get_byte({f}_sealed, 0) = 1 AND octet_length({f}_sealed) >= 31))"
ALL_OR_NONE = "CHECK (({f}_sealed IS NULL) = ({f}_hmac IS NULL) AND ({f}_sealed IS NULL) = ({f}_masked IS NULL))"
HMAC = "CHECK (octet_length({f}_hmac) = 32)"
MASKED = {"id_number": r"CHECK (id_number_masked ~ '^[0-9]{{6}}\*{{8}}[0-9]{{3}}[0-9X]$')",
          "phone": r"CHECK (phone_masked ~ '^[0-9]{{3}}\*{{4}}[0-9]{{4}}$')"}
FIELDS = {"person": ("id_number", "phone"), "staff": ("phone",)}  # frozen copy of data.pii_store.FIELDS
CLEAR = {("person", "id_number"): "char(18) CHECK (id_number ~ '^[0-9]{17}[0-9X]$')",
         ("person", "phone"): "text CHECK (phone ~ '^[0-9]{11}$')",
         ("staff", "phone"): "text CHECK (phone ~ '^[0-9]{11}$')"}


def _keys():
    from data import pii
    from data.settings import Settings

    return pii.load_or_create(Settings.from_env().pii_keys)


def upgrade() -> None:
    conn = op.get_bind()
    for table, fields in FIELDS.items():
        parts = []
        for f in fields:
            parts += [f"ADD COLUMN {f}_sealed bytea {SEALED.format(f=f)}",
                      f"ADD COLUMN {f}_hmac bytea {HMAC.format(f=f)}",
                      f"ADD COLUMN {f}_masked text {MASKED[f].format(f=f)}",
                      f"ADD CONSTRAINT {table}_{f}_all_or_none {ALL_OR_NONE.format(f=f)}"]
        op.execute(f"ALTER TABLE {table} {', '.join(parts)}")
    op.execute("CREATE UNIQUE INDEX person_id_number_hmac ON person (id_number_hmac)")
    op.execute("CREATE INDEX person_phone_hmac ON person (phone_hmac)")
    op.execute("CREATE INDEX staff_phone_hmac ON staff (phone_hmac)")
    op.execute("COMMENT ON COLUMN person.id_number_sealed IS "
               "'AES-256-GCM (data/pii.py); the key is outside the database. Show id_number_masked instead.'")

    clear = any(conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {t} WHERE {f} IS NOT NULL)")).scalar_one()
                for t, fs in FIELDS.items() for f in fs)
    if clear:
        from data import pii_store

        keys = _keys()
        for table, fields in FIELDS.items():
            for f in fields:
                n = pii_store.seal_clear_column(conn, keys, table, f)
                log.info("sealed %d %s.%s values", n, table, f)
    op.execute("ALTER TABLE person DROP COLUMN id_number, DROP COLUMN phone")
    op.execute("ALTER TABLE staff DROP COLUMN phone")

    from data import pii_audit

    if not pii_audit.installed(conn):
        user = conn.execute(text("SELECT current_user")).scalar_one()
        log.warning("personal-data access log installed owned by %s, which could alter it; run "
                    "scripts/setup.sh as root so a NOLOGIN role owns it", user)
        op.execute(pii_audit.install_sql(user, user))


def downgrade() -> None:
    conn = op.get_bind()
    for (table, f), definition in CLEAR.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN {f} {definition}")
    op.execute("ALTER TABLE person ADD CONSTRAINT person_id_number_key UNIQUE (id_number)")
    sealed = any(conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {t} WHERE {f}_sealed IS NOT NULL)")).scalar_one()
                 for t, fs in FIELDS.items() for f in fs)
    if sealed:
        from data import pii_store

        keys = _keys()
        for table, fields in FIELDS.items():
            for f in fields:
                pii_store.open_to_clear_column(conn, keys, table, f)
    for table, fields in FIELDS.items():
        drops = [f"DROP COLUMN {f}_{part}" for f in fields for part in ("sealed", "hmac", "masked")]
        op.execute(f"ALTER TABLE {table} {', '.join(drops)}")

    from data import pii_audit

    if pii_audit.installed(conn) and not pii_audit.is_protected(conn):
        op.execute("DROP SCHEMA pii_audit CASCADE")
