"""``nurture plan``: what a config change does to what is sending. Compares a new config with
the live one and says, per sequence, what changed and what each group of in-flight
enrollments gets instead (the forecast), which emails read differently (a diff of the text
for a sample lead), which forms enrol elsewhere, and how many leads would cross the MQL
threshold if scored now. Reads only: the scoring's trial run is rolled back."""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig
from nurture.config.yamlfile import ConfigError
from nurture.db import session_scope
from nurture.handoff.service import qualifying
from nurture.liveconfig.snapshot import read_tree, tree_hash
from nurture.plan.changes import (
    FormChange,
    StepChange,
    form_changes,
    scoring_changes,
    setting_changes,
    step_changes,
)
from nurture.plan.forecast import Effect, Fate, Upcoming, effects, forecast
from nurture.plan.inflight import Group, Waiting, groups, waiting
from nurture.plan.sources import Side
from nurture.rendering.compose import SAMPLE_LEADS, lead_context
from nurture.scoring.score import score_leads


@dataclass(frozen=True)
class Impact:
    """Enrollments now at ``at_step`` for which ``step_id`` has ``fate``."""

    at_step: str
    fate: Fate
    step_id: str
    enrollments: int
    first: datetime  # the earliest new date (the old one for NOT_SENT)
    last: datetime
    was_first: datetime | None = None  # RESCHEDULED: the earliest old date
    was_last: datetime | None = None


@dataclass(frozen=True)
class Forecast:
    """One group's touches under the live and the new config (what the plan-equals-reality
    test checks each lead against)."""

    group: Group
    live: list[Upcoming]
    new: list[Upcoming]
    effects: list[Effect]


@dataclass
class SequencePlan:
    sequence_id: str
    status: str  # added, removed, changed, unchanged
    changes: list[StepChange] = field(default_factory=list)
    active: int = 0  # active enrollments with a touch waiting
    affected: int = 0  # ... of which get something else than under the live config
    waiting: Waiting = field(default_factory=Waiting)
    impacts: list[Impact] = field(default_factory=list)
    forecasts: list[Forecast] = field(default_factory=list)


@dataclass(frozen=True)
class TextDiff:
    sequence_id: str
    step_id: str
    locale: str
    variant: str | None
    diff: str  # unified diff of the text part for the sample lead
    receivers: int  # in-flight enrollments that get this step under the new config
    html_changed: bool = False  # the HTML part differs (the diff says if only it does)


@dataclass(frozen=True)
class ScoringImpact:
    changes: list[str]
    qualify_live: int  # leads that would become MQL if scored now with the live scoring
    qualify_new: int  # ... with the new scoring
    crossing: int  # would become MQL with the new scoring, not with the live one
    no_longer: int  # would with the live scoring, not with the new one


@dataclass
class Plan:
    new: str  # what is compared (the working tree)
    live: str  # with what (the live snapshot, a git ref)
    sequences: list[SequencePlan] = field(default_factory=list)
    texts: list[TextDiff] = field(default_factory=list)
    forms: list[FormChange] = field(default_factory=list)
    scoring: ScoringImpact | None = None
    # policy, signals, sales: each difference in words, by file kind
    settings: dict[str, list[str]] = field(default_factory=dict)
    other_files: list[str] = field(default_factory=list)  # differ, nothing above says how

    @property
    def unchanged(self) -> bool:
        return (
            all(s.status == "unchanged" for s in self.sequences)
            and not self.texts
            and not self.forms
            and self.scoring is None
            and not self.settings
            and not self.other_files
        )


@dataclass(frozen=True)
class InFlight:
    """What the plan reads of the database: the enrollments under way, grouped."""

    groups: list[Group]
    waiting: dict[str, Waiting]


def sequence_ids(live: Project, new: Project) -> list[str]:
    return list(dict.fromkeys([*live.sequences, *new.sequences]))


async def read_in_flight(session: AsyncSession, live: Project, new: Project) -> InFlight:
    """The enrollments of every sequence either side has: one the live side lacks (an older
    ref, a sequence being restored) may still have enrollments under way."""
    ids = sequence_ids(live, new)
    return InFlight(await groups(session, ids), await waiting(session, ids))


async def build_plan(
    url: str, live: Side, new: Side, now: datetime, in_flight: InFlight | None = None
) -> Plan:
    """The plan, holding the database no longer than a read needs (on SQLite a session
    holds the write lock): the enrollments read in one short session (unless given, read
    with the live snapshot), the forecast and the rendering outside any, the trial scoring
    in a session of its own."""
    if in_flight is None:
        async with session_scope(url) as session:
            in_flight = await read_in_flight(session, live.project, new.project)
    plan = make_plan(live, new, in_flight, now)
    changes = scoring_changes(live.project.scoring, new.project.scoring)
    if changes:
        async with session_scope(url) as session:
            plan.scoring = await _scoring(session, changes, live.project, new.project, now)
    return plan


def make_plan(live: Side, new: Side, in_flight: InFlight, now: datetime) -> Plan:
    """Everything but the trial scoring, from what was read: no database."""
    plan = Plan(new.label, live.label)
    by_sequence: dict[str, list[Group]] = defaultdict(list)
    for g in in_flight.groups:
        by_sequence[g.sequence_id].append(g)
    for sequence_id in sequence_ids(live.project, new.project):
        plan.sequences.append(
            _sequence_plan(
                sequence_id,
                live.project.sequences.get(sequence_id),
                new.project.sequences.get(sequence_id),
                by_sequence.get(sequence_id, []),
                in_flight.waiting.get(sequence_id, Waiting()),
                now,
            )
        )
    plan.texts = _text_diffs(live, new, plan.sequences)
    plan.forms = form_changes(live.project, new.project)
    plan.settings = setting_changes(live.project, new.project)
    if plan.unchanged and not scoring_changes(live.project.scoring, new.project.scoring):
        # Nothing above saw a difference: still, the files may differ (a comment, a file
        # no check reads); never claim "unchanged" for two different trees.
        plan.other_files = _other_files(live, new)
    return plan


def _sequence_plan(
    sequence_id: str,
    live: SequenceConfig | None,
    new: SequenceConfig | None,
    in_flight: list[Group],
    waits: Waiting,
    now: datetime,
) -> SequencePlan:
    if live is None:
        status, changes = "added", []
    else:
        changes = step_changes(live, new) if new is not None else []
        status = "removed" if new is None else ("changed" if changes else "unchanged")
    plan = SequencePlan(sequence_id, status, changes, waiting=waits)
    # Grouped by where they are now, what happens to which step. A sequence the live side
    # lacks: the dispatcher of the live config skips such a touch (sequence_removed).
    impacts: dict[tuple[str, Fate, str], list[tuple[Effect, int]]] = defaultdict(list)
    for g in in_flight:
        before = forecast(live, g.step_id, g.due, g.had, g.timezone, now)
        after = forecast(new, g.step_id, g.due, g.had, g.timezone, now)
        found = effects(before, after)
        plan.forecasts.append(Forecast(g, before, after, found))
        plan.active += g.enrollments
        if found:
            plan.affected += g.enrollments
        for e in found:
            impacts[(g.step_id, e.fate, e.step_id)].append((e, g.enrollments))
    known = [*(new.step_ids if new else []), *(live.step_ids if live else [])]
    order = {s: i for i, s in enumerate(dict.fromkeys(known))}
    for (at_step, fate, step_id), found in sorted(
        impacts.items(), key=lambda kv: (order.get(kv[0][0], 99), order.get(kv[0][2], 99))
    ):
        dates = [e.at for e, _ in found]
        was = [e.was for e, _ in found if e.was is not None]
        plan.impacts.append(
            Impact(
                at_step,
                fate,
                step_id,
                sum(n for _, n in found),
                min(dates),
                max(dates),
                min(was) if was else None,
                max(was) if was else None,
            )
        )
    return plan


def _text(
    side: Side, sequence: SequenceConfig, index: int, locale: str, arm: str | None
) -> tuple[str, str]:
    """(subject and text part, HTML part) for the full sample lead."""
    lead = lead_context(SAMPLE_LEADS["full"])
    try:
        rendered, _ = side.composer.render(
            sequence, index, lead, "sample", variant=arm, locale=locale
        )
    except Exception as exc:  # a live snapshot from before a fix: show that it failed
        failed = f"(does not render: {exc})\n"
        return failed, failed
    return f"Subject: {rendered.subject}\n\n{rendered.text}", rendered.html


def _text_diffs(live: Side, new: Side, sequences: list[SequencePlan]) -> list[TextDiff]:
    """The text part, for the full sample lead, of every step both configs have, in every
    locale and variant of the new one."""
    receivers: dict[tuple[str, str], int] = defaultdict(int)
    for plan in sequences:
        for f in plan.forecasts:
            for u in f.new:
                if u.skipped is None:
                    receivers[(plan.sequence_id, u.step_id)] += f.group.enrollments
    out = []
    for sequence_id, sequence in new.project.sequences.items():
        old = live.project.sequences.get(sequence_id)
        if old is None:
            continue
        for index, step in enumerate(sequence.steps):
            old_index = old.step_index(step.id)
            if old_index is None:
                continue
            old_arms = {None, *(v.id for v in old.steps[old_index].variants)}
            for locale in sequence.locales:
                for arm in [None, *(v.id for v in step.variants)]:
                    before, html_before = _text(
                        live, old, old_index, locale, arm if arm in old_arms else None
                    )
                    after, html_after = _text(new, sequence, index, locale, arm)
                    html_changed = html_before != html_after
                    if before == after and not html_changed:
                        continue
                    diff = (
                        "(the text part reads the same; the HTML part changed)\n"
                        if before == after
                        else ""
                    ) + "".join(
                        difflib.unified_diff(
                            before.splitlines(keepends=True),
                            after.splitlines(keepends=True),
                            f"live/{sequence_id}/{step.id}",
                            f"new/{sequence_id}/{step.id}",
                        )
                    )
                    out.append(
                        TextDiff(
                            sequence_id,
                            step.id,
                            locale,
                            arm,
                            diff,
                            receivers[(sequence_id, step.id)],
                            html_changed,
                        )
                    )
    return out


def _other_files(live: Side, new: Side) -> list[str]:
    """The files that differ between the two sides' folders (a path on one side only
    included), when nothing else showed a difference."""
    try:
        before, after = (
            read_tree(s.settings.config_dir, s.settings.templates_dir) for s in (live, new)
        )
    except ConfigError as exc:  # a file that is not UTF-8: it differs, say which
        return [str(p.file) for p in exc.problems]
    if tree_hash(before) == tree_hash(after):
        return []
    return sorted(p for p in {*before, *after} if before.get(p) != after.get(p))


async def _scoring(
    session: AsyncSession, changes: list[str], live: Project, new: Project, now: datetime
) -> ScoringImpact:
    counts = [await _would_qualify(session, p, now) for p in (live, new)]
    before, after = counts
    return ScoringImpact(changes, len(before), len(after), len(after - before), len(before - after))


async def _would_qualify(session: AsyncSession, project: Project, now: datetime) -> set[int]:
    """The leads that would become MQL if scored now with ``project``'s scoring: scored in a
    savepoint that is rolled back, so nothing of the trial stays."""
    if project.scoring is None:
        return set()
    savepoint = await session.begin_nested()
    try:
        await score_leads(session, project.scoring, now)
        query = select(qualifying(project.scoring).c.id)
        return set((await session.scalars(query)).all())
    finally:
        await savepoint.rollback()
