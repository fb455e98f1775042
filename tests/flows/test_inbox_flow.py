"""The ingest-inbox flow against a real (temporary) Prefect API: one task run per batch of
messages and one for forwarding; counts in its artifact; an unreachable inbox fails the run
with the reason."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from nurture.flows.inbox import ingest_inbox
from nurture.inbox import run
from nurture.settings import get_settings
from tests.inbox import mail
from tests.inbox.conftest import LATER, deliver, make_maildir, send_welcome

pytestmark = pytest.mark.e2e


async def task_names(flow_run_id, expected: list[str]) -> list[str]:
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    async with get_client() as client:
        for _ in range(100):  # task runs reach the API through events, a moment later
            tasks = await client.read_task_runs(flow_run_filter=run_filter)
            names = sorted(t.name.rsplit("-", 1)[0] for t in tasks)
            if names == expected:
                break
            await asyncio.sleep(0.1)
    return names


async def test_flow_reads_the_inbox_in_batches_and_reports(
    flow_settings, smtp, tmp_path, monkeypatch
):
    maildir = make_maildir(tmp_path / "Maildir")
    monkeypatch.setenv("NURTURE_INBOX_URL", f"maildir://{maildir}")
    monkeypatch.setenv("NURTURE_MAIL_URL", flow_settings.mail_url.get_secret_value())
    get_settings.cache_clear()
    monkeypatch.setattr(run, "BATCH", 2)
    a, b, c = await send_welcome(flow_settings)
    deliver(
        maildir,
        mail.reply(a.email, in_reply_to=a.message_id),
        mail.auto_reply(b.email, b.message_id, "X-Autoreply: yes", "Urlaub"),
        mail.dsn(c.message_id, c.email),
        mail.reply("stranger@example.org"),
    )
    state = await ingest_inbox(now=LATER, return_state=True)
    assert state.is_completed()
    result = await state.result()
    assert (result["replies"], result["auto_replies"], result["hard_bounces"]) == (1, 1, 1)
    assert (result["unmatched"], result["forwarded"]) == (1, 1)
    # two batches of two, and the forwarding
    expected = ["forward-replies", "ingest-inbox-batch", "ingest-inbox-batch"]
    assert await task_names(state.state_details.flow_run_id, expected) == expected
    async with get_client() as client:
        keys = {
            a.key
            for a in await client.read_artifacts()
            if a.flow_run_id == state.state_details.flow_run_id
        }
    assert {"inbox-counts", "inbox-summary"} <= keys
    assert [m.rcpt_tos for m in smtp.messages if b"Antwort:" in m.data] == [
        ["lena.vogt@planwerk.example"]
    ]


async def test_an_unreachable_inbox_fails_the_flow_run_with_the_reason(
    flow_settings, tmp_path, monkeypatch
):
    monkeypatch.setenv("NURTURE_INBOX_URL", "imap://u:secret@127.0.0.1:1/INBOX?timeout=2")
    get_settings.cache_clear()
    state = await ingest_inbox(now=LATER, return_state=True)
    assert state.is_failed()
    assert "Connection refused" in state.message or "Connection refused" in str(
        await state.result(raise_on_failure=False)
    )
    assert "secret" not in str(await state.result(raise_on_failure=False))
