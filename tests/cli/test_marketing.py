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


def test_schedule_shows_quiet_days_and_the_cap_across_overlapping_sequences(tmp_path):
    from tests.policy.projects import sequence_yaml, write_config

    policy = "cap: {max: 2, per: 7d}\nquiet_days: {public_holidays: [DE], default_country: null}\n"
    sequences = {x: sequence_yaml(x, ["0", "1 day"]) for x in ("a", "b")}
    config = write_config(tmp_path, policy, sequences)
    args = ("schedule", "a", "--start", "2028-10-02T10:00", "--timezone", "Europe/Berlin")
    env = {"NURTURE_CONFIG_DIR": str(config)}
    alone = nurture(*args, "--country", "Deutschland", env=env, cwd=CONTENT)
    assert alone.returncode == 0, alone.stderr
    # Tuesday 3 October is German Unity Day: the second touch goes out Wednesday.
    assert "2. Wed 2028-10-04 08:30  s2" in alone.stdout
    assert "deferred from Tue 2028-10-03 10:00: quiet day: German Unity Day (DE)" in alone.stdout
    both = nurture(*args, "--with", "b", env=env, cwd=CONTENT)
    assert both.returncode == 0, both.stderr
    lines = [line for line in both.stdout.splitlines() if line[:2].strip(". ").isdigit()]
    assert [line.split("  ")[1].strip() for line in lines] == ["a/s1", "b/s1", "a/s2", "b/s2"]
    assert "3. Mon 2028-10-09 10:00" in lines[2] and "cap: 2 in 7d reached" in lines[2]
