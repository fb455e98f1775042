"""Imports every table so ``Base.metadata`` is complete (Alembic and tests use it)."""

from nurture.db import Base
from nurture.dispatch.models import Touch
from nurture.handoff.models import Handoff
from nurture.leads.models import Consent, Event, Lead, LeadScore
from nurture.sequences.models import Enrollment

metadata = Base.metadata

__all__ = ["Consent", "Enrollment", "Event", "Handoff", "Lead", "LeadScore", "Touch", "metadata"]
