"""Imports every table so ``Base.metadata`` is complete (Alembic and tests use it)."""

from nurture.crm.models import Deal
from nurture.db import Base
from nurture.experiments.models import ExperimentWinner
from nurture.handoff.models import Handoff
from nurture.inbox.models import ReplyForward
from nurture.leads.forgotten import Forgotten
from nurture.leads.models import Consent, Event, Lead, LeadScore
from nurture.ledger.models import Enrollment, Touch
from nurture.liveconfig.models import ConfigSnapshot
from nurture.preferences.models import Pause, TopicOptOut
from nurture.receipts import Receipt
from nurture.visitors.models import Visitor, VisitorEvent

metadata = Base.metadata

__all__ = [
    "ConfigSnapshot",
    "Consent",
    "Deal",
    "Enrollment",
    "Event",
    "ExperimentWinner",
    "Forgotten",
    "Handoff",
    "Lead",
    "LeadScore",
    "Pause",
    "Receipt",
    "ReplyForward",
    "TopicOptOut",
    "Touch",
    "Visitor",
    "VisitorEvent",
    "metadata",
]
