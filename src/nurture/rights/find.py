"""Which lead a request names: its public id (the API's lead_id) or its address."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.leads.models import Lead
from nurture.leads.service import InvalidEmail, normalise_email

PUBLIC_ID = re.compile(r"^[0-9a-f]{32}$")


async def find_lead(session: AsyncSession, who: str, *, lock: bool = False) -> Lead | None:
    """The lead with this public id (32 hex digits) or address (however spelt); ``lock``:
    held until the transaction ends (PostgreSQL), so two forgets of one lead run one after
    the other."""
    if PUBLIC_ID.match(who.strip()):
        where = Lead.public_id == who.strip()
    else:
        try:
            where = Lead.email == normalise_email(who)
        except InvalidEmail:
            return None
    query = select(Lead).where(where)
    return await session.scalar(query.with_for_update() if lock else query)
