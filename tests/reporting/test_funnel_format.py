"""The funnel report as text, HTML and JSON, from the pinned report (no database)."""

from __future__ import annotations

import pytest

from nurture.reporting.funnel_format import as_html, as_json, as_text
from nurture.reporting.funnel_models import FunnelReport, MedianSeconds
from tests.reporting.known_history import KNOWN_JSON


@pytest.fixture
def report() -> FunnelReport:
    return FunnelReport.model_validate_json(KNOWN_JSON.read_text(encoding="utf-8"))


def test_json_is_written_back_as_read(report):
    assert as_json(report) == KNOWN_JSON.read_text(encoding="utf-8")


def test_text_is_a_terminal_table(report):
    text = as_text(report)
    assert text.startswith("Funnel 2026-09-30T09:00 .. 2026-10-31T09:00  sequence b2b-nurture\n")
    assert "b2b-nurture/welcome" in text and "75.0%" in text and "mql -> sql" in text
    assert "most leads left at b2b-nurture/welcome: 3" in text
    assert "biggest drop-off: lead -> mql (50.0% convert)" in text
    assert "median time capture -> MQL 2d 12h, MQL -> SQL 1d 0h" in text
    assert "reject reasons: no-fit 1" in text and "SLA: 2 reminder(s), 1 reassigned" in text
    assert "won 1 deal(s) 12,000.00 EUR" in text and "google" in text


def test_text_shows_what_is_unknown_as_a_dash(report):
    stages = report.stages.model_copy(
        update={"median_seconds": MedianSeconds(capture_to_mql=None, mql_to_sql=None)}
    )
    text = as_text(report.model_copy(update={"stages": stages}))
    assert "median time capture -> MQL -, MQL -> SQL -" in text
    assert "case-study" in text and "       -       -       -" in text  # no rates: dashes


def test_html_is_one_self_contained_file(report):
    html = as_html(report)
    assert html.startswith("<!doctype html>") and "<svg" in html and "no-fit 1" in html
    assert "<title>Funnel 2026-09-30 – 2026-10-31</title>" in html
    assert "subscriber → lead</td><td>10 → 8</td><td>80.0%" in html
    assert "12,000.00" in html and "800.00" in html
    assert "http" not in html.split("<body>")[1]  # self-contained: no external assets
