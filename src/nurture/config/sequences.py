"""The sequence file format (config/sequences/*.yaml), validated at load."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from nurture.config.schema_types import (
    CLOCK_SCHEMA,
    DELAY_SCHEMA,
    LOCALE_SCHEMA,
    PERIOD_SCHEMA,
    REENTER_SCHEMA,
    SIGNED_PERIOD_SCHEMA,
    TIMEZONE_SCHEMA,
    enum_schema,
    json_schema,
)
from nurture.leads.events import EventName, did_you_mean
from nurture.leads.stages import GOAL_STAGES, Stage
from nurture.locales.codes import localized, parse_code

# Step conditions compile here at load (syntax) and evaluate in sequences/conditions.py.
_CONDITIONS = ImmutableSandboxedEnvironment()

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]

_DELAY = re.compile(
    r"^\s*(?P<n>\d+)\s*(?P<unit>m|min|minutes?|h|hours?|d|days?|w|weeks?|"
    r"business\s+days?|bd)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Delay:
    """A wait after the previous step: calendar time, or business days (Mon-Fri)."""

    amount: int
    unit: Literal["minutes", "hours", "days", "weeks", "business_days"]

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.replace('_', ' ')}"

    def as_timedelta(self) -> timedelta | None:
        """Calendar delays as a timedelta; None for business days (see schedule.py)."""
        if self.unit == "business_days":
            return None
        return timedelta(**{self.unit: self.amount})


def parse_delay(value: object) -> Delay:
    if isinstance(value, Delay):
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("delay must look like 0, 2d, 12h, 30m, 1w or '3 business days'")
    match = _DELAY.match(str(value))
    if not match:
        raise ValueError(
            f"cannot read delay {value!r}; use e.g. 0, 2d, 12h, 30m, 1w or '3 business days'"
        )
    n, unit = int(match["n"]), (match["unit"] or "d").lower()
    if unit.startswith("b"):
        return Delay(n, "business_days")
    names = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    return Delay(n, names[unit[0]])  # type: ignore[arg-type]


DelayValue = Annotated[Delay, BeforeValidator(parse_delay), json_schema(DELAY_SCHEMA)]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None
    return name


TimezoneName = Annotated[str, AfterValidator(_zone), json_schema(TIMEZONE_SCHEMA)]


def _clock(value: object) -> object:
    # YAML reads an unquoted 10:30 as the number 630 (base 60), which pydantic takes for
    # seconds: 00:10:30. A time of day is text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('write the time in quotes, e.g. "08:30"')
    return value


ClockTime = Annotated[time, BeforeValidator(_clock), json_schema(CLOCK_SCHEMA)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LocaleCode = Annotated[str, BeforeValidator(parse_code), json_schema(LOCALE_SCHEMA)]
# Text once for every locale, or per locale: {de: "Hallo", sv: "Hej", en: "Hi"}.
LocalizedText = str | dict[LocaleCode, Annotated[str, Field(min_length=1)]]


def _declared(locales: list[str]) -> list[str]:
    if len(set(locales)) != len(locales):
        raise ValueError("a locale is listed twice")
    return locales


Locales = Annotated[
    list[LocaleCode],
    Field(min_length=1, max_length=20),
    AfterValidator(_declared),
]


class SendWindow(StrictModel):
    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    start: ClockTime = time(9, 0)
    end: ClockTime = time(17, 0)
    timezone: TimezoneName = Field(
        "Europe/Berlin", description="Used for leads whose own timezone is unknown."
    )

    @model_validator(mode="after")
    def _order(self) -> SendWindow:
        if self.end <= self.start:
            raise ValueError("send_window.end must be after send_window.start")
        return self


class Sender(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    reply_to: EmailStr | None = None
    company: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500, description="Postal address (footer).")


TemplateName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_./-]+$",
        description="Path under templates/email/ without .html.j2/.txt.j2; per locale the "
        "file <template>.<locale>.html.j2 is used where it exists.",
    ),
]
Subject = Annotated[
    LocalizedText,
    Field(description="The subject, a Jinja template: one text, or one per locale."),
]


class Variant(StrictModel):
    """One arm of a step's experiment (docs/experiments.md): its own subject, template or
    both; what it leaves out is the step's."""

    id: Slug
    weight: int = Field(1, ge=0, le=1000, description="Share of leads, relative to the others.")
    subject: Subject | None = None
    template: TemplateName | None = None


class Winner(StrictModel):
    """When an experiment is decided (docs/experiments.md)."""

    metric: Literal["clicks", "opens"] = Field(
        "clicks", description="Human clicks per send (recommended), or human opens per send."
    )
    after: int | None = Field(
        None,
        ge=10,
        description="Once every variant has this many sends and one is significantly "
        "better than the control, only that one is sent. Without it: reported only.",
    )
    confidence: float = Field(
        0.95, gt=0.5, lt=1.0, description="The confidence level of the test (0.95: p < 0.05)."
    )


class Step(StrictModel):
    id: Slug
    template: TemplateName
    subject: Subject
    delay: DelayValue = Delay(0, "days")
    ignore_window: bool = Field(False, description="Send as soon as due, outside the window too.")
    condition: str | None = Field(
        None,
        max_length=500,
        description="A Jinja expression; when false at send time the step is skipped.",
    )

    variants: list[Variant] = Field(
        default_factory=list,
        max_length=10,
        description="An experiment: the first variant is the control (docs/experiments.md).",
    )
    winner: Winner | None = Field(
        None, description="The experiment's confidence level, and when to stop it."
    )

    @field_validator("condition")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _CONDITIONS.compile_expression(value)
            except TemplateSyntaxError as exc:
                raise ValueError(f"condition is not a valid expression: {exc.message}") from None
        return value

    @field_validator("subject")
    @classmethod
    def _subject_length(cls, value: LocalizedText) -> LocalizedText:
        for text in [value] if isinstance(value, str) else value.values():
            if not text or len(text) > 300:
                raise ValueError("a subject has 1 to 300 characters")
        return value

    @model_validator(mode="after")
    def _experiment(self) -> Step:
        ids = [v.id for v in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("variant ids must be unique within a step")
        if self.variants and len(self.variants) < 2:
            raise ValueError("an experiment needs at least two variants (the first is the control)")
        if self.variants and not any(v.weight for v in self.variants):
            raise ValueError("at least one variant needs a weight above 0")
        if self.winner and not self.variants:
            raise ValueError("winner decides between variants: add variants")
        return self

    def variant(self, variant_id: str | None) -> Variant | None:
        """The variant of that id (None: none, or one removed from the config since)."""
        return next((v for v in self.variants if v.id == variant_id), None)

    def template_for(self, variant_id: str | None = None) -> str:
        chosen = self.variant(variant_id)
        return chosen.template if chosen and chosen.template else self.template

    def subject_for(self, locale: str, locales: list[str], variant_id: str | None = None) -> str:
        """The subject's source for a locale, by the fallback chain (locales.codes)."""
        chosen = self.variant(variant_id)
        subject = chosen.subject if chosen and chosen.subject else self.subject
        return localized(subject, locale, locales)


def _goal_stage(value: str) -> Stage:
    if value not in GOAL_STAGES:
        raise ValueError(
            f"unknown goal stage {value!r}; {did_you_mean(value, GOAL_STAGES)}"
            f"a goal stage is one of {', '.join(GOAL_STAGES)}"
        )
    return Stage(value)


GoalStage = Annotated[str, AfterValidator(_goal_stage), enum_schema(GOAL_STAGES, "A goal stage.")]


class Goal(StrictModel):
    """Reaching a goal ends the enrollment: a lifecycle stage (or any later one), or an event."""

    stage: GoalStage | None = None
    event: EventName | None = None

    @model_validator(mode="after")
    def _one(self) -> Goal:
        if (self.stage is None) == (self.event is None):
            raise ValueError("a goal is either stage: ... or event: ...")
        return self

    @property
    def name(self) -> str:
        return f"goal_{self.stage or self.event}"


_PERIOD = re.compile(r"^\s*(?P<sign>[+-])?\s*(?P<n>\d+)\s*(?P<unit>d|days?|w|weeks?)\s*$", re.I)


def parse_period(value: object, signed: bool = False) -> timedelta:
    """A span of whole days: ``60d``, ``12w``, ``90 days``; with ``signed``, ``-30d`` too."""
    match = _PERIOD.match(str(value)) if isinstance(value, str | int) else None
    if isinstance(value, int) and not isinstance(value, bool):
        match = _PERIOD.match(f"{value}d")
    if not match or (match["sign"] == "-" and not signed):
        example = "-30d, 0d or 14d" if signed else "60d, 12w or '90 days'"
        raise ValueError(f"cannot read period {value!r}; use e.g. {example}")
    days = int(match["n"]) * (7 if match["unit"].lower().startswith("w") else 1)
    return timedelta(days=-days if match["sign"] == "-" else days)


Period = Annotated[timedelta, BeforeValidator(parse_period), json_schema(PERIOD_SCHEMA)]
SignedPeriod = Annotated[
    timedelta,
    BeforeValidator(lambda v: parse_period(v, signed=True)),
    json_schema(SIGNED_PERIOD_SCHEMA),
]
# A lead field a date trigger reads: a profile column or custom.<name> (docs/lifecycle.md).
DateField = Annotated[str, Field(pattern=r"^custom\.[A-Za-z_][A-Za-z0-9_]{0,63}$")]


def _trigger_stage(value: str) -> Stage:
    if value not in Stage.__members__.values():
        raise ValueError(
            f"unknown stage {value!r}; {did_you_mean(value, Stage)}"
            f"a stage is one of {', '.join(Stage)}"
        )
    return Stage(value)


TriggerStage = Annotated[str, AfterValidator(_trigger_stage), enum_schema(Stage, "A stage.")]


class Trigger(StrictModel):
    """What starts the sequence for a lead (docs/lifecycle.md): a form post, or one of a
    stage reached, an event, inactivity or a date in a lead field, evaluated set-based by
    the scoring and hand-off pass."""

    forms: list[Slug] = Field(default_factory=list)
    stage: TriggerStage | None = Field(
        None,
        description="Enrol a lead when it reaches this lifecycle stage.",
        examples=["customer"],
    )
    event: EventName | None = Field(
        None,
        description="Enrol a lead when a person's event of this type is recorded.",
        examples=["custom.webinar_registered"],
    )
    properties: dict[str, StrictBool | int | str] = Field(
        default_factory=dict,
        description="With event: only events whose data has these values.",
    )
    inactive_for: Period | None = Field(
        None,
        description="Enrol subscribed leads without human engagement for this long.",
        examples=["60d"],
    )
    date_field: DateField | None = Field(
        None,
        description="Enrol a lead on the date in this field, moved by offset.",
        examples=["custom.renewal_date"],
    )
    offset: SignedPeriod = Field(
        timedelta(0), description="With date_field: e.g. -30d enrols 30 days before the date."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        kinds = [k for k in ("stage", "event", "inactive_for", "date_field") if getattr(self, k)]
        if len(kinds) > 1:
            raise ValueError(
                f"a trigger has at most one of stage, event, inactive_for, "
                f"date_field (this one has {', '.join(kinds)})"
            )
        if self.properties and not self.event:
            raise ValueError("trigger.properties filters an event: add trigger.event")
        if self.offset and not self.date_field:
            raise ValueError("trigger.offset moves a date_field: add trigger.date_field")
        return self

    @property
    def kind(self) -> str | None:
        """stage, event, inactive_for or date_field; None: forms only."""
        return next(
            (k for k in ("stage", "event", "inactive_for", "date_field") if getattr(self, k)),
            None,
        )


def _reenter(value: object) -> Literal["never"] | timedelta:
    if value == "never" or value is None:
        return "never"
    return parse_period(value)


Reenter = Annotated[
    Literal["never"] | timedelta, BeforeValidator(_reenter), json_schema(REENTER_SCHEMA)
]


class Sunset(StrictModel):
    """After the last step: a lead with no human engagement since it was enrolled gets no
    more marketing mail (suppressed, reason sunset) once this much time has passed."""

    after: Period = Field(timedelta(days=14), description="Wait after the last step.")


class SequenceConfig(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    locales: Locales = Field(
        default_factory=lambda: ["de"],
        description="The languages this sequence is written in; the first is the default "
        "for a lead whose locale is none of them. With more than one, every step needs a "
        "subject and template files for each.",
        examples=[["de", "sv", "en"]],
    )
    trigger: Trigger = Trigger()
    sender: Sender
    send_window: SendWindow = SendWindow()
    links: dict[str, LocalizedText] = Field(
        default_factory=dict,
        description="Named URLs the templates use as {{ links.<name> }}: one URL, or one per "
        "locale (a guide in each language).",
    )
    goals: list[Goal] = Field(default_factory=list)
    on_reply: Literal["exit", "continue"] = Field(
        "exit",
        description="A person's reply ends the drip (exit, reason replied) or not (continue).",
    )
    topic: Slug | None = Field(
        None,
        description="What the lead can opt out of on the preference page (e.g. newsletter).",
    )
    topic_label: LocalizedText | None = Field(
        None,
        description="How the preference page names the topic: one text, or one per locale "
        "(default: the topic with hyphens as spaces). Sequences sharing a topic share it.",
    )
    priority: int = Field(
        0,
        ge=-100,
        le=100,
        description="A lead in a live sequence of higher priority gets no touch of this one "
        "until that ends: the touch waits, nothing is lost.",
    )
    reenter: Reenter = Field(
        "never",
        description="never: a lead goes through once; a period (e.g. 180d): a lead may start "
        "again that long after its last enrollment ended.",
    )
    sunset: Sunset | None = Field(
        None, description="End of a re-engagement sequence: no engagement, no more mail."
    )
    steps: list[Step] = Field(min_length=1, max_length=20)

    @field_validator("links")
    @classmethod
    def _links(cls, links: dict[str, LocalizedText]) -> dict[str, LocalizedText]:
        for name, value in links.items():
            urls = [value] if isinstance(value, str) else list(value.values())
            if not all(url.startswith(("https://", "http://")) for url in urls):
                raise ValueError(f"links.{name} must be an http(s) URL")
        return links

    @model_validator(mode="after")
    def _unique_steps(self) -> SequenceConfig:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice; step ids must be unique")
            seen.add(step.id)
        return self

    def links_for(self, locale: str) -> dict[str, str]:
        """The links in ``locale``, each by the fallback chain over the locales it has."""
        return {name: localized(value, locale, self.locales) for name, value in self.links.items()}

    @property
    def link_urls(self) -> frozenset[str]:
        """Every URL of the links, in every locale: what a click may lead to."""
        return frozenset(
            url
            for value in self.links.values()
            for url in ([value] if isinstance(value, str) else value.values())
        )

    @property
    def step_ids(self) -> list[str]:
        return [s.id for s in self.steps]

    def step_index(self, step_id: str) -> int | None:
        return next((i for i, s in enumerate(self.steps) if s.id == step_id), None)
