"""`nurture leads export` and `leads forget` as a user runs them: JSON on stdout or in a file,
a clear error and exit code for an address nobody holds, forget asks first, twice is harmless,
and after it the address exports as forgotten (the anonymous record by its lead id)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from nurture.db import session_scope
from nurture.leads.events import EventType
from nurture.leads.models import Event
from tests.cli.conftest import nurture
from tests.factories import enrolled_leads


async def exported_events(settings) -> int:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        query = select(func.count()).where(Event.type == EventType.EXPORTED)
        return int(await session.scalar(query) or 0)


async def test_export_then_forget(settings, cli_env, tmp_path):
    [email] = await enrolled_leads(settings, 1, datetime(2026, 11, 23, 9, tzinfo=UTC))
    missing = nurture("leads", "export", "nobody@firma.de", env=cli_env)
    assert missing.returncode == 1 and "no lead 'nobody@firma.de'" in missing.stderr

    done = nurture("leads", "export", email.upper(), env=cli_env)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["lead"]["email"], document["lead"]["first_name"]) == (email, "Max")
    assert [e["sequence_id"] for e in document["enrollments"]] == ["b2b-nurture"]
    assert "id" not in document["lead"] and "lead_id" not in document["enrollments"][0]
    out = tmp_path / "lead.json"
    assert nurture("leads", "export", email, "--out", str(out), env=cli_env).returncode == 0
    assert json.loads(out.read_text())["lead"]["public_id"] == document["lead"]["public_id"]
    assert await exported_events(settings) == 2

    refused = nurture("leads", "forget", email, env=cli_env)  # no --yes, nobody to say yes
    assert refused.returncode == 1
    assert json.loads(nurture("leads", "export", email, env=cli_env).stdout)["lead"]["email"]

    forgot = nurture("leads", "forget", email, "--yes", env=cli_env)
    assert forgot.returncode == 0, forgot.stderr
    assert f"anonymous record {document['lead']['public_id']}" in forgot.stdout
    again = nurture("leads", "forget", email, "--yes", env=cli_env)
    assert again.returncode == 0 and "forgotten already" in again.stdout
    gone = nurture("leads", "export", email, env=cli_env)
    assert gone.returncode == 2 and "was forgotten on" in gone.stderr
    anonymous = nurture("leads", "export", document["lead"]["public_id"], env=cli_env)
    lead = json.loads(anonymous.stdout)["lead"]
    assert lead["email"].startswith("forgotten-") and lead["first_name"] is None
    assert nurture("leads", "forget", "nobody@firma.de", "--yes", env=cli_env).returncode == 1


def test_the_schema_needs_no_address():
    done = nurture("leads", "export", "--schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert {"lead", "consents", "events", "sends", "handoffs"} <= set(schema["properties"])
