"""The funnel report (``nurture report``) as typed models: what ``reporting.funnel`` computes,
what the text and HTML formatters read, and, dumped with ``model_dump(mode="json")``, the
stable JSON format whose schema is docs/schemas/funnel-report.schema.json."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nurture.reporting.fields import Count, Instant, Rate, ReportModel, Seconds

# Fields are only ever added within a format version; a change of meaning bumps it.
# 2: opens and clicks are a person's (raw_* counts every fetch); replies, bounces reported
# after delivery, complaints and their rates per step and per sequence.
# 3: the lifecycle after the sale (``lifecycle``): customers, repeat purchases, revenue per
# customer, referrals and NPS per sequence; deals from the deals table (crm/).
# 4: experiments per step (``experiments``): per variant sends, a person's opens and clicks,
# the difference to the control with its interval and p-value, the winner.
FORMAT_VERSION: Literal[4] = 4
# Gmail's bulk-sender limit: a spam complaint rate above 0.3 % gets mail rejected.
COMPLAINT_LIMIT = 0.003


class ReportRange(ReportModel):
    """The time range the report covers."""

    since: Instant = Field(description="Start of the range (inclusive).")
    until: Instant = Field(description="End of the range (exclusive).")


class StepMetrics(ReportModel):
    """One sequence step: its sends, engagement and who left the sequence there (events in the
    range with that sequence and step)."""

    sequence: str = Field(description="Sequence id.")
    step: str = Field(description="Step id within the sequence.")
    number: int = Field(ge=1, description="Position of the step in the sequence, from 1.")
    sent: Count = Field(description="Handed to the SMTP server: delivered + bounced.")
    delivered: Count = Field(description="Accepted by the SMTP server (`sent` events).")
    bounced: Count = Field(
        description="Refused for good (5xx): the address is suppressed, its drips end."
    )
    bounced_after_delivery: Count = Field(
        description="Hard bounces a provider or the inbox reported after SMTP accepted it."
    )
    soft_bounces: Count = Field(description="Soft bounces reported after delivery.")
    complaints: Count = Field(description="Spam complaints about this step's email.")
    unique_opens: Count = Field(
        description="Distinct leads that opened this step's email: a person's opens only "
        "(not image proxies' or scanners', docs/signals.md)."
    )
    unique_clicks: Count = Field(
        description="Distinct leads that clicked a tracked link in this step's email, "
        "a person's clicks only."
    )
    raw_opens: Count = Field(
        description="Distinct leads whose email was fetched for an open at all, machines too."
    )
    raw_clicks: Count = Field(
        description="Distinct leads with any click on this step's email, machines too."
    )
    replies: Count = Field(description="Distinct leads that replied to this step's email.")
    unsubscribes: Count = Field(
        description="Distinct leads that unsubscribed through this step's email."
    )
    open_rate: Rate = Field(description="unique_opens / delivered; null if none delivered.")
    click_rate: Rate = Field(description="unique_clicks / delivered; null if none delivered.")
    click_to_open_rate: Rate = Field(description="unique_clicks / unique_opens; null if none.")
    unsubscribe_rate: Rate = Field(description="unsubscribes / delivered; null if none delivered.")
    bounce_rate: Rate = Field(
        description="(bounced + bounced_after_delivery) / sent; null if none sent."
    )
    complaint_rate: Rate = Field(description="complaints / delivered; null if none delivered.")
    over_complaint_limit: bool = Field(
        description="complaint_rate above Gmail's 0.3 % limit for bulk senders."
    )
    left: dict[str, Count] = Field(
        description="Leads that left the sequence at this step, by reason (sorted): "
        "unsubscribed, bounced, goal_<id> (a goal reached), finished (after the last step), ..."
    )
    left_total: Count = Field(description="Sum of `left`.")


class SequenceDeliverability(ReportModel):
    """One sequence's bounces and complaints, over all its steps."""

    sequence: str = Field(description="Sequence id.")
    sent: Count = Field(description="Handed to the SMTP server.")
    delivered: Count = Field(description="Accepted by the SMTP server.")
    bounced: Count = Field(description="Hard bounces: at SMTP time and reported later.")
    soft_bounces: Count = Field(description="Soft bounces reported after delivery.")
    complaints: Count = Field(description="Spam complaints.")
    bounce_rate: Rate = Field(description="bounced / sent; null if none sent.")
    complaint_rate: Rate = Field(description="complaints / delivered; null if none delivered.")
    over_complaint_limit: bool = Field(
        description="complaint_rate above Gmail's 0.3 % limit for bulk senders."
    )


class StepDropOff(ReportModel):
    """The step where most leads left the sequence before its end."""

    sequence: str = Field(description="Sequence id.")
    step: str = Field(description="Step id.")
    left: Count = Field(description="Leads that left there, `finished` not counted.")


class StagesReached(ReportModel):
    """Leads that reached each funnel stage in the range, in funnel order."""

    subscriber: Count = Field(description="Captured (gave an address) in the range.")
    lead: Count = Field(description="Confirmed: reached the stage lead.")
    mql: Count = Field(description="Marketing-qualified: the score crossed the threshold.")
    sql: Count = Field(description="Sales-accepted.")
    opportunity: Count = Field(description="Reported as an opportunity by sales (the CRM).")
    customer: Count = Field(description="Reported as won by sales (the CRM).")


class StageConversion(ReportModel):
    """From one funnel stage to the next."""

    from_: str = Field(alias="from", description="The earlier stage.")
    to: str = Field(description="The next stage.")
    conversion: Rate = Field(
        description="Reached `to` / reached `from`; null if none reached `from`."
    )
    lost: Count = Field(description="Reached `from` but not `to` (never below 0).")


class MedianSeconds(ReportModel):
    """Median durations between stages, for leads that reached both in the range."""

    capture_to_mql: Seconds = Field(description="Capture to MQL; null if no lead did both.")
    mql_to_sql: Seconds = Field(description="MQL to SQL; null if no lead did both.")


class StageFunnel(ReportModel):
    """Lifecycle stages: how many leads reached each, and how many moved on."""

    reached: StagesReached = Field(description="Leads that reached each stage.")
    conversions: list[StageConversion] = Field(
        description="Between consecutive stages, in funnel order."
    )
    biggest_drop_off: StageConversion | None = Field(
        description="The conversion with the lowest rate; null if no rate is known."
    )
    median_seconds: MedianSeconds = Field(description="Median time between stages.")


class RepMetrics(ReportModel):
    """One sales rep's hand-offs created in the range."""

    rep: str = Field(description="The rep's email address.")
    handoffs: Count = Field(description="Hand-offs offered to the rep.")
    accepted: Count = Field(description="Accepted by the rep.")
    rejected: Count = Field(description="Rejected by the rep (back to nurture).")
    pending: Count = Field(description="Not answered yet.")
    reassigned: Count = Field(description="Not answered within the SLA: given to the next rep.")
    sla_reminders: Count = Field(description="Hand-offs the rep was reminded of.")
    accept_rate: Rate = Field(description="accepted / (accepted + rejected); null if none.")
    reject_rate: Rate = Field(description="rejected / (accepted + rejected); null if none.")


class SalesMetrics(ReportModel):
    """Sales hand-offs created in the range."""

    reps: list[RepMetrics] = Field(description="Per rep, by email address.")
    reject_reasons: dict[str, Count] = Field(
        description="Rejections per reason, most frequent first (feedback for marketing)."
    )
    sla_breaches: Count = Field(description="Hand-offs reassigned for lack of an answer.")
    sla_reminders: Count = Field(description="Hand-offs a rep was reminded of.")


class SourceMetrics(ReportModel):
    """The leads captured in the range from one UTM source/medium/campaign, and what became
    of them (ever, by their stage events)."""

    utm_source: str | None = Field(description="utm_source at capture; null if none.")
    utm_medium: str | None = Field(description="utm_medium at capture; null if none.")
    utm_campaign: str | None = Field(description="utm_campaign at capture; null if none.")
    leads: Count = Field(description="Leads captured in the range.")
    mql: Count = Field(description="Of them, leads that became MQL.")
    sql: Count = Field(description="Of them, leads that became SQL.")
    customers: Count = Field(description="Of them, leads that became customers.")
    won: float = Field(description="Revenue won from them (each lead's latest deal value).")
    lead_to_mql: Rate = Field(description="mql / leads.")
    mql_to_sql: Rate = Field(description="sql / mql; null if no MQL.")
    lead_to_customer: Rate = Field(description="customers / leads.")


class Deals(ReportModel):
    """Deals reported by sales in the range, each lead's latest value counted."""

    deals: Count = Field(description="Leads reported at the stage.")
    value: float = Field(description="Sum of their latest deal values, rounded to cents.")


class SourceCostMetrics(ReportModel):
    """One costed source or campaign of config/sources.yaml against the leads it brought."""

    utm_source: str = Field(description="The costed utm_source.")
    utm_campaign: str | None = Field(description="The costed campaign; null: the whole source.")
    cost: float = Field(ge=0, description="What it cost (config/sources.yaml).")
    leads: Count = Field(description="Leads captured from it in the range.")
    mql: Count = Field(description="Of them, leads that became MQL.")
    customers: Count = Field(description="Of them, leads that became customers.")
    won: float = Field(description="Revenue won from them.")
    cost_per_lead: float | None = Field(description="cost / leads; null if no leads.")
    cost_per_mql: float | None = Field(description="cost / mql; null if no MQL.")
    customer_acquisition_cost: float | None = Field(
        description="cost / customers (CAC); null if no customers."
    )
    return_on_spend: float | None = Field(description="won / cost; null if it cost nothing.")


class RevenueMetrics(ReportModel):
    """Pipeline and won revenue reported by sales in the range, and what sources cost."""

    currency: str | None = Field(
        description="Currency of config/sources.yaml; null without that file."
    )
    pipeline: Deals = Field(description="Opportunities reported in the range.")
    won: Deals = Field(description="Customers reported in the range.")
    median_sales_cycle_seconds: Seconds = Field(
        description="Median time from MQL to customer; null if no lead did both."
    )
    costs: list[SourceCostMetrics] = Field(
        description="Per costed source or campaign of config/sources.yaml, in file order."
    )


class CurrencyRevenue(ReportModel):
    """Deals in one currency (amounts in different currencies are never added up)."""

    currency: str = Field(description="ISO 4217 code the CRM reported.")
    deals: Count = Field(description="Deals closed up to the end of the range.")
    value: float = Field(description="Their sum, rounded to cents.")
    customers: Count = Field(description="Leads with at least one of these deals.")
    per_customer: float | None = Field(description="value / customers; null if none.")
    deals_in_range: Count = Field(description="Of the deals, those closed in the range.")
    value_in_range: float = Field(description="Their sum, rounded to cents.")


class ReferralMetrics(ReportModel):
    """Leads who came through a customer's referral link in the range (``referred`` events)."""

    referrers: Count = Field(description="Leads whose link brought at least one new lead.")
    referred: Count = Field(description="New leads who signed up through a referral link.")
    became_customers: Count = Field(description="Of them, leads that became customers.")
    customer_rate: Rate = Field(description="became_customers / referred; null if none.")


class NpsMetrics(ReportModel):
    """Answers to the one-click satisfaction score in the range: each lead's latest answer per
    email counts once."""

    sequence: str | None = Field(
        description="The sequence whose email asked; null: previews and test sends."
    )
    responses: Count = Field(description="Answers (one per lead and email).")
    promoters: Count = Field(description="Scores 9 and 10.")
    passives: Count = Field(description="Scores 7 and 8.")
    detractors: Count = Field(description="Scores 0 to 6.")
    nps: float | None = Field(
        ge=-100,
        le=100,
        description="% promoters - % detractors, -100 to 100, one decimal; null if none.",
    )


class LifecycleMetrics(ReportModel):
    """After the sale. Customers and deals as of the end of the range (a repeat purchase
    rate over a window would miss the first purchase); referrals and NPS answers in it."""

    customers: Count = Field(description="Leads that had become customers by the end.")
    buyers: Count = Field(description="Leads with at least one deal closed by the end.")
    repeat_customers: Count = Field(description="Leads with two or more deals.")
    repeat_purchase_rate: Rate = Field(description="repeat_customers / buyers; null if none.")
    deals: Count = Field(description="Deals closed by the end of the range.")
    revenue: list[CurrencyRevenue] = Field(description="Per currency, most revenue first.")
    referrals: ReferralMetrics = Field(description="Referral links.")
    nps: list[NpsMetrics] = Field(description="Per sequence that asked, in sequence id order.")
    nps_total: NpsMetrics = Field(description="All answers (sequence null).")


class VariantMetrics(ReportModel):
    """One variant of a step's experiment (docs/experiments.md)."""

    variant: str = Field(description="The variant's id; the first is the control.")
    control: bool = Field(description="Whether this is the control.")
    weight: Count = Field(description="Its weight in the config now.")
    sends: Count = Field(description="Touches of this variant sent.")
    human_opens: Count = Field(description="Of them, opened by a person (machines never count).")
    human_clicks: Count = Field(description="Of them, clicked by a person.")
    open_rate: Rate = Field(description="human_opens / sends; null without sends.")
    click_rate: Rate = Field(description="human_clicks / sends; null without sends.")
    difference: float | None = Field(
        description="The metric's rate minus the control's (0.02 = 2 points); null for the "
        "control and without sends."
    )
    low: float | None = Field(description="Lower end of the difference's interval.")
    high: float | None = Field(description="Upper end of the difference's interval.")
    p_value: float | None = Field(
        description="Two-sided, pooled two-proportion z-test against the control."
    )
    significant: bool = Field(description="p_value below 1 - confidence.")
    sends_still_needed: Count | None = Field(
        description="More sends this variant needs to detect min_difference (alpha 1 - "
        "confidence, power 0.8); null while the control's rate is 0 or 100 %."
    )


class ExperimentMetrics(ReportModel):
    """A step with variants, over everything its variants sent (not only the range)."""

    sequence: str
    step: str
    metric: Literal["clicks", "opens"] = Field(description="What decides (winner.metric).")
    confidence: float = Field(description="The step's confidence level (winner.confidence).")
    after: int | None = Field(description="winner.after: sends per variant before deciding.")
    winner: str | None = Field(description="The decided variant; null: no winner yet.")
    decided_at: Instant | None = Field(description="When it was decided.")
    min_difference: float = Field(description="The difference sends_still_needed is for.")
    sends_needed: Count | None = Field(
        description="Sends per variant that min_difference needs in total; null while the "
        "control's rate is 0 or 100 %."
    )
    variants: list[VariantMetrics] = Field(description="In config order, the control first.")


class FunnelReport(ReportModel):
    """Where leads drop out, for a time range: per sequence step, lifecycle stage, sales rep
    and lead source (``nurture report --format json``)."""

    format: Literal[4] = Field(description="Version of this format.")
    range: ReportRange = Field(description="The time range.")
    sequence: str | None = Field(description="The one sequence reported; null: all.")
    steps: list[StepMetrics] = Field(description="Per sequence step, in sequence order.")
    deliverability: list[SequenceDeliverability] = Field(
        description="Per sequence: bounce and complaint rates, Gmail's limit marked."
    )
    biggest_step_drop_off: StepDropOff | None = Field(
        description="Where most leads left a sequence before its end; null if none left."
    )
    stages: StageFunnel = Field(description="Lifecycle stages.")
    sales: SalesMetrics = Field(description="Sales hand-offs.")
    sources: list[SourceMetrics] = Field(description="Per lead source, most leads first.")
    revenue: RevenueMetrics = Field(description="Pipeline, won revenue and source costs.")
    lifecycle: LifecycleMetrics = Field(
        description="After the sale: customers, repeat purchases, referrals and NPS."
    )
    experiments: list[ExperimentMetrics] = Field(
        description="Per step with variants, in sequence order (docs/experiments.md)."
    )
