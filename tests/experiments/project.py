"""A tmp project with an experiment (tests/journeys/project.py's fixture project plus one
sequence of their own), leads enrolled in it, and a constructed history of sends."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update

from nurture.db import session_scope
from nurture.leads.events import EventType, MachineReason, event_row, record_events
from nurture.ledger.models import Touch, TouchState
from nurture.mail.message import OutgoingMessage
from nurture.settings import Settings
from tests.journeys.project import sequence, with_sequences

SEQ = "ab-test"


def experiment(
    variants: list[dict[str, Any]] | None = None, winner: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One step, subject "Step", with variants a (the control) and b by default, each with
    its own subject "Subject <id>"."""
    s = sequence(SEQ, {"forms": ["leitfaden"]})
    step = s["steps"][0]
    step["subject"] = "Step"
    step["variants"] = variants or [
        {"id": "a", "weight": 1, "subject": "Subject a"},
        {"id": "b", "weight": 1, "subject": "Subject b"},
    ]
    if winner:
        step["winner"] = winner
    return s


def project(settings: Settings, tmp_path: Path, **kwargs: Any) -> Settings:
    return with_sequences(settings, tmp_path, experiment(**kwargs))


def edit(settings: Settings, **kwargs: Any) -> None:
    """Rewrite the experiment's sequence file in place (a marketer's edit)."""
    path = settings.config_dir / "sequences" / f"{SEQ}.yaml"
    path.write_text(yaml.safe_dump(experiment(**kwargs), sort_keys=False))


def subject(message: OutgoingMessage) -> str:
    return str(email.message_from_bytes(message.data, policy=email.policy.default)["Subject"])


async def recorded(settings: Settings) -> dict[int, str | None]:
    """touch id -> its recorded variant."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Touch.id, Touch.variant).where(Touch.sequence_id == SEQ)
        )
        return dict(rows.tuples().all())


async def history(
    settings: Settings, now: datetime, arms: dict[str, tuple[int, int, int, int]]
) -> None:
    """Turn the enrolled leads' first touches into sent ones: per variant (sends, human
    opens, human clicks, scanner clicks); the scanner clicks go to sends without a human
    click. Needs at least sum(sends) enrolled leads."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        touches = list(
            (
                await session.execute(
                    select(Touch.id, Touch.lead_id)
                    .where(Touch.sequence_id == SEQ, Touch.state == TouchState.SCHEDULED)
                    .order_by(Touch.id)
                )
            ).all()
        )
        events = []
        for variant, (sends, opens, clicks, scanned) in arms.items():
            mine, touches = touches[:sends], touches[sends:]
            assert len(mine) == sends, "not enough enrolled leads"
            await session.execute(
                update(Touch)
                .where(Touch.id.in_([t.id for t in mine]))
                .values(state=TouchState.SENT, variant=variant, sent_at=now)
            )
            where = {"sequence_id": SEQ, "step_id": "step0"}
            for i, t in enumerate(mine):
                if i < opens:  # opened twice: a send counts once
                    events += [
                        event_row(t.lead_id, EventType.OPEN, now, touch_id=t.id, **where)
                    ] * 2
                if i < clicks:
                    events.append(
                        event_row(t.lead_id, EventType.CLICK, now, touch_id=t.id, **where)
                    )
                elif i < clicks + scanned:
                    events.append(
                        event_row(
                            t.lead_id,
                            EventType.CLICK,
                            now,
                            touch_id=t.id,
                            machine=MachineReason.KNOWN_AGENT,
                            **where,
                        )
                    )
        await record_events(session, events)
