"""What differs between two configs, by kind, before any lead is looked at: steps added,
removed, moved, or with another delay, condition, window, template or subject; a sequence's
own settings (goals, sender, trigger, ...); forms that enrol into other sequences; scoring
rules and the MQL threshold; the contact policy, the signals and the sales routing. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from nurture.config.project import Project
from nurture.config.scoring import ScoringConfig
from nurture.config.sequences import SendWindow, SequenceConfig, Step


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MOVED = "moved"
    DELAY = "delay"
    CONDITION = "condition"
    WINDOW = "window"  # the sequence's send window, or a step's ignore_window
    TEMPLATE = "template"
    SUBJECT = "subject"
    VARIANTS = "variants"
    SETTING = "setting"  # a sequence-level field other than its steps and send window


# The sequence's own fields a plan compares (steps and send_window have their own changes;
# description is for people and changes nothing).
SEQUENCE_FIELDS = (
    "name",
    "locales",
    "trigger",
    "sender",
    "links",
    "goals",
    "on_reply",
    "topic",
    "priority",
    "reenter",
    "sunset",
)


@dataclass(frozen=True)
class StepChange:
    change: Change
    step_id: str | None  # None: the sequence's own setting (its send window, SETTING)
    before: str | None = None
    after: str | None = None
    field: str | None = None  # SETTING: which one (goals, sender, ...)


def _dump(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_defaults=False)
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) or "" for v in value) + "]"
    return str(value)


def _plain(value: object) -> object:
    """A value as JSON data (models, lists and dicts of them)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _words(value: object) -> str:
    plain = _plain(value)
    if plain is None:
        return "(none)"
    if not isinstance(plain, list | dict):
        return str(plain)  # a scalar, or a type of the config's own (a delay: "4h")
    return json.dumps(plain, ensure_ascii=False, sort_keys=True, default=str)


def _window(window: SendWindow) -> str:
    days = ",".join(window.weekdays)
    return f"{days} {window.start:%H:%M}-{window.end:%H:%M} {window.timezone}"


def step_changes(live: SequenceConfig, new: SequenceConfig) -> list[StepChange]:
    """Changes of one sequence, in the new order of its steps."""
    out: list[StepChange] = []
    if live.send_window != new.send_window:
        out.append(
            StepChange(Change.WINDOW, None, _window(live.send_window), _window(new.send_window))
        )
    for name in SEQUENCE_FIELDS:
        a, b = getattr(live, name), getattr(new, name)
        if a != b:
            out.append(StepChange(Change.SETTING, None, _words(a), _words(b), name))
    before = {s.id: (i, s) for i, s in enumerate(live.steps)}
    after = {s.id: s for s in new.steps}
    # Moved: the steps both have, in another order relative to each other.
    kept_live = [s.id for s in live.steps if s.id in after]
    kept_new = [s.id for s in new.steps if s.id in before]
    for index, step in enumerate(new.steps):
        if step.id not in before:
            previous = new.steps[index - 1].id if index else None
            where = f"after {previous}" if previous else "first"
            out.append(StepChange(Change.ADDED, step.id, None, f"step {index + 1} ({where})"))
            continue
        old_index, old = before[step.id]
        if kept_live.index(step.id) != kept_new.index(step.id):
            out.append(
                StepChange(Change.MOVED, step.id, f"step {old_index + 1}", f"step {index + 1}")
            )
        out += _field_changes(old, step)
    out += [
        StepChange(Change.REMOVED, s.id, f"step {before[s.id][0] + 1}")
        for s in live.steps
        if s.id not in after
    ]
    return out


def _field_changes(old: Step, new: Step) -> list[StepChange]:
    fields = [
        (Change.DELAY, old.delay, new.delay),
        (Change.CONDITION, old.condition, new.condition),
        (Change.WINDOW, _ignore(old), _ignore(new)),
        (Change.TEMPLATE, old.template, new.template),
        (Change.SUBJECT, old.subject, new.subject),
        (Change.VARIANTS, old.variants, new.variants),
    ]
    return [StepChange(change, new.id, _dump(a), _dump(b)) for change, a, b in fields if a != b]


def _ignore(step: Step) -> str:
    return "outside the window too" if step.ignore_window else "in the window"


@dataclass(frozen=True)
class FormChange:
    form_id: str
    before: list[str]  # the sequences it enrols into under the live config ([]: a new form)
    after: list[str]  # ... and under the new one ([]: removed, or enrols nowhere)


def form_changes(live: Project, new: Project) -> list[FormChange]:
    """Forms whose submissions enrol into other sequences than they do now."""
    out = []
    for form_id in dict.fromkeys([*live.forms, *new.forms]):
        before = [s.id for s in live.sequences_for_form(form_id)] if form_id in live.forms else []
        after = [s.id for s in new.sequences_for_form(form_id)] if form_id in new.forms else []
        if before != after or (form_id in live.forms) != (form_id in new.forms):
            out.append(FormChange(form_id, before, after))
    return out


def scoring_changes(live: ScoringConfig | None, new: ScoringConfig | None) -> list[str]:
    """Each difference in words: the threshold, the decay, each rule added, removed or
    changed."""
    if live == new:
        return []
    if live is None or new is None:
        return ["scoring added" if live is None else "scoring removed"]
    out = []
    if live.mql_threshold != new.mql_threshold:
        out.append(f"MQL threshold {live.mql_threshold} -> {new.mql_threshold}")
    if live.half_life_days != new.half_life_days:
        out.append(f"half-life {live.half_life_days} -> {new.half_life_days} days")
    for kind in ("fit", "engagement"):
        old_rules = {r.id: r for r in getattr(live, kind)}
        new_rules = {r.id: r for r in getattr(new, kind)}
        for rule_id in dict.fromkeys([*old_rules, *new_rules]):
            a, b = old_rules.get(rule_id), new_rules.get(rule_id)
            if a is None:
                out.append(f"{kind} rule {rule_id} added ({b.points:+g} points)")  # type: ignore[union-attr]
            elif b is None:
                out.append(f"{kind} rule {rule_id} removed")
            elif a != b:
                detail = f"{a.points:+g} -> {b.points:+g} points" if a.points != b.points else ""
                out.append(f"{kind} rule {rule_id} changed {detail}".rstrip())
    return out


def _model_changes(prefix: str, live: BaseModel, new: BaseModel) -> list[str]:
    """Each leaf field that differs, as ``a.b: before -> after``."""
    out = []
    for name in type(live).model_fields:
        a, b = getattr(live, name), getattr(new, name)
        if a == b:
            continue
        where = f"{prefix}{name}"
        if isinstance(a, BaseModel) and isinstance(b, BaseModel) and type(a) is type(b):
            out += _model_changes(f"{where}.", a, b)
        else:
            out.append(f"{where}: {_words(a)} -> {_words(b)}")
    return out


def setting_changes(live: Project, new: Project) -> dict[str, list[str]]:
    """Per file kind (policy, signals, sales), each difference in words: the contact policy
    (config/policy.yaml), the signals (config/signals.yaml), the sales routing
    (config/sales.yaml). Kinds without a difference are left out."""
    out: dict[str, list[str]] = {}
    for kind in ("policy", "signals", "sales"):
        a, b = getattr(live, kind), getattr(new, kind)
        if a == b:
            continue
        if a is None or b is None:
            out[kind] = [f"config/{kind}.yaml {'added' if a is None else 'removed'}"]
        else:
            out[kind] = _model_changes("", a, b) or [f"config/{kind}.yaml changed"]
    return out
