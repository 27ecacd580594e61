"""Users with a role and a scope (grid subtrees), and the audit trail of what they did."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ForeignKey, Identity, LargeBinary, SmallInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, LTree


class AppUser(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    username: Mapped[str] = mapped_column(unique=True)
    display_name: Mapped[str]
    role: Mapped[str]
    scope: Mapped[list[str]] = mapped_column(ARRAY(LTree), server_default="{}")
    password_hash: Mapped[str | None]
    disabled: Mapped[bool] = mapped_column(server_default="false")
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="SET NULL"))
    password_changed_at: Mapped[datetime | None]
    session_epoch: Mapped[int] = mapped_column(server_default="0", comment=(
        "Bumped by logout, password change and disabling: sessions carrying an older value are refused."))


class ApiToken(Base):
    """A user's bearer token for the API and phones; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("app_user.id", ondelete="CASCADE"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    label: Mapped[str] = mapped_column(server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class LoginFailure(Base):
    """Recent failed logins per username, existing or not, for lockout."""

    __tablename__ = "login_failure"

    username: Mapped[str] = mapped_column(primary_key=True)
    failures: Mapped[int] = mapped_column(server_default="0")
    first_at: Mapped[datetime] = mapped_column(server_default="now()")
    locked_until: Mapped[datetime | None]


class ApiKey(Base):
    """An Open311 client's key; only its SHA-256 is stored."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    key_sha256: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default="now()")
    revoked: Mapped[bool] = mapped_column(server_default="false")


class RateLimit(Base):
    __tablename__ = "rate_limit"

    bucket: Mapped[str] = mapped_column(primary_key=True)
    window_start: Mapped[datetime]
    hits: Mapped[int]


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default="now()")
    username: Mapped[str | None]
    action: Mapped[str]
    object_type: Mapped[str]
    object_id: Mapped[str | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class DataVersion(Base):
    """Bumped by the database once per writing statement on each table that layers read; a table's
    version is the sum over its 16 slots (writers bump the slot of their backend, so they don't queue)."""

    __tablename__ = "data_version"

    name: Mapped[str] = mapped_column(primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="0")
    version: Mapped[int] = mapped_column(BigInteger)
