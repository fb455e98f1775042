"""A plan as a marketer reads it (text) and as a tool reads it (JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nurture.plan.build import Impact, Plan
from nurture.plan.changes import Change, StepChange
from nurture.plan.forecast import Fate

FORMAT_VERSION = 1
SETTINGS = {"policy": "contact policy", "signals": "signals", "sales": "sales routing"}


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _span(first: datetime, last: datetime) -> str:
    return _when(first) if first == last else f"{_when(first)} .. {_when(last)}"


def _change(c: StepChange) -> str:
    if c.change == Change.SETTING:
        return f"{c.field}: {c.before} -> {c.after}"
    what = f"step {c.step_id}" if c.step_id else "send window"
    if c.change == Change.ADDED:
        return f"{what}: added as {c.after}"
    if c.change == Change.REMOVED:
        return f"{what}: removed (was {c.before})"
    if c.change == Change.MOVED:
        return f"{what}: moved from {c.before} to {c.after}"
    return f"{what}: {c.change} {c.before or '(none)'} -> {c.after or '(none)'}"


def _impact(i: Impact) -> str:
    n = f"{i.enrollments} enrollment(s)"
    if i.fate == Fate.SKIPPED:
        return f"{i.step_id}: skipped when due ({_span(i.first, i.last)}), then the next step; {n}"
    if i.fate == Fate.ENDED:
        return f"{i.step_id}: the enrollment ends when due ({_span(i.first, i.last)}); {n}"
    if i.fate == Fate.NOT_SENT:
        return f"{i.step_id}: not sent (was due {_span(i.first, i.last)}); {n}"
    if i.fate == Fate.NEW:
        return f"{i.step_id}: new touch on {_span(i.first, i.last)}; {n}"
    was = _span(i.was_first, i.was_last) if i.was_first and i.was_last else "?"
    return f"{i.step_id}: rescheduled from {was} to {_span(i.first, i.last)}; {n}"


def plan_text(plan: Plan) -> str:
    lines = [f"plan: {plan.new} against {plan.live}"]
    if plan.unchanged:
        lines.append("no changes: what is live stays as it is")
        return "\n".join(lines) + "\n"
    unchanged = [
        s.sequence_id for s in plan.sequences if s.status == "unchanged" and not s.affected
    ]
    for s in plan.sequences:
        if s.sequence_id in unchanged:
            continue
        lines.append("")
        lines.append(f"sequence {s.sequence_id}: {s.status}")
        lines += [f"  {_change(c)}" for c in s.changes]
        if s.status == "added" and not s.active and not s.waiting.pending:
            lines.append("  no enrollments yet: leads enter it from its trigger")
            continue
        if s.status == "added":
            lines.append(
                "  not in the live config, but enrollments are under way: the live config "
                "ends them when their touch is due, the new one goes on with them"
            )
        summary = (
            f"  in flight: {s.active} enrollment(s) with a touch waiting, {s.affected} affected"
        )
        extra = []
        if s.waiting.pending:
            extra.append(f"{s.waiting.pending} waiting for confirmation start at step 1")
        if s.waiting.in_progress:
            extra.append(f"{s.waiting.in_progress} being sent right now")
        lines.append(summary + (f" ({'; '.join(extra)})" if extra else ""))
        at_step = None
        for i in s.impacts:
            if i.at_step != at_step:
                at_step = i.at_step
                lines.append(f"    now at {at_step}:")
            lines.append(f"      {_impact(i)}")
        if s.status == "changed" and any(c.change == Change.DELAY for c in s.changes):
            lines.append(
                "  a touch already scheduled keeps its date; new delays count from the next send"
            )
    if unchanged:
        lines += ["", f"unchanged: {', '.join(unchanged)}"]
    if plan.texts:
        lines += ["", "emails that read differently (text part, sample lead 'full'):"]
        for t in plan.texts:
            arm = f", variant {t.variant}" if t.variant else ""
            lines.append(
                f"  {t.sequence_id}/{t.step_id} [{t.locale}{arm}]: "
                f"{t.receivers} in-flight enrollment(s) get it"
            )
            lines += [f"    {line}" for line in t.diff.rstrip("\n").splitlines()]
    if plan.forms:
        lines += ["", "forms that enrol elsewhere:"]
        for f in plan.forms:
            before = ", ".join(f.before) or "(nothing)"
            after = ", ".join(f.after) or "(nothing)"
            lines.append(f"  {f.form_id}: {before} -> {after}")
    if plan.scoring:
        sc = plan.scoring
        lines += ["", "scoring:"]
        lines += [f"  {c}" for c in sc.changes]
        lines.append(
            f"  scored now: {sc.qualify_new} lead(s) would become MQL with the new scoring "
            f"({sc.qualify_live} with the live one): {sc.crossing} more, {sc.no_longer} fewer"
        )
    for kind, changes in plan.settings.items():
        lines += ["", f"{SETTINGS[kind]} (config/{kind}.yaml):"]
        lines += [f"  {c}" for c in changes]
    if plan.other_files:
        lines += ["", "other files differ (no change the plan can forecast in them):"]
        lines += [f"  {p}" for p in plan.other_files]
    return "\n".join(lines) + "\n"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "new": plan.new,
        "live": plan.live,
        "valid": True,
        "unchanged": plan.unchanged,
        "sequences": [
            {
                "id": s.sequence_id,
                "status": s.status,
                "changes": [
                    {
                        "change": str(c.change),
                        "step": c.step_id,
                        "before": c.before,
                        "after": c.after,
                        "field": c.field,
                    }
                    for c in s.changes
                ],
                "active": s.active,
                "affected": s.affected,
                "pending": s.waiting.pending,
                "in_progress": s.waiting.in_progress,
                "impacts": [
                    {
                        "at_step": i.at_step,
                        "fate": str(i.fate),
                        "step": i.step_id,
                        "enrollments": i.enrollments,
                        "first": _iso(i.first),
                        "last": _iso(i.last),
                        "was_first": _iso(i.was_first),
                        "was_last": _iso(i.was_last),
                    }
                    for i in s.impacts
                ],
            }
            for s in plan.sequences
        ],
        "texts": [
            {
                "sequence": t.sequence_id,
                "step": t.step_id,
                "locale": t.locale,
                "variant": t.variant,
                "receivers": t.receivers,
                "diff": t.diff,
                "html_changed": t.html_changed,
            }
            for t in plan.texts
        ],
        "forms": [{"id": f.form_id, "before": f.before, "after": f.after} for f in plan.forms],
        "scoring": None
        if plan.scoring is None
        else {
            "changes": plan.scoring.changes,
            "qualify_live": plan.scoring.qualify_live,
            "qualify_new": plan.scoring.qualify_new,
            "crossing": plan.scoring.crossing,
            "no_longer": plan.scoring.no_longer,
        },
        "settings": plan.settings,
        "other_files": plan.other_files,
    }
