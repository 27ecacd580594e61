"""Typed SQLAlchemy models of the ledger; the schema itself is owned by the migrations."""
from data.models.access import ApiKey, ApiToken, AppUser, AuditLog, DataVersion, LoginFailure, RateLimit
from data.models.analysis import AnalysisCell, AnalysisRun
from data.models.base import Base
from data.models.events import (DeadlinePolicy, DemoHotspot, Department, DepartmentRating, Event, EventCategory,
                                 EventLog, EventPhoto, HotlineCategoryMap, IdempotencyKey, Visit, WorkCalendar)
from data.models.grids import Grid, GridLeafPiece, GridShape, Staff
from data.models.ledger import House, Household, HouseResidents, Organization, Person, Place, Thing

PINNED = (House, Place, Thing, Organization, Event, Visit)

__all__ = [
    "AnalysisCell", "AnalysisRun", "ApiKey", "ApiToken", "LoginFailure", "DeadlinePolicy", "DepartmentRating", "EventPhoto", "HotlineCategoryMap", "IdempotencyKey", "RateLimit",
    "WorkCalendar", "AppUser", "AuditLog", "Base", "DataVersion", "DemoHotspot", "Department", "Event", "EventCategory", "EventLog",
    "Grid", "GridLeafPiece", "GridShape", "House", "HouseResidents", "Household", "Organization", "PINNED", "Person", "Place", "Staff",
    "Thing", "Visit",
]
