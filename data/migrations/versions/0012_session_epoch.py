"""Sessions that can be ended: a per-account `session_epoch`, copied into the session cookie at login and
compared on every request; logout, a password change and disabling bump it, so a copied cookie dies with them.

Revision ID: 0012_session_epoch
Revises: 0011_sealed_birth
Create Date: 2026-11-23
"""
from alembic import op

revision = "0012_session_epoch"
down_revision = "0011_sealed_birth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE app_user ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN app_user.session_epoch IS
  'Bumped by logout, password change and disabling: sessions carrying an older value are refused.';
""")


def downgrade() -> None:
    op.execute("ALTER TABLE app_user DROP COLUMN session_epoch")
