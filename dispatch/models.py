"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from dispatch.auth.models import AuthSession, User
from dispatch.cases.models import Case, IdempotencyRecord, Report
from dispatch.catalogue.models import Area, Cell, EventType, GridVersion
from dispatch.feed.models import Event, FeedHead
from dispatch.open311.models import Open311Key
from dispatch.photos.models import Photo
from dispatch.stats.models import (
    StatsCaseDue,
    StatsCellKey,
    StatsCube,
    StatsPeriod,
    StatsPlace,
)
from dispatch.tickets.models import Ticket
from dispatch.units.models import Team, Unit

__all__ = [
    "Area",
    "AuthSession",
    "Case",
    "Cell",
    "Event",
    "EventType",
    "FeedHead",
    "GridVersion",
    "IdempotencyRecord",
    "Open311Key",
    "Photo",
    "Report",
    "StatsCaseDue",
    "StatsCellKey",
    "StatsCube",
    "StatsPeriod",
    "StatsPlace",
    "Team",
    "Ticket",
    "Unit",
    "User",
]
