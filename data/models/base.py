"""Declarative base and the column types every model shares."""
from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from datetime import datetime

from sqlalchemy import BigInteger, Computed, DateTime, Identity
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import UserDefinedType


class LTree(UserDefinedType):
    """PostgreSQL's ltree: grid codes as paths, so 'in this subtree' is one indexed operator."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "ltree"


ischema_names.setdefault("ltree", LTree)  # so reflection (Alembic's compare) knows the type


def point() -> Geometry:
    # indexes come from the migration, not from GeoAlchemy2's create hooks
    return Geometry("POINT", srid=4326, spatial_index=False)


def multipolygon() -> Geometry:
    return Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Pinned:
    """A row pinned on the map; the database derives `grid_id` from `geom`, never the writer."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    geom: Mapped[WKBElement] = mapped_column(point())

    @declared_attr
    def grid_id(cls) -> Mapped[int | None]:
        return mapped_column(BigInteger)  # written only by the database's trigger

    @declared_attr
    def outside_grid(cls) -> Mapped[bool]:
        return mapped_column(Computed("grid_id IS NULL", persisted=True))
