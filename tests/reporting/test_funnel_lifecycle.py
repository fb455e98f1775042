"""The funnel report's lifecycle section on a small history with answers worked out by hand
(in the comments), through the real writers: deals, stage changes, referrals, NPS answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from nurture.config.project import load_project
from nurture.crm.service import DealIn, record_deal
from nurture.db import session_scope
from nurture.leads.models import Lead
from nurture.leads.referrals import Referral, record_referrals
from nurture.leads.service import record_crm_stage, upsert_leads
from nurture.leads.stages import Stage
from nurture.loyalty.service import Scorer, record_score
from nurture.reporting.funnel import funnel_report
from nurture.reporting.funnel_lifecycle import lifecycle_metrics
from nurture.reporting.funnel_models import (
    CurrencyRevenue,
    LifecycleMetrics,
    NpsMetrics,
    ReferralMetrics,
)

SINCE = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
IN = SINCE + timedelta(days=3)
LATER = UNTIL + timedelta(days=30)


def deal(id_: str, value: float, day: date, currency: str = "EUR") -> DealIn:
    return DealIn(id_, value, currency, day)


async def history(url: str) -> None:
    async with session_scope(url) as session:
        rows = await upsert_leads(session, [(f"{n}@firma.de", {}, IN, None) for n in "abcdefghi"])
        leads = {lead.email[0]: lead for lead, _ in rows}
        ids = {k: v.id for k, v in leads.items()}
        # deals: a twice (repeat), b once before the range, c in USD, d after the range
        for who, d in (
            ("a", deal("D1", 100, date(2026, 10, 5))),
            ("a", deal("D2", 50, date(2026, 10, 20))),
            ("b", deal("D3", 200, date(2026, 9, 1))),
            ("c", deal("D4", 30, date(2026, 10, 10), "USD")),
        ):
            await record_deal(session, leads[who], d, IN, "test")
        await record_deal(session, leads["d"], deal("D5", 999, date(2026, 12, 1)), LATER, "test")
        await record_deal(session, leads["a"], deal("D1", 100, date(2026, 10, 5)), IN, "replay")
        # customers without a deal: e, and f (whom a referred)
        for who in "ef":
            await record_crm_stage(session, leads[who], Stage.CUSTOMER, IN, None, "test")
        await record_referrals(
            session,
            [
                Referral(leads["a"].public_id, ids["f"], leads["f"].public_id, IN),
                Referral(leads["a"].public_id, ids["g"], leads["g"].public_id, IN),
                Referral(leads["b"].public_id, ids["h"], leads["h"].public_id, IN),
                # before the range
                Referral(
                    leads["c"].public_id, ids["i"], leads["i"].public_id, SINCE - timedelta(1)
                ),
            ],
        )
        answers = [
            ("a", 1, "onboarding", 6),
            ("a", 1, "onboarding", 10),  # a changed its mind: the latest counts
            ("b", 2, "onboarding", 9),
            ("c", 3, "onboarding", 7),
            ("e", 4, "onboarding", 3),
            ("f", 5, "onboarding", 0),
            ("a", 6, "b2b-nurture", 8),
            ("b", 7, "b2b-nurture", 10),
            ("c", None, None, 9),  # a preview's link: no send
        ]
        for i, (who, touch, sequence, score) in enumerate(answers):
            who_ = Scorer(ids[who], touch, sequence, "ask" if sequence else None)
            await record_score(session, who_, score, None, IN + timedelta(minutes=i))
        await record_score(session, Scorer(ids["d"], 8, "onboarding", "ask"), 10, None, LATER)


# customers by the end: a, b, c (their deals), e, f (the CRM); d only after the range.
# buyers a, b, c; repeat a: 1/3. Deals by the end: D1-D4. EUR: D1+D2+D3 = 350 from a and b,
# 175 each, in the range D1+D2 = 150; USD: D4 = 30 from c.
# referrals in the range: a -> f, g; b -> h: 2 referrers, 3 referred, f a customer: 1/3.
# NPS onboarding: a 10, b 9, c 7, e 3, f 0: 2 promoters, 1 passive, 2 detractors: 0.0;
# b2b-nurture: a 8, b 10: 1 - 0 of 2: 50.0; all with the preview's 9: 4 and 2 of 8: 25.0.
EXPECTED = LifecycleMetrics(
    customers=5,
    buyers=3,
    repeat_customers=1,
    repeat_purchase_rate=0.3333,
    deals=4,
    revenue=[
        CurrencyRevenue(
            currency="EUR",
            deals=3,
            value=350.0,
            customers=2,
            per_customer=175.0,
            deals_in_range=2,
            value_in_range=150.0,
        ),
        CurrencyRevenue(
            currency="USD",
            deals=1,
            value=30.0,
            customers=1,
            per_customer=30.0,
            deals_in_range=1,
            value_in_range=30.0,
        ),
    ],
    referrals=ReferralMetrics(referrers=2, referred=3, became_customers=1, customer_rate=0.3333),
    nps=[
        NpsMetrics(
            sequence="b2b-nurture", responses=2, promoters=1, passives=1, detractors=0, nps=50.0
        ),
        NpsMetrics(
            sequence="onboarding", responses=5, promoters=2, passives=1, detractors=2, nps=0.0
        ),
    ],
    nps_total=NpsMetrics(
        sequence=None, responses=8, promoters=4, passives=2, detractors=2, nps=25.0
    ),
)


async def test_lifecycle_figures_on_a_known_history(settings):
    url = settings.database_url.get_secret_value()
    await history(url)
    async with session_scope(url) as session:
        assert await lifecycle_metrics(session, SINCE, UNTIL) == EXPECTED
        one = await lifecycle_metrics(session, SINCE, UNTIL, "onboarding")
        report = await funnel_report(session, load_project(settings.config_dir), SINCE, UNTIL)
    assert [n.sequence for n in one.nps] == ["onboarding"]
    assert (one.nps_total.responses, one.nps_total.nps) == (5, 0.0)
    assert report.format == 4 and report.lifecycle == EXPECTED


async def test_anonymised_leads_count_as_before(settings):
    # what forgetting a lead leaves: its rows without the address and the name
    url = settings.database_url.get_secret_value()
    await history(url)
    async with session_scope(url) as session:
        await session.execute(
            update(Lead).values(email=Lead.public_id + "@forgotten.invalid", first_name=None)
        )
    async with session_scope(url) as session:
        assert await lifecycle_metrics(session, SINCE, UNTIL) == EXPECTED


async def test_nothing_after_the_sale_is_zeros_and_nulls(settings):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        empty = await lifecycle_metrics(session, SINCE, UNTIL)
    assert (empty.customers, empty.buyers, empty.deals, empty.revenue) == (0, 0, 0, [])
    assert empty.repeat_purchase_rate is None and empty.referrals.customer_rate is None
    assert empty.nps == [] and empty.nps_total.nps is None
