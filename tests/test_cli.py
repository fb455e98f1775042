"""The `nurture` command as a user runs it: config check, preview, schedule, test-send, tick,
report."""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import CONTENT
from tests.factories import enrolled_leads


def nurture(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "nurture", *args], capture_output=True,
                          text=True, env={**os.environ, "PREFECT_API_URL": "", **(env or {})},
                          cwd=cwd, timeout=120)  # fmt: skip


@pytest.fixture
def cli_env(settings, smtp):
    return {
        "NURTURE_DATABASE_URL": settings.database_url,
        "NURTURE_MAIL_URL": smtp.url,
        "NURTURE_CONFIG_DIR": str(settings.config_dir),
        "NURTURE_TEMPLATES_DIR": str(settings.templates_dir),
        "NURTURE_SECRET_KEY": settings.secret_key,
        "NURTURE_VAR_DIR": str(settings.var_dir),
    }


def test_config_check_passes_on_the_shipped_example():
    result = nurture("config", "check", cwd=CONTENT)
    assert result.returncode == 0, result.stderr
    assert "1 form(s), 2 sequence(s), 13 email(s) render" in result.stdout
    assert "scoring: 9 rule(s), MQL at 50; sales: 2 territory(ies)" in result.stdout


def test_config_check_names_file_and_line_of_a_template_error(tmp_path):
    shutil.copytree(CONTENT / "config", tmp_path / "config")
    shutil.copytree(CONTENT / "templates", tmp_path / "templates")
    broken = tmp_path / "templates/email/b2b-nurture/03_case_study.txt.j2"
    lines = broken.read_text(encoding="utf-8").splitlines()
    lines[3] = "Hallo {{ lead.frist_name }}"
    broken.write_text("\n".join(lines), encoding="utf-8")
    result = nurture("config", "check", cwd=tmp_path)
    assert result.returncode == 1
    assert "03_case_study.txt.j2:4: step case-study:" in result.stderr
    assert "frist_name" in result.stderr


def test_preview_writes_every_email(tmp_path):
    result = nurture("preview", "b2b-nurture", "--out", str(tmp_path), "--sample", "sparse",
                     cwd=CONTENT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "b2b-nurture"
    assert len(list(folder.glob("*.eml"))) == 7 and (folder / "index.html").exists()
    text = (folder / "02-problem.txt").read_text(encoding="utf-8")
    assert "Hallo zusammen," in text  # the fallback for a lead without a first name


def test_schedule_prints_each_touch_inside_the_window():
    result = nurture("schedule", "b2b-nurture", "--start", "2026-11-27T19:00",
                     "--timezone", "Europe/Berlin", cwd=CONTENT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line[:2].strip(". ").isdigit()]
    assert len(lines) == 7
    assert lines[0].startswith("1. Fri 2026-11-27 19:00  welcome")  # ignores the window
    # Two business days later is Tuesday 19:00, after the window closes: Wednesday 08:30.
    assert lines[1].startswith("2. Wed 2026-12-02 08:30  problem")
    assert all(" Sat " not in line and " Sun " not in line for line in lines[1:])


async def test_test_send_delivers_every_step_to_one_address(cli_env, smtp):
    result = nurture("test-send", "b2b-nurture", "--to", "Marketing@Example.com", env=cli_env,
                     cwd=CONTENT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(smtp.handler.to("marketing@example.com")) == 7
    msg = email.message_from_bytes(smtp.messages[0].data, policy=email.policy.default)
    assert "Max" in msg.get_body(("plain",)).get_content()


async def test_tick_until_fast_forwards_through_the_whole_drip(settings, cli_env, smtp):
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    [address] = await enrolled_leads(settings, 1, monday)
    result = nurture("tick", "--now", monday.isoformat(), "--until", "2027-02-01T00:00",
                     env=cli_env, cwd=CONTENT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(smtp.handler.to(address)) == 7
    assert result.stdout.count("1 sent") == 7


async def test_tick_reports_an_unreachable_smtp_server(settings, cli_env):
    await enrolled_leads(settings, 1, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    env = {**cli_env, "NURTURE_MAIL_URL": "smtp://127.0.0.1:1?timeout=2"}
    result = nurture("tick", "--now", "2026-11-23T09:00", env=env, cwd=CONTENT)
    assert result.returncode == 1
    assert "dispatch failed" in result.stderr and "cannot reach SMTP" in result.stderr


async def test_report_writes_text_json_and_html(settings, cli_env, tmp_path):
    from tests.reporting.known_history import SINCE, UNTIL, history

    await history(settings.database_url)
    span = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    text = nurture("report", *span, env=cli_env)
    assert text.returncode == 0, text.stderr
    assert "b2b-nurture/welcome" in text.stdout and "Sales hand-offs" in text.stdout
    out = tmp_path / "funnel.json"
    made = nurture("report", *span, "--sequence", "b2b-nurture", "--format", "json",
                   "--out", str(out), env=cli_env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    data = json.loads(out.read_text())
    assert data["format"] == 1 and data["steps"][0]["delivered"] == 8
    html = nurture("report", *span, "--format", "html", "--out", str(tmp_path / "f.html"),
                   env=cli_env)  # fmt: skip
    assert html.returncode == 0 and "<svg" in (tmp_path / "f.html").read_text()
    wrong = nurture("report", "--sequence", "nope", env=cli_env)
    assert wrong.returncode == 1 and "no sequence 'nope'" in wrong.stderr


def test_report_and_leads_show_print_their_json_schemas():
    from nurture.reporting.schemas import schema_json

    report = nurture("report", "--schema", env={"NURTURE_CONFIG_DIR": "/nonexistent"})
    assert report.returncode == 0, report.stderr
    assert report.stdout == schema_json("funnel-report")
    profile = nurture("leads", "show", "--schema")  # no EMAIL needed
    assert profile.returncode == 0, profile.stderr
    assert profile.stdout == schema_json("lead-profile")


async def test_leads_stage_records_a_deal(settings, cli_env):
    [email] = await enrolled_leads(settings, 1, datetime(2026, 11, 23, 9, tzinfo=UTC))
    done = nurture("leads", "stage", email, "customer", "--value", "9900", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "-> customer (value 9,900.00)" in done.stdout
    shown = nurture("leads", "show", email, env=cli_env)
    assert "stage:    customer" in shown.stdout and "'value': 9900.0" in shown.stdout
    as_json = json.loads(nurture("leads", "show", email, "--json", env=cli_env).stdout)
    assert as_json["lead"]["lifecycle_stage"] == "customer"
    assert as_json["timeline"][0]["data"]["value"] == 9900.0
    assert nurture("leads", "stage", email, "lead", env=cli_env).returncode == 1
    assert nurture("leads", "stage", "x@y.de", "sql", env=cli_env).returncode == 1
