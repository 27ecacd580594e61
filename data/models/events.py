"""Events (事) with their log, departments and categories, household visits, demo ground truth."""
from __future__ import annotations

from datetime import datetime

from geoalchemy2 import WKBElement
from sqlalchemy import BigInteger, ForeignKey, Identity, SmallInteger
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
