"""`nurture preview`, `schedule` and `test-send`."""

from __future__ import annotations

import email
import email.policy

from tests.cli.conftest import nurture
from tests.conftest import CONTENT


def test_preview_writes_every_email(tmp_path):
    result = nurture(
        "preview", "b2b-nurture", "--out", str(tmp_path), "--sample", "sparse", cwd=CONTENT
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "b2b-nurture"
    assert len(list(folder.glob("*.eml"))) == 7 and (folder / "index.html").exists()
    text = (folder / "02-problem.txt").read_text(encoding="utf-8")
    assert "Hallo zusammen," in text  # the fallback for a lead without a first name


def test_schedule_prints_each_touch_inside_the_window():
    result = nurture(
        "schedule",
        "b2b-nurture",
        "--start",
        "2026-11-27T19:00",
        "--timezone",
        "Europe/Berlin",
        cwd=CONTENT,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line[:2].strip(". ").isdigit()]
    assert len(lines) == 7
    assert lines[0].startswith("1. Fri 2026-11-27 19:00  welcome")  # ignores the window
    # Two business days later is Tuesday 19:00, after the window closes: Wednesday 08:30.
    assert lines[1].startswith("2. Wed 2026-12-02 08:30  problem")
    assert all(" Sat " not in line and " Sun " not in line for line in lines[1:])


async def test_test_send_delivers_every_step_to_one_address(cli_env, smtp):
    result = nurture(
        "test-send", "b2b-nurture", "--to", "Marketing@Example.com", env=cli_env, cwd=CONTENT
    )
    assert result.returncode == 0, result.stderr
    assert len(smtp.handler.to("marketing@example.com")) == 7
    msg = email.message_from_bytes(smtp.messages[0].data, policy=email.policy.default)
    assert "Max" in msg.get_body(("plain",)).get_content()
