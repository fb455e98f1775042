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
    field_validator,
    model_validator,
)

from nurture.leads.events import EventName, did_you_mean
from nurture.leads.stages import GOAL_STAGES, Stage

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


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None
    return name


TimezoneName = Annotated[str, AfterValidator(_zone)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SendWindow(StrictModel):
    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    start: time = time(9, 0)
    end: time = time(17, 0)
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


class Step(StrictModel):
    id: Slug
    template: str = Field(
        pattern=r"^[A-Za-z0-9_./-]+$",
        description="Path under templates/email/ without .html.j2/.txt.j2",
    )
    subject: str = Field(min_length=1, max_length=300)
    delay: Annotated[Delay, BeforeValidator(parse_delay)] = Delay(0, "days")
    ignore_window: bool = Field(False, description="Send as soon as due, outside the window too.")
    condition: str | None = Field(
        None,
        max_length=500,
        description="A Jinja expression; when false at send time the step is skipped.",
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


def _goal_stage(value: str) -> Stage:
    if value not in GOAL_STAGES:
        raise ValueError(
            f"unknown goal stage {value!r}; {did_you_mean(value, GOAL_STAGES)}"
            f"a goal stage is one of {', '.join(GOAL_STAGES)}"
        )
    return Stage(value)


class Goal(StrictModel):
    """Reaching a goal ends the enrollment: a lifecycle stage (or any later one), or an event."""

    stage: Annotated[str, AfterValidator(_goal_stage)] | None = None
    event: EventName | None = None

    @model_validator(mode="after")
    def _one(self) -> Goal:
        if (self.stage is None) == (self.event is None):
            raise ValueError("a goal is either stage: ... or event: ...")
        return self

    @property
    def name(self) -> str:
        return f"goal_{self.stage or self.event}"


class Trigger(StrictModel):
    forms: list[Slug] = Field(default_factory=list)


class SequenceConfig(StrictModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    trigger: Trigger = Trigger()
    sender: Sender
    send_window: SendWindow = SendWindow()
    links: dict[str, str] = Field(default_factory=dict)
    goals: list[Goal] = Field(default_factory=list)
    on_reply: Literal["exit", "continue"] = Field(
        "exit",
        description="A person's reply ends the drip (exit, reason replied) or not (continue).",
    )
    steps: list[Step] = Field(min_length=1, max_length=20)

    @field_validator("links")
    @classmethod
    def _links(cls, links: dict[str, str]) -> dict[str, str]:
        for name, url in links.items():
            if not url.startswith(("https://", "http://")):
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

    def step_index(self, step_id: str) -> int | None:
        return next((i for i, s in enumerate(self.steps) if s.id == step_id), None)
