"""Events (事) with their log, departments and categories, household visits, demo ground truth."""
from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import WKBElement
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ForeignKey, Identity, Integer, LargeBinary, SmallInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, Pinned, point


class Department(Base):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(Identity(always=False), primary_key=True)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    name_en: Mapped[str]


class EventCategory(Base):
    __tablename__ = "event_category"

    code: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str]
    name_en: Mapped[str]
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))


class Event(Pinned, Base):
    """`grid_id` follows the current grid; `reported_grid_id` is the grid at report time, for the record."""

    __tablename__ = "event"

    ref: Mapped[str | None] = mapped_column(unique=True)
    title: Mapped[str]
    description: Mapped[str | None]
    category: Mapped[str] = mapped_column(ForeignKey("event_category.code"))
    source: Mapped[str]
    status: Mapped[str] = mapped_column(server_default="reported")
    level: Mapped[str] = mapped_column(server_default="grid")
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="2")
    is_major: Mapped[bool] = mapped_column(server_default="false")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    reported_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    overdue: Mapped[bool] = mapped_column(server_default="false")
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    reported_grid_id: Mapped[int | None] = mapped_column(BigInteger)
    tracking_no: Mapped[str | None] = mapped_column(unique=True)
    external_id: Mapped[str | None]
    # a reporter's name and contact: AES-GCM (data/pii.py) and masked; revealed only with a logged purpose
    reporter_name_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_name_masked: Mapped[str | None]
    reporter_contact_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    reporter_contact_masked: Mapped[str | None]
    address: Mapped[str | None]
    media_url: Mapped[str | None]
    handling_mode: Mapped[str | None]
    joint_department_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    stage_due_at: Mapped[datetime | None]
    review_at: Mapped[datetime | None]
    extensions: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    supervised: Mapped[bool] = mapped_column(server_default="false")
    possible_duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    updated_at: Mapped[datetime | None]
    rev: Mapped[int] = mapped_column(server_default="0")


class EventLog(Base):
    __tablename__ = "event_log"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    at: Mapped[datetime]
    actor: Mapped[str]
    from_status: Mapped[str | None]
    to_status: Mapped[str]
    level: Mapped[str]
    note: Mapped[str | None]
    action: Mapped[str] = mapped_column(server_default="transition")
    actor_role: Mapped[str | None]
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class DeadlinePolicy(Base):
    """Hours per category (or '*') and stage, on a continuous or working clock, and what overdue does."""

    __tablename__ = "deadline_policy"

    category: Mapped[str] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(primary_key=True)
    hours: Mapped[Decimal]
    clock: Mapped[str] = mapped_column(server_default="continuous")
    on_overdue: Mapped[str] = mapped_column(server_default="escalate")
    escalate_by: Mapped[int] = mapped_column(SmallInteger, server_default="1")


class WorkCalendar(Base):
    __tablename__ = "work_calendar"

    day: Mapped[date] = mapped_column(primary_key=True)
    working: Mapped[bool]


class IdempotencyKey(Base):
    __tablename__ = "idempotency_key"

    owner: Mapped[str] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(primary_key=True)
    body_sha256: Mapped[str]
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(server_default="now()")


class EventPhoto(Base):
    __tablename__ = "event_photo"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(unique=True)
    content_type: Mapped[str]
    bytes: Mapped[int]
    sha256: Mapped[str]
    uploaded_by: Mapped[str]
    uploaded_at: Mapped[datetime] = mapped_column(server_default="now()")


class DepartmentRating(Base):
    """A grid's rating of a department that handled one of its events (网格评部门)."""

    __tablename__ = "department_rating"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    score: Mapped[int] = mapped_column(SmallInteger)
    rated_by: Mapped[str]
    at: Mapped[datetime] = mapped_column(server_default="now()")
    note: Mapped[str | None]


class HotlineCategoryMap(Base):
    __tablename__ = "hotline_category_map"

    keyword: Mapped[str] = mapped_column(primary_key=True)
    category: Mapped[str]


class Visit(Pinned, Base):
    """A grid worker's household visit (六必查六必访), pinned where it happened."""

    __tablename__ = "visit"

    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    visited_at: Mapped[datetime]
    note: Mapped[str | None]


class DemoHotspot(Base):
    __tablename__ = "demo_hotspot"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    category: Mapped[str] = mapped_column(ForeignKey("event_category.code"))
    center: Mapped[WKBElement] = mapped_column(point())
    radius_m: Mapped[float]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    n_events: Mapped[int]
