"""The funnel report as text and HTML, from a small report of known numbers: counts, rates as
percentages, durations, money, and lead data escaped in HTML. No database."""

from __future__ import annotations

from typing import Any

from nurture.reporting.funnel_format import as_html, as_text

HOSTILE = "<script>alert(1)</script>"


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def step(step: str, sent: int, delivered: int, opens: int, clicks: int, **extra: Any) -> dict:
    return {
        "sequence": "b2b-nurture",
        "step": step,
        "number": 1,
        "sent": sent,
        "delivered": delivered,
        "bounced": sent - delivered,
        "unique_opens": opens,
        "unique_clicks": clicks,
        "unsubscribes": 0,
        "open_rate": rate(opens, delivered),
        "click_rate": rate(clicks, delivered),
        "click_to_open_rate": rate(clicks, opens),
        "unsubscribe_rate": rate(0, delivered),
        "left": {},
        "left_total": 0,
        **extra,
    }


def small_report(**changes: Any) -> dict[str, Any]:
    """The shape `nurture report --format json` writes (docs/reporting.md), with few rows."""
    report = {
        "format": 1,
        "range": {"since": "2026-10-01T00:00:00+00:00", "until": "2026-11-01T00:00:00+00:00"},
        "sequence": "b2b-nurture",
        "steps": [
            step("welcome", 10, 8, 6, 3, left={"bounced": 2, "unsubscribed": 1}, left_total=3),
            step("problem", 0, 0, 0, 0),
        ],
        "biggest_step_drop_off": {"sequence": "b2b-nurture", "step": "welcome", "left": 3},
        "stages": {
            "reached": {
                "subscriber": 10,
                "lead": 8,
                "mql": 4,
                "sql": 2,
                "opportunity": 2,
                "customer": 1,
            },
            "conversions": [
                {"from": "subscriber", "to": "lead", "conversion": 0.8, "lost": 2},
                {"from": "lead", "to": "mql", "conversion": 0.5, "lost": 4},
                {"from": "mql", "to": "sql", "conversion": 0.5, "lost": 2},
                {"from": "sql", "to": "opportunity", "conversion": 1.0, "lost": 0},
                {"from": "opportunity", "to": "customer", "conversion": 0.5, "lost": 1},
            ],
            "biggest_drop_off": {"from": "lead", "to": "mql", "conversion": 0.5, "lost": 4},
            "median_seconds": {"capture_to_mql": 2.5 * 86400, "mql_to_sql": 5400.0},
        },
        "sales": {
            "reps": [
                {
                    "rep": "jonas@planwerk.example",
                    "handoffs": 3,
                    "accepted": 1,
                    "rejected": 1,
                    "pending": 1,
                    "reassigned": 0,
                    "sla_reminders": 2,
                    "accept_rate": 0.5,
                    "reject_rate": 0.5,
                }
            ],
            "reject_reasons": {"no-fit": 1},
            "sla_breaches": 0,
            "sla_reminders": 2,
        },
        "sources": [
            {
                "utm_source": "linkedin",
                "utm_medium": "paid",
                "utm_campaign": None,
                "leads": 6,
                "mql": 4,
                "sql": 2,
                "customers": 1,
                "won": 12000.0,
                "lead_to_mql": 0.6667,
                "mql_to_sql": 0.5,
                "lead_to_customer": 0.1667,
            }
        ],
        "revenue": {
            "currency": "EUR",
            "pipeline": {"deals": 2, "value": 16000.0},
            "won": {"deals": 1, "value": 12000.0},
            "median_sales_cycle_seconds": 9 * 86400,
            "costs": [
                {
                    "utm_source": "linkedin",
                    "utm_campaign": None,
                    "cost": 4800,
                    "leads": 6,
                    "mql": 4,
                    "customers": 1,
                    "won": 12000.0,
                    "cost_per_lead": 800.0,
                    "cost_per_mql": 1200.0,
                    "customer_acquisition_cost": 4800.0,
                    "return_on_spend": 2.5,
                }
            ],
        },
    }
    report.update(changes)
    return report


def line_with(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(start))


def test_text_has_the_range_and_one_row_per_step_with_counts_and_percentages():
    text = as_text(small_report())
    assert (
        text.splitlines()[0] == "Funnel 2026-10-01T00:00 .. 2026-11-01T00:00  sequence b2b-nurture"
    )
    welcome = line_with(text, "b2b-nurture/welcome").split()
    assert welcome[:6] == ["b2b-nurture/welcome", "10", "8", "2", "6", "3"]
    assert welcome[7:10] == ["75.0%", "37.5%", "50.0%"]  # open, click, click-to-open
    assert welcome[10:] == ["bounced", "2,", "unsubscribed", "1"]
    # No deliveries: no rate rather than 0 % or a division by zero.
    assert line_with(text, "b2b-nurture/problem").split()[7:10] == ["-", "-", "-"]
    assert "most leads left at b2b-nurture/welcome: 3" in text


def test_text_has_stages_durations_sales_sources_and_money():
    text = as_text(small_report())
    assert line_with(text, "lead ->").split() == ["lead", "->", "mql", "8", "->", "4", "50.0%"]
    assert "biggest drop-off: lead -> mql (50.0% convert)" in text
    assert "median time capture -> MQL 2d 12h, MQL -> SQL 1h 30m" in text
    assert line_with(text, "jonas@planwerk.example").split() == [
        "jonas@planwerk.example",
        "3",
        "handed,",
        "1",
        "accepted,",
        "1",
        "rejected,",
        "1",
        "open,",
        "accept",
        "rate",
        "50.0%",
    ]
    assert "reject reasons: no-fit 1" in text and "SLA: 2 reminder(s), 0 reassigned" in text
    assert "linkedin/paid/-" in text and "lead->MQL 66.7%" in text
    assert (
        "pipeline 2 opportunit(ies) 16,000.00 EUR; won 1 deal(s) 12,000.00 EUR; "
        "median sales cycle (MQL -> customer) 9d 0h"
    ) in text
    assert "cost 4,800.00 EUR: per lead 800.00, per MQL 1,200.00, CAC 4,800.00" in text


def test_text_without_a_sequence_filter_or_answers_shows_dashes():
    report = small_report(sequence=None, biggest_step_drop_off=None)
    report["sales"]["reps"][0]["accept_rate"] = None
    report["revenue"]["median_sales_cycle_seconds"] = None
    text = as_text(report)
    assert text.splitlines()[0] == "Funnel 2026-10-01T00:00 .. 2026-11-01T00:00"
    assert "most leads left" not in text and "accept rate -" in text
    assert "median sales cycle (MQL -> customer) -" in text


def test_html_is_one_self_contained_page_with_the_same_figures():
    html = as_html(small_report())
    assert html.startswith("<!doctype html>") and html.count("<svg") == 2
    assert "http" not in html.split("<body>")[1]  # no external assets
    assert "<td>b2b-nurture/welcome</td><td>10</td><td>8</td><td>2</td><td>6</td><td>3</td>" in html
    assert "<td>75.0%</td><td>37.5%</td><td>50.0%</td>" in html
    assert "<td>bounced 2, unsubscribed 1</td>" in html
    assert "Median time capture → MQL 2d 12h, MQL → SQL 1h 30m" in html
    assert "Pipeline: 2 opportunit(ies), 16,000.00 EUR." in html
    assert "<td>800.00</td><td>1,200.00</td><td>4,800.00</td>" in html


def test_html_escapes_every_value_that_came_from_outside():
    report = small_report(sequence=HOSTILE)
    report["sources"][0]["utm_source"] = HOSTILE  # a visitor's ?utm_source=
    report["sales"]["reps"][0]["rep"] = HOSTILE
    report["sales"]["reject_reasons"] = {HOSTILE: 1}
    report["revenue"]["costs"][0]["utm_campaign"] = HOSTILE
    html = as_html(report)
    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 5
