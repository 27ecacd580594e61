"""People, houses and households, places, things and organizations (人、地、物、组织)."""
from __future__ import annotations

from sqlalchemy import ARRAY, BigInteger, CHAR, ForeignKey, Identity, LargeBinary, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base, Pinned


class House(Pinned, Base):
    __tablename__ = "house"

    ref: Mapped[str | None] = mapped_column(unique=True)
    address: Mapped[str]
    compound: Mapped[str | None]
    kind: Mapped[str] = mapped_column(server_default="residential")
    floors: Mapped[int | None] = mapped_column(SmallInteger)


class Household(Base):
    """Not pinned itself: it lives where its house is."""

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    ref: Mapped[str | None] = mapped_column(unique=True)
    house_id: Mapped[int] = mapped_column(ForeignKey("house.id"))
    unit: Mapped[str | None]
    registered: Mapped[bool] = mapped_column(server_default="true")


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"))
    name: Mapped[str]
    gender: Mapped[str] = mapped_column(CHAR(1))
    birth_year: Mapped[int] = mapped_column(SmallInteger)  # the full date is sealed: it is the ID number's hidden 8 digits
    birth_date_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # sealed at rest (data/pii.py): ciphertext, keyed lookup hash, and the masked form shown on screens
    id_number_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    id_number_hmac: Mapped[bytes | None] = mapped_column(LargeBinary, unique=True)
    id_number_masked: Mapped[str | None]
    phone_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_hmac: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_masked: Mapped[str | None]
    relation: Mapped[str] = mapped_column(server_default="head")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    is_key_person: Mapped[bool] = mapped_column(server_default="false")


class Place(Pinned, Base):
    __tablename__ = "place"

    ref: Mapped[str | None] = mapped_column(unique=True)
    name: Mapped[str]
    kind: Mapped[str]
    is_key: Mapped[bool] = mapped_column(server_default="false")
    address: Mapped[str | None]


class Thing(Pinned, Base):
    __tablename__ = "thing"

    ref: Mapped[str | None] = mapped_column(unique=True)
    name: Mapped[str]
    kind: Mapped[str]
    in_service: Mapped[bool] = mapped_column(server_default="true")


class Organization(Pinned, Base):
    __tablename__ = "organization"

    ref: Mapped[str | None] = mapped_column(unique=True)
    name: Mapped[str]
    kind: Mapped[str]
    members: Mapped[int | None]


class HouseResidents(Base):
    """Derived by the database (migration 0004): resident counts per house, for tiles that never show people."""

    __tablename__ = "house_residents"

    house_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("house.id", ondelete="CASCADE"), primary_key=True)
    residents: Mapped[int]
    households: Mapped[int]
    elderly_alone: Mapped[int]
    left_behind_children: Mapped[int]
    subsistence: Mapped[int]
    disabled: Mapped[int]
    floating: Mapped[int]
    key_persons: Mapped[int]
