"""The funnel report as a terminal table, as JSON, or as one self-contained HTML file (inline
SVG, no external assets: a marketer opens it from a mail attachment or a shared drive)."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from nurture.reporting.funnel_models import FunnelReport


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def as_json(report: FunnelReport) -> str:
    """The stable JSON format (docs/reporting.md, docs/schemas/funnel-report.schema.json)."""
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def as_text(report: FunnelReport) -> str:
    r = report.range
    out = [
        f"Funnel {r.since:%Y-%m-%dT%H:%M} .. {r.until:%Y-%m-%dT%H:%M}"
        + (f"  sequence {report.sequence}" if report.sequence else ""),
        "",
    ]
    head = (
        f"{'sequence/step':<28}{'sent':>7}{'deliv':>7}{'bounce':>7}{'opens':>7}"
        f"{'clicks':>7}{'raw o/c':>10}{'reply':>6}{'unsub':>6}{'open%':>8}{'click%':>8}"
        f"{'CTOR':>8}{'bounce%':>8}{'spam%':>7}  left here"
    )
    out += [
        "opens and clicks: a person's; raw o/c: every fetch, image proxies and scanners too",
        head,
        "-" * len(head),
    ]
    for s in report.steps:
        left = ", ".join(f"{k} {v}" for k, v in s.left.items()) or ""
        raw = f"{s.raw_opens}/{s.raw_clicks}"
        out.append(
            f"{s.sequence + '/' + s.step:<28.28}{s.sent:>7}{s.delivered:>7}"
            f"{s.bounced + s.bounced_after_delivery:>7}{s.unique_opens:>7}{s.unique_clicks:>7}"
            f"{raw:>10}{s.replies:>6}{s.unsubscribes:>6}{_pct(s.open_rate):>8}"
            f"{_pct(s.click_rate):>8}{_pct(s.click_to_open_rate):>8}{_pct(s.bounce_rate):>8}"
            f"{_pct(s.complaint_rate):>7}{' !' if s.over_complaint_limit else ''}  {left}"
        )
    if report.deliverability:
        out += ["", "Deliverability (bounces and spam complaints; Gmail's limit: 0.3 %)"]
        for d in report.deliverability:
            flag = "  OVER GMAIL'S 0.3 % COMPLAINT LIMIT" if d.over_complaint_limit else ""
            out.append(
                f"  {d.sequence:<26.26} sent {d.sent}, bounced {d.bounced} "
                f"({_pct(d.bounce_rate)}), soft {d.soft_bounces}, complaints {d.complaints} "
                f"({_pct(d.complaint_rate)}){flag}"
            )
    drop = report.biggest_step_drop_off
    if drop:
        out.append(f"most leads left at {drop.sequence}/{drop.step}: {drop.left}")
    st = report.stages
    reached = st.reached.model_dump()
    out += ["", "Stages (leads that reached each in the range)"]
    for c in st.conversions:
        out.append(
            f"  {c.from_:>11} -> {c.to:<12} {reached[c.from_]:>7} -> "
            f"{reached[c.to]:<7} {_pct(c.conversion):>7}"
        )
    worst = st.biggest_drop_off
    if worst:
        out.append(
            f"  biggest drop-off: {worst.from_} -> {worst.to} ({_pct(worst.conversion)} convert)"
        )
    med = st.median_seconds
    out.append(
        f"  median time capture -> MQL {_duration(med.capture_to_mql)}, "
        f"MQL -> SQL {_duration(med.mql_to_sql)}"
    )
    sales = report.sales
    out += ["", "Sales hand-offs"]
    for rep in sales.reps:
        out.append(
            f"  {rep.rep:<36} {rep.handoffs:>4} handed, {rep.accepted:>3} "
            f"accepted, {rep.rejected:>3} rejected, {rep.pending:>3} open, "
            f"accept rate {_pct(rep.accept_rate)}"
        )
    if sales.reject_reasons:
        out.append(
            "  reject reasons: " + ", ".join(f"{k} {v}" for k, v in sales.reject_reasons.items())
        )
    out.append(f"  SLA: {sales.sla_reminders} reminder(s), {sales.sla_breaches} reassigned")
    out += ["", "Lead sources (captured in the range)"]
    for s in report.sources:
        name = "/".join(v or "-" for v in (s.utm_source, s.utm_medium, s.utm_campaign))
        out.append(
            f"  {name:<40.40} {s.leads:>6} leads {s.mql:>5} MQL {s.sql:>5} SQL"
            f"  lead->MQL {_pct(s.lead_to_mql)}"
        )
    rev = report.revenue
    cur = rev.currency or ""
    pipeline, won = rev.pipeline, rev.won
    cycle = _duration(rev.median_sales_cycle_seconds)
    out += [
        "",
        "Revenue (reported by sales in the range)",
        f"  pipeline {pipeline.deals} opportunit(ies) {_money(pipeline.value)} {cur}; "
        f"won {won.deals} deal(s) {_money(won.value)} {cur}; "
        f"median sales cycle (MQL -> customer) {cycle}",
    ]
    for c in rev.costs:
        name = c.utm_source + (f"/{c.utm_campaign}" if c.utm_campaign else "")
        out.append(
            f"  {name:<30.30} cost {_money(c.cost)} {cur}: per lead "
            f"{_money(c.cost_per_lead)}, per MQL {_money(c.cost_per_mql)}, "
            f"CAC {_money(c.customer_acquisition_cost)}, won {_money(c.won)}"
        )
    out += _lifecycle_text(report)
    out += experiments_text(report)
    return "\n".join(out) + "\n"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}"


def _p(value: float) -> str:
    return f"{value:.4f}" if value >= 0.0001 else "<0.0001"


def experiments_text(report: FunnelReport) -> list[str]:
    if not report.experiments:
        return []
    out = [
        "",
        "Experiments (every send of each variant; a person's opens and clicks; difference to "
        "the control in points, two-proportion z-test)",
    ]
    for x in report.experiments:
        status = (
            f"winner: {x.winner} (decided {x.decided_at:%Y-%m-%d %H:%M})"
            if x.winner and x.decided_at
            else "no winner yet"
        )
        guard = f", decides after {x.after} sends per variant" if x.after else ", reported only"
        out.append(f"  {x.sequence}/{x.step}: {x.metric} at {x.confidence:.0%}{guard} - {status}")
        level = f"{x.confidence:.0%} CI"
        out.append(
            f"    {'variant':<16}{'sends':>7}{'opens':>7}{'clicks':>7}{'open%':>8}{'click%':>8}"
            f"{'diff':>8}  {level:<18}{'p':>8}"
        )
        for v in x.variants:
            name = v.variant + (" (control)" if v.control else "")
            ci = "" if v.low is None else f"{_points(v.low)} .. {_points(v.high)}"
            p = "" if v.p_value is None else _p(v.p_value) + (" *" if v.significant else "")
            diff = "" if v.control else _points(v.difference)
            line = (
                f"    {name:<16.16}{v.sends:>7}{v.human_opens:>7}{v.human_clicks:>7}"
                f"{_pct(v.open_rate):>8}{_pct(v.click_rate):>8}{diff:>8}  {ci:<18}{p:>8}"
            )
            out.append(line.rstrip())
        if x.sends_needed is None:
            out.append(
                f"    sends needed for {_points(x.min_difference)} points: not yet known "
                "(the control's rate is 0 or 100 %)"
            )
        else:
            still = ", ".join(f"{v.variant} {v.sends_still_needed}" for v in x.variants)
            out.append(
                f"    to detect {_points(x.min_difference)} points (power 80 %): "
                f"{x.sends_needed} sends per variant; still needed: {still}"
            )
    return out


def _nps(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _lifecycle_text(report: FunnelReport) -> list[str]:
    life = report.lifecycle
    out = [
        "",
        "After the sale (customers and deals by the end of the range)",
        f"  customers {life.customers}, with a deal {life.buyers}, bought again "
        f"{life.repeat_customers} (repeat purchase rate {_pct(life.repeat_purchase_rate)}), "
        f"{life.deals} deal(s)",
    ]
    for c in life.revenue:
        out.append(
            f"  revenue {_money(c.value)} {c.currency} from {c.customers} customer(s), "
            f"per customer {_money(c.per_customer)}; in the range {c.deals_in_range} "
            f"deal(s) {_money(c.value_in_range)}"
        )
    ref = life.referrals
    out.append(
        f"  referrals in the range: {ref.referred} new lead(s) from {ref.referrers} "
        f"referrer(s), {ref.became_customers} became customers ({_pct(ref.customer_rate)})"
    )
    out.append("  NPS (promoters 9-10, passives 7-8, detractors 0-6; latest answer per email)")
    for n in [*life.nps, life.nps_total]:
        out.append(
            f"    {n.sequence or 'all answers':<26.26} {n.responses:>5} answers  "
            f"{n.promoters:>4} / {n.passives:>4} / {n.detractors:>4}  NPS {_nps(n.nps)}"
        )
    return out


def as_html(report: FunnelReport) -> str:
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent)),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters["pct"] = _pct
    env.filters["duration"] = _duration
    env.filters["money"] = _money
    # the stage counts as an ordered mapping: the template charts them in funnel order
    return env.get_template("funnel.html.j2").render(
        r=report, reached=report.stages.reached.model_dump()
    )
