"""`nurture report`."""

from __future__ import annotations

import json

from tests.cli.conftest import nurture
from tests.reporting.known_history import SINCE, UNTIL, history


async def test_report_writes_text_json_and_html(settings, cli_env, tmp_path):
    await history(settings.database_url.get_secret_value())
    span = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    text = nurture("report", *span, env=cli_env)
    assert text.returncode == 0, text.stderr
    assert "b2b-nurture/welcome" in text.stdout and "Sales hand-offs" in text.stdout
    out = tmp_path / "funnel.json"
    made = nurture(
        "report",
        *span,
        "--sequence",
        "b2b-nurture",
        "--format",
        "json",
        "--out",
        str(out),
        env=cli_env,
    )
    assert made.returncode == 0, made.stderr
    data = json.loads(out.read_text())
    assert data["format"] == 4 and data["steps"][0]["delivered"] == 8
    html = nurture(
        "report", *span, "--format", "html", "--out", str(tmp_path / "f.html"), env=cli_env
    )
    assert html.returncode == 0 and "<svg" in (tmp_path / "f.html").read_text()
    wrong = nurture("report", "--sequence", "nope", env=cli_env)
    assert wrong.returncode == 1 and "no sequence 'nope'" in wrong.stderr


def test_report_prints_the_json_schema_of_its_format():
    from nurture.reporting.schemas import schema_json

    report = nurture("report", "--schema", env={"NURTURE_CONFIG_DIR": "/nonexistent"})
    assert report.returncode == 0, report.stderr
    assert report.stdout == schema_json("funnel-report")
