"""Identity and access: API tokens kept only as hashes, login failures counted for lockout.

Revision ID: 0009_access
Revises: 0008_edit_refresh
Create Date: 2026-11-27

A token is 32 random bytes shown once; the table holds its SHA-256 (a keyed KDF buys nothing for a
secret with 256 bits of entropy, and a lookup by hash stays one index probe per request). Login
failures are counted per username whether or not the account exists, so a lockout answer does not
reveal which usernames are real.
"""
from alembic import op

revision = "0009_access"
down_revision = "0008_edit_refresh"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE api_token (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    last_used_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX api_token_user ON api_token (user_id);
COMMENT ON TABLE api_token IS 'Bearer tokens for the API and phones; only a SHA-256 of each token is stored.';

CREATE TABLE login_failure (
    username text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    first_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
);
COMMENT ON TABLE login_failure IS 'Recent failed logins per username (existing or not), for lockout.';

ALTER TABLE app_user ADD COLUMN password_changed_at timestamptz;
""")


def downgrade() -> None:
    op.execute("""
ALTER TABLE app_user DROP COLUMN password_changed_at;
DROP TABLE login_failure, api_token;
""")
