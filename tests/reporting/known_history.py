"""A generated history with known answers (ten leads, one sequence, four hand-offs, the CRM's
deals) and its report, pinned as JSON: what tests/reporting, the CLI and the flow tests read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from nurture.db import session_scope
from nurture.handoff.models import Handoff
from nurture.leads.events import record_events
from nurture.leads.service import upsert_leads

T = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
SINCE, UNTIL = T - timedelta(days=1), T + timedelta(days=30)
SEQ = "b2b-nurture"
# `nurture report --sequence b2b-nurture --format json` over SINCE..UNTIL on this history.
KNOWN_JSON = Path(__file__).with_name("known_funnel.json")


def ev(lead: int, type_: str, at: datetime, step: str | None = None, machine=None, **data) -> dict:
    in_sequence = step or type_ in ("exited", "completed")
    return {
        "lead_id": lead,
        "type": type_,
        "occurred_at": at,
        "machine": machine,
        "data": data,
        "sequence_id": SEQ if in_sequence else None,
        "step_id": step,
    }


async def history(url: str) -> list[int]:
    async with session_scope(url) as session:
        rows = await upsert_leads(
            session,
            [
                (
                    f"l{i}@firma.de",
                    {},
                    T,
                    {"utm_source": "linkedin" if i < 6 else "google", "utm_medium": "paid"},
                )
                for i in range(10)
            ],
        )
        ids = [lead.id for lead, _ in rows]
        L = dict(enumerate(ids))
        e = [ev(L[i], "captured", T) for i in range(10)]
        e += [ev(L[i], "stage_changed", T + timedelta(hours=1), stage="lead") for i in range(8)]
        e += [ev(L[i], "sent", T, "welcome") for i in range(8)]
        e += [ev(L[i], "bounced", T, "welcome") for i in (8, 9)]
        e += [ev(L[i], "open", T + timedelta(hours=2), "welcome") for i in range(6)]
        e += [ev(L[0], "open", T + timedelta(hours=3), "welcome")]  # a second open: unique
        e += [ev(L[i], "click", T + timedelta(hours=2), "welcome", url="u") for i in range(3)]
        e += [ev(L[5], "unsubscribed", T + timedelta(hours=4), "welcome", via="one_click")]
        e += [ev(L[5], "exited", T + timedelta(hours=4), reason="unsubscribed", after_step=1)]
        e += [ev(L[i], "exited", T, reason="bounced", after_step=0) for i in (8, 9)]
        e += [ev(L[i], "sent", T + timedelta(days=2), "problem") for i in range(5)]
        e += [ev(L[i], "open", T + timedelta(days=2), "problem") for i in range(2)]
        # what machines did with it (kept, counted raw only), and what came back later
        e += [ev(L[i], "open", T + timedelta(days=2), "problem", "at_delivery") for i in (3, 4)]
        e += [ev(L[2], "click", T + timedelta(days=2), "problem", "hidden_link", url="u")]
        e += [ev(L[1], "replied", T + timedelta(days=3), "problem", subject="Re: …")]
        e += [ev(L[4], "complained", T + timedelta(days=3), "problem", source="ses")]
        e += [ev(L[3], "bounced", T + timedelta(days=2), "problem", source="postmark")]
        e += [ev(L[2], "soft_bounced", T + timedelta(days=2), "problem", source="mailgun")]
        e += [ev(L[0], "completed", T + timedelta(days=20), after_step=7)]
        # MQL after 1, 2, 3, 4 days (median 2.5 d); SQL 1 day after MQL for two
        e += [ev(L[i], "stage_changed", T + timedelta(days=i + 1), stage="mql") for i in range(4)]
        e += [ev(L[i], "stage_changed", T + timedelta(days=i + 2), stage="sql") for i in (0, 1)]
        e += [ev(L[7], "sent", T - timedelta(days=5), "welcome")]  # before the range
        # the CRM: two opportunities (one value corrected), one customer
        e += [
            ev(L[0], "stage_changed", T + timedelta(days=5), stage="opportunity", value=10000),
            ev(L[1], "stage_changed", T + timedelta(days=6), stage="opportunity", value=5000),
            ev(L[1], "stage_changed", T + timedelta(days=7), stage="opportunity", value=6000),
            ev(L[0], "stage_changed", T + timedelta(days=10), stage="customer", value=12000),
        ]
        await record_events(session, e)
        handoff = {
            "territory": "dach",
            "rep_name": "R",
            "score": 60,
            "breakdown": {},
            "created_at": T + timedelta(days=2),
        }
        for lead, rep, state, extra in (
            (0, "a@x", "accepted", {}),
            (2, "a@x", "rejected", {"reason": "no-fit"}),
            (1, "b@x", "reassigned", {"reminded_at": T + timedelta(days=2, hours=5)}),
            (3, "b@x", "pending", {"reminded_at": T + timedelta(days=3)}),
        ):
            session.add(Handoff(lead_id=L[lead], rep_email=rep, state=state, **handoff, **extra))
    return ids
