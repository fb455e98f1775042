"""The rep's hand-off email and page: in the rep's locale (sales.yaml), else the lead's, with
dates and numbers formatted for it and Content-Language on the message; on both databases."""

from __future__ import annotations

import email
from email.policy import default as policy

import httpx
import pytest
import yaml
from sqlalchemy import update

from nurture.app import create_app
from nurture.db import session_scope
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.models import Lead
from tests.handoff.test_handoff import MONDAY, handoffs, outbox, qualified, rep_token
from tests.locales.project import multilingual


def with_rep_locale(settings, tmp_path, locale: str | None):
    ours = multilingual(settings, tmp_path)
    path = ours.config_dir / "sales.yaml"
    sales = yaml.safe_load(path.read_text())
    if locale:
        sales["territories"][0]["reps"][0]["locale"] = locale  # Jonas, who gets the first
    path.write_text(yaml.safe_dump(sales, sort_keys=False, allow_unicode=True))
    return ours


async def mailed(settings, lead_locale: str) -> email.message.EmailMessage:
    [lead] = await qualified(settings, 1)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(update(Lead).where(Lead.id == lead).values(locale=lead_locale))
    await run_handoff_pass(build_context(settings), MONDAY)
    [sent] = outbox(settings)
    return email.message_from_bytes(sent.data, policy=policy)


async def test_the_lead_locale_without_a_rep_locale(settings, tmp_path):
    ours = with_rep_locale(settings, tmp_path, None)
    message = await mailed(ours, "sv")
    assert message["Content-Language"] == "sv" and message["Subject"].startswith("Nytt MQL: ")
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert '<html lang="sv">' in html and "Hej Jonas Albrecht!" in text
    assert "Varför kvalificerat: poäng 58" in text
    assert "Lead sedan" in html and "23 nov. 2026" in html  # babel's Swedish date


async def test_without_a_rep_or_lead_locale_the_project_default(settings, tmp_path):
    ours = multilingual(settings, tmp_path, locales=["en", "de", "sv"])  # English first
    await qualified(ours, 1)  # no locale
    await run_handoff_pass(build_context(ours), MONDAY)
    [sent] = outbox(ours)
    message = email.message_from_bytes(sent.data, policy=policy)
    assert message["Content-Language"] == "en" and message["Subject"].startswith("New MQL: ")


async def test_the_rep_locale_beats_the_lead_locale(settings, tmp_path):
    ours = with_rep_locale(settings, tmp_path, "en")
    message = await mailed(ours, "sv")
    assert message["Content-Language"] == "en" and message["Subject"].startswith("New MQL: ")
    html = message.get_body(("html",)).get_content()
    assert '<html lang="en">' in html and "Why it qualified" in html and "Nov 23, 2026" in html
    [h] = await handoffs(ours)
    transport = httpx.ASGITransport(app=create_app(ours))
    async with httpx.AsyncClient(transport=transport, base_url=ours.base_url) as client:
        page = await client.get(f"/s/{rep_token(ours, h.id)}/reject")
        assert '<html lang="en">' in page.text and "Reject and return to nurturing" in page.text
        again = await client.post(f"/s/{rep_token(ours, h.id)}/reject", data={})
        assert again.status_code == 422 and "Please choose a reason." in again.text


@pytest.mark.parametrize("locale", ["de", "sv", "en"])
async def test_every_shipped_locale_renders(settings, tmp_path, locale):
    ours = with_rep_locale(settings, tmp_path, locale)
    message = await mailed(ours, "de")
    assert message["Content-Language"] == locale
    assert f'<html lang="{locale}">' in message.get_body(("html",)).get_content()
