"""Bearer tokens for the API and phones: issued once, stored as SHA-256, expiring, revocable."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from data.actors import Actor
from data.users import AccountError

PREFIX = "mq_"  # lets secret scanners and log filters recognise a leaked token
DEFAULT_TTL = timedelta(days=30)
MAX_TTL = timedelta(days=366)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def issue(conn: Connection, username: str, ttl: timedelta = DEFAULT_TTL, label: str = "") -> str:
    """A new token for an enabled account; the only time the token itself is seen."""
    if not timedelta(minutes=1) <= ttl <= MAX_TTL:
        raise AccountError(f"a token lives between a minute and {MAX_TTL.days} days")
    token = PREFIX + secrets.token_urlsafe(32)
    done = conn.execute(text(
        "INSERT INTO api_token (user_id, token_hash, label, expires_at) "
        "SELECT id, :h, :l, now() + :ttl FROM app_user WHERE username = :u AND NOT disabled RETURNING id"),
        {"u": username, "h": _digest(token), "l": label, "ttl": ttl}).first()
    if done is None:
        raise AccountError(f"no enabled user {username!r}")
    return token


def actor_for(conn: Connection, token: str) -> Actor | None:
    """Who holds this token, if it is live and its account enabled; last use is noted at most once a minute
    so a busy phone does not turn every read into a write."""
    row = conn.execute(text(
        "SELECT t.id, u.username, u.role, u.scope::text[], u.department_id, "
        "       t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' "
        "FROM api_token t JOIN app_user u ON u.id = t.user_id "
        "WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > now() AND NOT u.disabled"),
        {"h": _digest(token)}).first()
    if row is None:
        return None
    if row[5]:
        conn.execute(text("UPDATE api_token SET last_used_at = now() WHERE id = :i"), {"i": row[0]})
    return Actor(row[1], row[2], tuple(row[3]), row[4])


def revoke(conn: Connection, token_id: int) -> None:
    done = conn.execute(text("UPDATE api_token SET revoked_at = COALESCE(revoked_at, now()) WHERE id = :i RETURNING 1"),
                        {"i": token_id}).first()
    if done is None:
        raise AccountError(f"no token {token_id}")


def listing(conn: Connection, username: str | None = None) -> list[TokenInfo]:
    rows = conn.execute(text(
        "SELECT t.id, u.username, t.label, t.created_at, t.expires_at, t.revoked_at, t.last_used_at "
        "FROM api_token t JOIN app_user u ON u.id = t.user_id "
        "WHERE CAST(:u AS text) IS NULL OR u.username = :u ORDER BY t.id"), {"u": username})
    return [TokenInfo(*r) for r in rows]
