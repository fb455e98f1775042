"""A tmp project for the journeys tests: the fixture project plus sequences of their own (the
fixture's files stay as other tests expect them), and leads that may be mailed."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from nurture.db import session_scope
from nurture.leads.models import Consent
from nurture.leads.service import upsert_leads
from nurture.ledger.models import Enrollment
from nurture.settings import Settings
from tests.conftest import CONTENT

SENDER = {
    "name": "Lena Vogt",
    "email": "lena.vogt@planwerk.example",
    "company": "Planwerk GmbH",
    "address": "Teststraße 1, 10119 Berlin",
}

# what the b2b-nurture templates the steps reuse link to
LINKS = {
    name: f"https://planwerk.example/{name}"
    for name in ("whitepaper", "case_study", "pricing", "demo", "website")
}


def sequence(id_: str, trigger: dict[str, Any], steps: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "name": id_,
        "trigger": trigger,
        "sender": SENDER,
        "links": LINKS,
        **fields,
        "steps": [
            {
                "id": f"step{i}",
                "template": "b2b-nurture/01_welcome",
                "subject": f"{id_} {i}",
                "delay": "0" if i == 0 else "1d",
                "ignore_window": True,
            }
            for i in range(steps)
        ],
    }


def with_sequences(settings: Settings, tmp_path: Path, *sequences: dict[str, Any]) -> Settings:
    config = tmp_path / "config"
    shutil.copytree(CONTENT / "config", config)
    for s in sequences:
        (config / "sequences" / f"{s['id']}.yaml").write_text(yaml.safe_dump(s, sort_keys=False))
    return settings.model_copy(update={"config_dir": config})


async def mailable_leads(
    settings: Settings,
    n: int,
    now: datetime,
    prefix: str = "lead",
    unconfirmed: bool = False,
    **fields: Any,
) -> dict[str, int]:
    """``n`` leads with a recorded consent (as a form without double opt-in records it; or,
    ``unconfirmed``, a double opt-in never confirmed), created at ``now``; returns their ids
    by address."""
    emails = [f"{prefix}{i}@example.com" for i in range(n)]
    values = {"first_name": "Max", "timezone": "Europe/Berlin", **fields}
    async with session_scope(settings.database_url.get_secret_value()) as session:
        leads = await upsert_leads(session, [(e, values, now, None) for e in emails])
        for lead, _ in leads:
            # the capture's consent row, without a form post: only the fields the rule reads
            session.add(
                Consent(
                    lead_id=lead.id,
                    form_id="leitfaden",
                    text="Ja",
                    text_version="test-v1",
                    granted_at=now,
                    double_opt_in=unconfirmed,
                )
            )
    return {lead.email: lead.id for lead, _ in leads}


async def lead_ids_in(settings: Settings, sequence_id: str) -> list[tuple[int, int]]:
    """(lead id, entry) of every enrollment in the sequence."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Enrollment.lead_id, Enrollment.entry)
            .where(Enrollment.sequence_id == sequence_id)
            .order_by(Enrollment.lead_id, Enrollment.entry)
        )
        return [tuple(r) for r in rows.all()]
