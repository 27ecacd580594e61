"""Accounts: who may log in, with which role and scope, and their argon2id password hashes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, text

from data.actors import Actor
from data.errors import LedgerError
from data.vocab import USER_ROLES

HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended parameters (64 MiB, t=3, p=4)
# verified against for unknown usernames, so a miss costs the same time as a wrong password
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$Cf8bdhan71hPR4pS9y+SeA$H/bpuJmRXuzs3K6nfnekkGCQtKTEeHvJz6JIJl/rD7k"
MIN_PASSWORD = 10
USERNAME = re.compile(r"^[a-z0-9_.-]{2,64}$")  # as app_user's CHECK


class AccountError(LedgerError):
    """A user could not be added or changed as asked."""


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    role: str
    scope: tuple[str, ...]
    department_id: int | None
    disabled: bool
    has_password: bool
    created_at: datetime

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.role, self.scope, self.department_id)


_COLUMNS = ("username, display_name, role, scope::text[], department_id, disabled, password_hash IS NOT NULL, "
            "created_at")


def _account(row) -> Account:
    return Account(row[0], row[1], row[2], tuple(row[3]), row[4], row[5], row[6], row[7])


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return HASHER.hash(password)


def add(conn: Connection, username: str, role: str, scope: tuple[str, ...] = (), password: str | None = None,
        display_name: str | None = None, department_id: int | None = None) -> Account:
    """A new account; scope codes must name current grids, so a typo cannot grant an empty (or every) area."""
    if not USERNAME.match(username):
        raise AccountError("a username is 2-64 of a-z, 0-9, '_', '.', '-'")
    if role not in USER_ROLES:
        raise AccountError(f"role must be one of {', '.join(USER_ROLES)}")
    if role == "department" and department_id is None:
        raise AccountError("a department handler needs a department")
    known = set(conn.execute(text("SELECT code FROM grid WHERE valid_to IS NULL AND code = ANY(:c)"),
                             {"c": list(scope)}).scalars())
    if unknown := [c for c in scope if c not in known]:
        raise AccountError(f"no current grid with code {', '.join(unknown)}")
    if not scope and role not in ("admin", "citizen"):
        raise AccountError("staff other than admins need a scope (grid codes); give the district's for all")
    if conn.execute(text("SELECT 1 FROM app_user WHERE username = :u"), {"u": username}).first():
        raise AccountError(f"user {username!r} exists")
    row = conn.execute(text(
        "INSERT INTO app_user (username, display_name, role, scope, password_hash, department_id, password_changed_at) "
        "VALUES (:u, :n, :r, CAST(:s AS ltree[]), CAST(:h AS text), :d, "
        "CASE WHEN CAST(:h AS text) IS NULL THEN NULL ELSE now() END) "
        f"RETURNING {_COLUMNS}"),
        {"u": username, "n": display_name or username, "r": role, "s": list(scope),
         "h": None if password is None else hash_password(password), "d": department_id}).one()
    return _account(row)


def listing(conn: Connection) -> list[Account]:
    return [_account(r) for r in conn.execute(text(f"SELECT {_COLUMNS} FROM app_user ORDER BY username"))]


def find(conn: Connection, username: str) -> Account | None:
    row = conn.execute(text(f"SELECT {_COLUMNS} FROM app_user WHERE username = :u"), {"u": username}).first()
    return None if row is None else _account(row)


def active_actor(conn: Connection, username: str) -> Actor | None:
    """The actor of an enabled account (None if unknown or disabled)."""
    account = find(conn, username)
    return None if account is None or account.disabled else account.actor


def session_epoch(conn: Connection, username: str) -> int | None:
    """What a new session records: sessions with an older epoch are over (logout, password change, disable)."""
    return conn.execute(text("SELECT session_epoch FROM app_user WHERE username = :u"), {"u": username}).scalar()


def session_actor(conn: Connection, username: str, epoch) -> Actor | None:
    """The actor behind a session cookie, re-read each request: None once the account is disabled or the
    session's epoch is behind the account's, so a copied cookie dies with logout or a password change."""
    if not isinstance(epoch, int) or epoch != session_epoch(conn, username):
        return None
    return active_actor(conn, username)


def end_sessions(conn: Connection, username: str) -> None:
    """Every session of this account ends (its cookies carry the old epoch)."""
    conn.execute(text("UPDATE app_user SET session_epoch = session_epoch + 1 WHERE username = :u"), {"u": username})


def set_disabled(conn: Connection, username: str, disabled: bool = True) -> None:
    """Disabling also revokes the account's tokens: a re-enabled account starts with none."""
    done = conn.execute(text("UPDATE app_user SET disabled = :d, session_epoch = session_epoch + 1 "
                             "WHERE username = :u RETURNING id"),
                        {"u": username, "d": disabled}).first()
    if done is None:
        raise AccountError(f"no user {username!r}")
    if disabled:
        conn.execute(text("UPDATE api_token SET revoked_at = now() WHERE user_id = :i AND revoked_at IS NULL"),
                     {"i": done[0]})


def set_password(conn: Connection, username: str, password: str, hashed: str | None = None) -> None:
    """`hashed` lets the demo give many accounts one documented password without hashing it once per account."""
    done = conn.execute(text(
        "UPDATE app_user SET password_hash = :h, password_changed_at = now(), session_epoch = session_epoch + 1 "
        "WHERE username = :u RETURNING 1"),
        {"u": username, "h": hashed or hash_password(password)}).first()
    if done is None:
        raise AccountError(f"no user {username!r}")


def check_password(conn: Connection, username: str, password: str) -> Actor | None:
    """The actor if the password is right and the account enabled; None otherwise, in about the same time."""
    row = conn.execute(text("SELECT password_hash FROM app_user WHERE username = :u AND NOT disabled"),
                       {"u": username}).first()
    stored = row[0] if row is not None and row[0] else None
    try:
        HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is None:
        return None
    if HASHER.check_needs_rehash(stored):
        conn.execute(text("UPDATE app_user SET password_hash = :h WHERE username = :u"),
                     {"u": username, "h": HASHER.hash(password)})
    return active_actor(conn, username)


DEMO_PASSWORD = "minqing-demo"  # the generated city's accounts share it; README "Logging in" says so


def give_demo_password(conn: Connection, password: str = DEMO_PASSWORD) -> list[str]:
    """Every account without a password gets the demo's; hashed once, since the accounts share it anyway."""
    hashed = hash_password(password)
    return list(conn.execute(text(
        "UPDATE app_user SET password_hash = :h, password_changed_at = now() WHERE password_hash IS NULL "
        "RETURNING username"), {"h": hashed}).scalars())
