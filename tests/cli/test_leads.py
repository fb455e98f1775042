"""`nurture leads show` and `leads stage`: a lead found by any spelling of its address."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.cli.conftest import nurture
from tests.factories import enrolled_leads


async def test_leads_stage_records_a_deal(settings, cli_env):
    [email] = await enrolled_leads(settings, 1, datetime(2026, 11, 23, 9, tzinfo=UTC))
    done = nurture("leads", "stage", email, "customer", "--value", "9900", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "-> customer (value 9,900.00)" in done.stdout
    shown = nurture("leads", "show", email, env=cli_env)
    assert "stage:    customer" in shown.stdout and "'value': 9900.0" in shown.stdout
    as_json = json.loads(nurture("leads", "show", email, "--json", env=cli_env).stdout)
    assert as_json["lead"]["lifecycle_stage"] == "customer"
    [changed] = [e for e in as_json["timeline"] if e["type"] == "stage_changed"]
    assert changed["data"]["value"] == 9900.0
    # as the API does: the drip whose goal a customer reaches ended with the command
    [exited] = [e for e in as_json["timeline"] if e["type"] == "exited"]
    assert exited["data"]["reason"] == "goal_mql"
    assert nurture("leads", "stage", email, "lead", env=cli_env).returncode == 1
    assert nurture("leads", "stage", "x@y.de", "sql", env=cli_env).returncode == 1


async def test_a_lead_is_found_by_its_address_as_typed(settings, cli_env):
    """Captured addresses are stored normalised (IDNA, lower case): the commands look them up
    through the same normalisation, so a unicode domain as a person types it finds the lead."""
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    [stored] = await enrolled_leads(settings, 1, now, domain="xn--bcher-kva.example")
    typed = " Lead0@Bücher.Example "
    done = nurture("leads", "stage", typed, "sql", env=cli_env)
    assert done.returncode == 0, done.stderr
    shown = nurture("leads", "show", typed, env=cli_env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(stored) and "stage:    sql" in shown.stdout
    missing = nurture("leads", "show", "not an address", env=cli_env)
    assert missing.returncode == 1 and "no lead 'not an address'" in missing.stderr


def test_leads_show_prints_the_json_schema_of_a_profile():
    from nurture.reporting.schemas import schema_json

    profile = nurture("leads", "show", "--schema")  # no EMAIL needed
    assert profile.returncode == 0, profile.stderr
    assert profile.stdout == schema_json("lead-profile")
