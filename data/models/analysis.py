"""Stored analysis runs (hot spots, emerging trends, heat) and their cells; the migration owns the schema."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, ForeignKey, Identity, SmallInteger
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base


class AnalysisRun(Base):
    __tablename__ = "analysis_run"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    kind: Mapped[str]
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    params_key: Mapped[str]
    data_version: Mapped[int] = mapped_column(BigInteger)
    n_events: Mapped[int]
    seconds: Mapped[float | None]
    computed_at: Mapped[datetime]


class AnalysisCell(Base):
    __tablename__ = "analysis_cell"

    run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("analysis_run.id", ondelete="CASCADE"),
                                        primary_key=True)
    cell: Mapped[str] = mapped_column(primary_key=True)
    count: Mapped[float]
    z: Mapped[float | None]
    p: Mapped[float | None]
    cls: Mapped[int] = mapped_column(SmallInteger)
    trend: Mapped[str | None]
    density: Mapped[float | None]
    geom: Mapped[WKBElement] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False))
