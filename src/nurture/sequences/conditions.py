"""Step conditions: a Jinja expression over the lead and its engagement, evaluated when the
step is due. False: the step is skipped (reason ``condition_false``) and the next one is
scheduled. In the sandbox like every template; lead data stays data.

    condition: "not clicked(previous)"          # only if the previous email got no click
    condition: "opened() and lead.custom.company_size != '1-19'"
    condition: "not replied() and not visited('/preise')"

Opens and clicks count when a person made them (a scanner's or image proxy's do not: see
docs/signals.md); ``replied()`` is a person's reply to the sequence's emails, ``visited(part)``
a page view (on the website, by the lead) whose URL contains ``part``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.sequences import SequenceConfig
from nurture.leads.events import ENGAGEMENT, EventType, human
from nurture.leads.models import Event

_ENV = ImmutableSandboxedEnvironment()
_COUNTED = (*ENGAGEMENT, EventType.REPLIED, EventType.PAGE)


@lru_cache(maxsize=256)
def _compiled(expression: str) -> Any:
    return _ENV.compile_expression(expression)


class Engagement:
    """What a lead did with one sequence's emails: (type, step id) of its opens, clicks and
    replies (a person's), and the URLs of the lead's page views."""

    def __init__(self, hits: Iterable[tuple[str, str | None]] = (), pages: Iterable[str] = ()):
        self.hits = list(hits)
        self.pages = [p.lower() for p in pages]

    def replied(self, step: str | None = None) -> bool:
        return any(t == EventType.REPLIED and (step is None or s == step) for t, s in self.hits)

    def visited(self, url_part: str = "") -> bool:
        part = str(url_part).lower()
        return any(part in url for url in self.pages)

    def opened(self, step: str | None = None) -> bool:
        # A click implies the email was opened (images may be blocked).
        return any(t in ENGAGEMENT and (step is None or s == step) for t, s in self.hits)

    def clicked(self, step: str | None = None) -> bool:
        return any(t == EventType.CLICK and (step is None or s == step) for t, s in self.hits)


def evaluate(
    sequence: SequenceConfig, index: int, lead: dict[str, Any], engagement: Engagement
) -> bool:
    step = sequence.steps[index]
    if step.condition is None:
        return True
    context = {
        "lead": lead,
        "step": step.id,
        "previous": sequence.steps[index - 1].id if index > 0 else None,
        "opened": engagement.opened,
        "clicked": engagement.clicked,
        "replied": engagement.replied,
        "visited": engagement.visited,
    }
    return bool(_compiled(step.condition)(**context))


async def load_engagement(
    session: AsyncSession, pairs: set[tuple[int, str]]
) -> dict[tuple[int, str], Engagement]:
    """A person's opens, clicks and replies per (lead id, sequence id) since the lead's last
    entry into the sequence began (a lead that re-entered starts afresh), and each lead's page
    views, in one query."""
    if not pairs:
        return {}
    leads = {lead for lead, _ in pairs}
    rows = await session.execute(
        select(
            Event.lead_id,
            Event.sequence_id,
            Event.type,
            Event.step_id,
            Event.occurred_at,
            Event.data["url"].as_string().label("url"),
        ).where(
            Event.lead_id.in_(leads),
            Event.type.in_((*_COUNTED, EventType.ENROLLED)),
            human(),
        )
    )
    hits: dict[tuple[int, str], list[tuple[str, str | None, datetime]]] = defaultdict(list)
    entered: dict[tuple[int, str], datetime] = {}
    pages: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        pair = (row.lead_id, row.sequence_id)
        if row.type == EventType.PAGE:
            pages[row.lead_id].append(row.url or "")
        elif row.type == EventType.ENROLLED:
            entered[pair] = max(entered.get(pair, row.occurred_at), row.occurred_at)
        else:
            hits[pair].append((row.type, row.step_id, row.occurred_at))
    return {
        pair: Engagement(
            [
                (t, s)
                for t, s, at in hits.get(pair, ())
                if pair not in entered or at >= entered[pair]
            ],
            pages.get(pair[0], ()),
        )
        for pair in pairs
    }
