"""Grids (versioned polygons in a code hierarchy) and the staff attached to them."""
from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import BigInteger, Computed, ForeignKey, Identity, Integer, LargeBinary, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, LTree, multipolygon


class Grid(Base):
    """One version of a grid; the current version of a code has `valid_to` None."""

    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    code: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(LTree, Computed("code::ltree", persisted=True))
    name: Mapped[str]
    level: Mapped[str]
    kind: Mapped[str] = mapped_column(server_default="regular")
    dedicated_for: Mapped[str | None]
    geom: Mapped[WKBElement] = mapped_column(multipolygon())
    leader: Mapped[str | None]
    household_target: Mapped[int | None]
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    valid_from: Mapped[datetime] = mapped_column(server_default="now()")
    valid_to: Mapped[datetime | None]
    changed_by: Mapped[str | None]
    change_note: Mapped[str | None]

    @property
    def parent_code(self) -> str | None:
        return self.code.rpartition(".")[0] or None


class GridLeafPiece(Base):
    """Derived by the database: current leaf grids cut small for fast point lookup."""

    __tablename__ = "grid_leaf_piece"
    __mapper_args__ = {"primary_key": ["grid_id", "geom"]}

    grid_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("grid.id"))
    code: Mapped[str]
    geom: Mapped[WKBElement] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False))


class Staff(Base):
    """A member of a grid's team (一格八员), attached by grid code so it survives boundary versions."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    grid_code: Mapped[str]
    name: Mapped[str]
    role: Mapped[str]
    phone_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # data/pii.py
    phone_hmac: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_masked: Mapped[str | None]
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(server_default="true")


class GridShape(Base):
    """Derived by data.generalize: a grid's polygon simplified for one zoom band."""

    __tablename__ = "grid_shape"

    grid_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("grid.id"), primary_key=True)
    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    geom: Mapped[WKBElement] = mapped_column(multipolygon())
