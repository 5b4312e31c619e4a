"""Unbind tickets: models, migrations and the :class:`TicketService` API."""

from bot.tickets.models import STEPS, StepStatus, TicketStatus
from bot.tickets.service import TicketService
from bot.tickets.values import (
    EventView,
    InvalidTicketInput,
    OpenRequest,
    OpenResult,
    OwnerCheck,
    OwnerCheckOutcome,
    StepOrderError,
    StepView,
    ThrottlePolicy,
    TicketClosed,
    TicketError,
    TicketNotFound,
    TicketStoreUnavailable,
    TicketView,
)

__all__ = [
    "STEPS",
    "EventView",
    "InvalidTicketInput",
    "OpenRequest",
    "OpenResult",
    "OwnerCheck",
    "OwnerCheckOutcome",
    "StepOrderError",
    "StepStatus",
    "StepView",
    "ThrottlePolicy",
    "TicketClosed",
    "TicketError",
    "TicketNotFound",
    "TicketService",
    "TicketStatus",
    "TicketStoreUnavailable",
    "TicketView",
]
