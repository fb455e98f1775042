"""The in-process scheduler of `nurture serve`: a dispatch pass at start and on an interval,
then a scoring and hand-off pass; never two at once; a failed dispatch does not stop the
hand-off. And the passes it runs, in-process when no Prefect API is configured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from nurture.db import utcnow
from nurture.dispatch.batch import DispatchFailed
from nurture.scheduler import dispatch_once, handoff_once, inbox_once, start_scheduler
from tests.factories import enrolled_leads, touch_states
from tests.handoff.test_handoff import MONDAY, qualified

UNREACHABLE = "smtp://127.0.0.1:1?timeout=2"


@pytest.fixture(autouse=True)
def no_prefect_api() -> Iterator[None]:
    """Whatever another test configured: here no Prefect API, so passes run in-process."""
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield


async def until_logged(caplog: pytest.LogCaptureFixture, text: str, seconds: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not any(text in r.getMessage() for r in caplog.records):
        assert asyncio.get_running_loop().time() < deadline, f"never logged: {text}"
        await asyncio.sleep(0.05)


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "nurture.scheduler"]


async def test_the_scheduler_passes_at_start_and_registers_its_jobs_once_each(settings, caplog):
    caplog.set_level(logging.INFO, logger="nurture.scheduler")
    await enrolled_leads(settings, 1, utcnow() - timedelta(minutes=1))
    scheduler = start_scheduler(settings.model_copy(update={"dispatch_interval_seconds": 900}))
    try:
        await until_logged(caplog, "scoring and hand-off:")
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert messages(caplog)[:2] == [
        (logging.INFO, "dispatch: 1 sent in 1 batch(es)"),
        (
            logging.INFO,
            "scoring and hand-off: 0 promoted to MQL, 0 handed off, 0 notified, "
            "0 reminded, 0 reassigned",
        ),
    ]
    assert (await touch_states(settings))["sent"] == 1
    assert set(jobs) == {"dispatch", "funnel-report"}
    # A pass that outlasts the interval is not started again alongside itself, and missed
    # runs (the process was asleep) make one run, not a burst.
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert jobs["dispatch"].trigger.interval == timedelta(seconds=900)
    assert jobs["dispatch"].next_run_time > datetime.now(UTC) + timedelta(seconds=800)
    assert str(jobs["funnel-report"].trigger) == "cron[hour='6', minute='0']"


async def test_a_failed_dispatch_is_logged_and_the_handoff_pass_still_runs(settings, caplog):
    caplog.set_level(logging.INFO, logger="nurture.scheduler")
    await enrolled_leads(settings, 1, utcnow() - timedelta(minutes=1))
    scheduler = start_scheduler(settings.model_copy(update={"mail_url": SecretStr(UNREACHABLE)}))
    try:
        await until_logged(caplog, "scoring and hand-off:")
    finally:
        scheduler.shutdown(wait=False)
    [(level, failed), (_, handoff)] = messages(caplog)[:2]
    assert level == logging.ERROR and failed.startswith("dispatch failed (touches stay due): ")
    assert "cannot reach SMTP" in failed and handoff.startswith("scoring and hand-off: ")
    assert await touch_states(settings) == {"scheduled": 1}


async def test_dispatch_once_runs_a_pass_in_process_and_sums_it_up(settings):
    await enrolled_leads(settings, 3, MONDAY)
    assert await dispatch_once(settings, MONDAY, use_prefect=False) == "3 sent in 1 batch(es)"
    # Without a Prefect API configured, the default is in-process too.
    later = MONDAY + timedelta(days=30)
    assert await dispatch_once(settings, later) == "3 sent in 1 batch(es)"
    assert (await touch_states(settings))["sent"] == 6
    with pytest.raises(DispatchFailed, match="cannot reach SMTP"):
        await dispatch_once(
            settings.model_copy(update={"mail_url": SecretStr(UNREACHABLE)}),
            later + timedelta(days=30),
            use_prefect=False,
        )


async def test_handoff_once_scores_and_hands_off_in_process(settings):
    await qualified(settings, 2)
    assert await handoff_once(settings, MONDAY, use_prefect=False) == (
        "2 promoted to MQL, 2 handed off, 2 notified, 0 reminded, 0 reassigned"
    )
    assert await handoff_once(settings, MONDAY + timedelta(minutes=5)) == (
        "0 promoted to MQL, 0 handed off, 0 notified, 0 reminded, 0 reassigned"
    )


async def test_with_an_inbox_the_scheduler_reads_it_and_logs_an_unreachable_one(
    settings, caplog, tmp_path
):
    from tests.inbox import mail
    from tests.inbox.conftest import deliver, make_maildir, send_welcome

    caplog.set_level(logging.INFO, logger="nurture.scheduler")
    maildir = make_maildir(tmp_path / "Maildir")
    [sent] = await send_welcome(settings, 1)
    deliver(maildir, mail.reply(sent.email, in_reply_to=sent.message_id))
    inbox = settings.model_copy(
        update={"inbox_url": SecretStr(f"maildir://{maildir}"), "dispatch_interval_seconds": 900}
    )
    scheduler = start_scheduler(inbox)
    try:
        await until_logged(caplog, "inbox:")
        # the whole pass: no job may still run when the test's loop closes
        await until_logged(caplog, "scoring and hand-off:")
    finally:
        scheduler.shutdown(wait=False)
    [read] = [m for _, m in messages(caplog) if m.startswith("inbox:")]
    assert read.startswith("inbox: 1 read: 1 replies")
    caplog.clear()
    gone = inbox.model_copy(update={"inbox_url": SecretStr("imap://u:hunter2@127.0.0.1:1/")})
    scheduler = start_scheduler(gone)
    try:
        await until_logged(caplog, "inbox not read")
        await until_logged(caplog, "scoring and hand-off:")  # the rest of the pass goes on
    finally:
        scheduler.shutdown(wait=False)
    [(level, failed)] = [(lv, m) for lv, m in messages(caplog) if m.startswith("inbox not read")]
    assert level == logging.ERROR and "Connection refused" in failed and "hunter2" not in failed


async def test_without_an_inbox_the_scheduler_reads_none(settings, caplog):
    caplog.set_level(logging.INFO, logger="nurture.scheduler")
    scheduler = start_scheduler(settings.model_copy(update={"dispatch_interval_seconds": 900}))
    try:
        await until_logged(caplog, "scoring and hand-off:")
        await asyncio.sleep(0.2)
    finally:
        scheduler.shutdown(wait=False)
    assert not [m for _, m in messages(caplog) if "inbox" in m]


async def test_inbox_once_runs_a_pass_in_process(settings, tmp_path):
    from tests.inbox import mail
    from tests.inbox.conftest import LATER, deliver, make_maildir, send_welcome

    maildir = make_maildir(tmp_path / "Maildir")
    [sent] = await send_welcome(settings, 1)
    deliver(maildir, mail.dsn(sent.message_id, sent.email))
    inbox = settings.model_copy(update={"inbox_url": SecretStr(f"maildir://{maildir}")})
    summary = await inbox_once(inbox, LATER, use_prefect=False)
    assert summary.startswith("1 read: 0 replies, 0 auto-replies, 1 hard and 0 soft bounces")
