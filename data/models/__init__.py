"""Typed SQLAlchemy models of the ledger; the schema itself is owned by the migrations."""
from data.models.access import AppUser, AuditLog, DataVersion
from data.models.base import Base
from data.models.events import DemoHotspot, Department, Event, EventCategory, EventLog, Visit
from data.models.grids import Grid, GridLeafPiece, GridShape, Staff
from data.models.ledger import House, Household, HouseResidents, Organization, Person, Place, Thing

PINNED = (House, Place, Thing, Organization, Event, Visit)

__all__ = [
    "AppUser", "AuditLog", "Base", "DataVersion", "DemoHotspot", "Department", "Event", "EventCategory", "EventLog",
    "Grid", "GridLeafPiece", "GridShape", "House", "HouseResidents", "Household", "Organization", "PINNED", "Person", "Place", "Staff",
    "Thing", "Visit",
]
