"""`nurture tick`, `serve` and `db upgrade`; what the command prints of the settings."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from tests.cli.conftest import nurture
from tests.conftest import CONTENT
from tests.factories import enrolled_leads
from tests.processes import wait_healthy
from tests.smtp_server import free_port

SECRETS = ("hunter2", "sign-with-this", "crm-bearer-key")


async def test_tick_until_fast_forwards_through_the_whole_drip(settings, cli_env, smtp):
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    [address] = await enrolled_leads(settings, 1, monday)
    result = nurture(
        "tick", "--now", monday.isoformat(), "--until", "2027-02-01T00:00", env=cli_env, cwd=CONTENT
    )
    assert result.returncode == 0, result.stderr
    assert len(smtp.handler.to(address)) == 7
    assert result.stdout.count("1 sent") == 7


async def test_tick_reports_an_unreachable_smtp_server(settings, cli_env):
    await enrolled_leads(settings, 1, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    env = {**cli_env, "NURTURE_MAIL_URL": "smtp://127.0.0.1:1?timeout=2"}
    result = nurture("tick", "--now", "2026-11-23T09:00", env=env, cwd=CONTENT)
    assert result.returncode == 1
    assert "dispatch failed" in result.stderr and "cannot reach SMTP" in result.stderr


async def test_tick_reads_the_inbox_first_when_one_is_set(settings, cli_env, tmp_path):
    from tests.inbox import mail
    from tests.inbox.conftest import deliver, make_maildir, send_welcome

    maildir = make_maildir(tmp_path / "Maildir")
    [sent] = await send_welcome(settings, 1)
    deliver(maildir, mail.reply(sent.email, in_reply_to=sent.message_id))
    env = {**cli_env, "NURTURE_INBOX_URL": f"maildir://{maildir}"}
    result = nurture("tick", "--now", "2026-11-26T10:00", env=env, cwd=CONTENT)
    assert result.returncode == 0, result.stderr
    # the reply ended the drip before its second step was due: nothing sent
    assert result.stdout.startswith("inbox: 1 read: 1 replies"), result.stdout
    assert "; nothing due in" in result.stdout, result.stdout
    unreachable = {**cli_env, "NURTURE_INBOX_URL": "imaps://u:hunter2@127.0.0.1:1/INBOX"}
    result = nurture("tick", "--now", "2026-11-26T10:00", env=unreachable, cwd=CONTENT)
    assert result.returncode == 1
    assert "inbox not read" in result.stderr and "Connection refused" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_db_upgrade_prints_the_database_url_without_its_password(pg_url):
    # PostgreSQL's trust authentication ignores the password: the URL still connects.
    url = make_url(pg_url).set(password="hunter2")
    result = nurture(
        "db", "upgrade", env={"NURTURE_DATABASE_URL": url.render_as_string(hide_password=False)}
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert f"database at {url.render_as_string(hide_password=True)} is up to date" in (
        result.stdout
    )


def test_serve_prints_and_logs_no_secret(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_API_URL": "",
        "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "NURTURE_MAIL_URL": "smtp+starttls://marketing:hunter2@127.0.0.1:1",
        "NURTURE_SECRET_KEY": "sign-with-this",
        "NURTURE_API_KEY": "crm-bearer-key",
        "NURTURE_VAR_DIR": str(tmp_path / "var"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nurture", "serve", "--no-scheduler", "--port", str(port)],
        cwd=CONTENT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert "mail: smtp+starttls://marketing:***@127.0.0.1:1" in out
    assert not [s for s in SECRETS if s in out], out
