"""The funnel report on a generated history with known answers (``known_history``), on SQLite
and PostgreSQL.

The history is built and reported once per database (``known``); each test checks one
behaviour and compares whole typed rows, so a failure shows every difference at once."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import timedelta

import jsonschema
import pytest
from sqlalchemy import text

from nurture.config.project import load_project
from nurture.db import dispose_engines, get_engine, session_scope
from nurture.reporting.funnel import funnel_report
from nurture.reporting.funnel_format import as_json
from nurture.reporting.funnel_models import (
    Deals,
    FunnelReport,
    MedianSeconds,
    RepMetrics,
    SourceCostMetrics,
    SourceMetrics,
    StageConversion,
    StagesReached,
    StepDropOff,
    StepMetrics,
)
from nurture.reporting.schemas import schema
from nurture.tables import metadata
from tests.conftest import CONTENT
from tests.reporting.known_history import KNOWN_JSON, SEQ, SINCE, UNTIL, T, history


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def known(request, tmp_path_factory, sqlite_template, pg_url) -> FunnelReport:
    """The report of ``history`` over SINCE..UNTIL for SEQ, built once per database (the
    report is immutable; building the history is the slow part)."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("funnel") / "nurture.db"
        shutil.copy(sqlite_template, target)
        url = f"sqlite+aiosqlite:///{target}"
    elif pg_url is None:
        pytest.skip("PostgreSQL not reachable (CI sets NURTURE_REQUIRE_POSTGRES=1)")
    else:
        url = pg_url

    async def build() -> FunnelReport:
        if request.param == "postgresql":  # the session's database: emptied as db_url does
            async with get_engine(url).begin() as conn:
                tables = ", ".join(t.name for t in metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await history(url)
        async with session_scope(url) as session:
            report = await funnel_report(
                session, load_project(CONTENT / "config"), SINCE, UNTIL, SEQ
            )
        await dispose_engines()
        return report

    return asyncio.run(build())


def step(report: FunnelReport, step_id: str) -> StepMetrics:
    [row] = [s for s in report.steps if s.step == step_id]
    return row


def test_a_row_per_step_in_sequence_order(known):
    sequence = load_project(CONTENT / "config").sequences[SEQ]
    assert len(known.steps) == 7
    assert [(s.sequence, s.step, s.number) for s in known.steps] == [
        (SEQ, s.id, n) for n, s in enumerate(sequence.steps, start=1)
    ]


def test_a_step_counts_sends_and_unique_engagement(known):
    # a second open by the same lead counts once; the send before the range not at all
    assert step(known, "welcome") == StepMetrics(
        sequence=SEQ,
        step="welcome",
        number=1,
        sent=10,
        delivered=8,
        bounced=2,
        bounced_after_delivery=0,
        soft_bounces=0,
        complaints=0,
        unique_opens=6,
        unique_clicks=3,
        raw_opens=6,
        raw_clicks=3,
        replies=0,
        unsubscribes=1,
        open_rate=0.75,
        click_rate=0.375,
        click_to_open_rate=0.5,
        unsubscribe_rate=0.125,
        bounce_rate=0.2,
        complaint_rate=0.0,
        over_complaint_limit=False,
        left={"bounced": 2, "unsubscribed": 1},  # those that ended before it count here
        left_total=3,
    )


def test_rates_are_per_delivered_email(known):
    assert step(known, "problem") == StepMetrics(
        sequence=SEQ,
        step="problem",
        number=2,
        sent=5,
        delivered=5,
        bounced=0,
        # a provider's hard bounce and a soft one, a complaint: reported after delivery
        bounced_after_delivery=1,
        soft_bounces=1,
        complaints=1,
        # the proxies' opens and the scanner's hidden-link click count raw only
        unique_opens=2,
        unique_clicks=0,
        raw_opens=4,
        raw_clicks=1,
        replies=1,
        unsubscribes=0,
        open_rate=0.4,
        click_rate=0.0,
        click_to_open_rate=0.0,
        unsubscribe_rate=0.0,
        bounce_rate=0.2,
        complaint_rate=0.2,
        over_complaint_limit=True,  # 1 in 5, far over Gmail's 0.3 %
        left={},
        left_total=0,
    )


def test_a_step_nothing_was_sent_for_has_no_rates(known):
    row = step(known, "case-study")
    rates = (row.open_rate, row.click_rate, row.click_to_open_rate, row.unsubscribe_rate)
    assert (row.sent, row.delivered, row.left_total, rates) == (0, 0, 0, (None,) * 4)


def test_leads_that_finish_leave_at_the_last_step(known):
    last = known.steps[-1]
    assert (last.step, last.left, last.left_total) == ("breakup", {"finished": 1}, 1)


def test_the_biggest_step_drop_off_does_not_count_finishing(known):
    assert known.biggest_step_drop_off == StepDropOff(sequence=SEQ, step="welcome", left=3)


def test_stages_reached_in_the_range(known):
    assert known.stages.reached == StagesReached(
        subscriber=10, lead=8, mql=4, sql=2, opportunity=2, customer=1
    )


def test_conversions_between_consecutive_stages(known):
    def conversion(a: str, b: str, rate: float, lost: int) -> StageConversion:
        return StageConversion(from_=a, to=b, conversion=rate, lost=lost)

    assert known.stages.conversions == [
        conversion("subscriber", "lead", 0.8, 2),
        conversion("lead", "mql", 0.5, 4),
        conversion("mql", "sql", 0.5, 2),
        conversion("sql", "opportunity", 1.0, 0),
        conversion("opportunity", "customer", 0.5, 1),
    ]
    # the lowest rate; of equal ones the earliest in the funnel
    assert known.stages.biggest_drop_off == conversion("lead", "mql", 0.5, 4)


def test_median_times_between_stages(known):
    assert known.stages.median_seconds == MedianSeconds(
        capture_to_mql=2.5 * 86400, mql_to_sql=86400.0
    )


def test_hand_offs_per_rep(known):
    a = {"handoffs": 2, "sla_reminders": 0, "accept_rate": 0.5, "reject_rate": 0.5}
    b = {"handoffs": 2, "sla_reminders": 2, "accept_rate": None, "reject_rate": None}
    assert known.sales.reps == [
        RepMetrics(rep="a@x", accepted=1, rejected=1, pending=0, reassigned=0, **a),
        RepMetrics(rep="b@x", accepted=0, rejected=0, pending=1, reassigned=1, **b),
    ]


def test_reject_reasons_and_the_sla(known):
    sales = known.sales
    assert (sales.reject_reasons, sales.sla_breaches, sales.sla_reminders) == (
        {"no-fit": 1},
        1,
        2,
    )


def test_leads_per_source_and_what_became_of_them(known):
    paid = {"utm_medium": "paid", "utm_campaign": None}
    assert known.sources == [
        SourceMetrics(
            utm_source="linkedin",
            **paid,
            leads=6,
            mql=4,
            sql=2,
            customers=1,
            won=12000.0,
            lead_to_mql=0.6667,
            mql_to_sql=0.5,
            lead_to_customer=0.1667,
        ),
        SourceMetrics(
            utm_source="google",
            **paid,
            leads=4,
            mql=0,
            sql=0,
            customers=0,
            won=0.0,
            lead_to_mql=0.0,
            mql_to_sql=None,
            lead_to_customer=0.0,
        ),
    ]


def test_revenue_counts_each_leads_latest_deal_value(known):
    revenue = known.revenue
    assert (revenue.currency, revenue.pipeline, revenue.won) == (
        "EUR",
        Deals(deals=2, value=16000.0),  # the corrected 6,000 counts, not the 5,000
        Deals(deals=1, value=12000.0),
    )
    assert revenue.median_sales_cycle_seconds == 9 * 86400


def test_what_each_costed_source_cost_per_lead_mql_and_customer(known):
    def cost(source: str, campaign: str | None, amount: float, **rest) -> SourceCostMetrics:
        zero = {"leads": 0, "mql": 0, "customers": 0, "won": 0.0, "cost_per_lead": None}
        none = {"cost_per_mql": None, "customer_acquisition_cost": None}
        return SourceCostMetrics(
            utm_source=source, utm_campaign=campaign, cost=amount, **{**zero, **none, **rest}
        )

    assert known.revenue.costs == [
        # its cost is for a campaign these leads lack
        cost("linkedin", "leitfaden-q4", 4800.0, return_on_spend=0.0),
        cost("google", None, 3200.0, leads=4, cost_per_lead=800.0, return_on_spend=0.0),
        cost("newsletter", None, 0.0, return_on_spend=None),  # free: no return to divide
    ]


def test_the_json_keeps_its_pinned_format(known):
    pinned = KNOWN_JSON.read_text(encoding="utf-8")
    assert known.model_dump(mode="json") == json.loads(pinned)
    # byte for byte: also key order and int vs float (0 == 0.0 in the comparison above)
    assert as_json(known) == pinned
    assert known.model_dump(mode="json")["format"] == 4


def test_deliverability_per_sequence_marks_gmails_limit(known):
    [d] = known.deliverability
    assert (d.sequence, d.sent, d.delivered, d.bounced, d.soft_bounces, d.complaints) == (
        SEQ,
        15,
        13,
        3,
        1,
        1,
    )
    assert (d.bounce_rate, d.complaint_rate, d.over_complaint_limit) == (0.2, 0.0769, True)


def test_the_complaint_limit_is_on_the_exact_ratio():
    from nurture.reporting.funnel import over_limit

    assert not over_limit(3, 1000) and over_limit(3, 999) and not over_limit(0, 0)


def test_the_json_validates_against_its_published_schema(known):
    report = known.model_dump(mode="json")
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.Draft202012Validator(schema("funnel-report"), format_checker=checker).validate(
        report
    )
    assert FunnelReport.model_validate(report) == known  # a reader gets the same report back


async def test_range_excludes_what_happened_outside(db_url, settings):
    await history(db_url)
    project = load_project(settings.config_dir)
    async with session_scope(db_url) as session:
        early = await funnel_report(session, project, T - timedelta(days=10), SINCE, SEQ)
    assert early.steps[0].delivered == 1  # the one send before the range
    assert early.stages.reached.subscriber == 0 and early.sales.reps == []
