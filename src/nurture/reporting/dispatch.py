"""Summaries of a dispatch pass for people: Prefect artifacts and CLI output."""

from __future__ import annotations

from datetime import datetime

from nurture.dispatch.batch import BatchReport
from nurture.dispatch.outcome import OutcomeKind

OUTCOMES = tuple(OutcomeKind)


def outcome_rows(report: BatchReport) -> list[dict[str, object]]:
    """One row per sequence and step, a column per outcome."""
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for (sequence, step, outcome), n in sorted(report.counts.items()):
        row = rows.setdefault(
            (sequence, step), {"sequence": sequence, "step": step, **dict.fromkeys(OUTCOMES, 0)}
        )
        row[outcome] = int(row.get(outcome, 0)) + n  # type: ignore[call-overload]
    return list(rows.values())


def summary_text(report: BatchReport) -> str:
    parts = [f"{report.total(o)} {o.replace('_', ' ')}" for o in OUTCOMES if report.total(o)]
    if report.deferred:  # why, e.g. "4 deferred (cap 3, quiet day 1)"
        i = parts.index(f"{report.total(OutcomeKind.DEFERRED)} deferred")
        parts[i] += f" ({deferred_reasons(report)})"
    return ", ".join(parts) or "nothing due"


def deferred_reasons(report: BatchReport) -> str:
    """Why touches were deferred, e.g. "cap 3, quiet day 1" (docs/lifecycle.md)."""
    return ", ".join(f"{r.replace('_', ' ')} {n}" for r, n in sorted(report.deferred.items()))


def summary_markdown(report: BatchReport, at: datetime, failure: Exception | None) -> str:
    lines = [f"# Dispatch pass at {at:%Y-%m-%d %H:%M} UTC", ""]
    if failure is not None:
        lines += [f"**Failed:** {failure}", "", "Touches not handed to SMTP stay due.", ""]
    lines += [f"- claimed: {report.claimed}", f"- outcome: {summary_text(report)}"]
    if report.deferred:
        lines.append(
            f"- deferred by the contact policy, due again later: "
            f"{report.total(OutcomeKind.DEFERRED)} ({deferred_reasons(report)})"
        )
    if report.in_doubt_expired:
        lines.append(f"- marked in doubt (a dispatcher died mid-send): {report.in_doubt_expired}")
    return "\n".join(lines)
