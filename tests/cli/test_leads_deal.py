"""`nurture leads deal`: a won deal from the command line, as the CRM API records it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from nurture.crm.models import Deal
from nurture.db import session_scope
from tests.cli.conftest import nurture
from tests.factories import enrolled_leads


async def test_leads_deal_makes_a_customer_and_a_rerun_changes_nothing(settings, cli_env):
    [email] = await enrolled_leads(settings, 1, datetime(2026, 11, 23, 9, tzinfo=UTC))
    done = nurture("leads", "deal", email, "1200.5", "--date", "2027-01-15", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "1,200.50 EUR on 2027-01-15 recorded; stage customer" in done.stdout
    again = nurture("leads", "deal", email, "1200.5", "--date", "2027-01-15", env=cli_env)
    assert "recorded before, nothing changed" in again.stdout
    other = nurture("leads", "deal", email, "80", "--id", "R-2", "--currency", "chf", env=cli_env)
    assert other.returncode == 0 and "80.00 CHF" in other.stdout
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert await session.scalar(select(func.count()).select_from(Deal)) == 2
    assert nurture("leads", "deal", email, "1", "--date", "15.01.2027", env=cli_env).returncode == 1
    assert nurture("leads", "deal", "x@y.de", "1", env=cli_env).returncode == 1
