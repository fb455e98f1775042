"""One lead's profile (``nurture leads show``) as typed models: what ``reporting.lead``
reads, what the text formatter prints and, dumped with ``model_dump(mode="json")``, the JSON
of ``nurture leads show --json`` whose schema is docs/schemas/lead-profile.schema.json."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from nurture.reporting.fields import Instant, ReportModel

# A JSON column read as NULL (rows written before it had a default) is an empty object.
JsonObject = Annotated[dict[str, Any], BeforeValidator(lambda v: {} if v is None else v)]


class FromRow(ReportModel):
    """Read from an ORM row's attributes (only the fields named here leave the database)."""

    model_config = ConfigDict(from_attributes=True)


class LeadInfo(FromRow):
    """The lead as stored. Its integer id never leaves the database: ``public_id`` is the
    opaque id of links and the API."""

    public_id: str = Field(description="Opaque id used in links and the API.")
    email: str = Field(description="The address, normalised (lower case).")
    first_name: str | None = Field(description="First name, if given.")
    last_name: str | None = Field(description="Last name, if given.")
    company: str | None = Field(description="Company, if given.")
    job_title: str | None = Field(description="Job title, if given.")
    country: str | None = Field(description="Country, if given.")
    timezone: str | None = Field(description="IANA time zone for send times, if known.")
    locale: str | None = Field(description="Locale for templates, if known.")
    custom: JsonObject = Field(description="Custom fields captured with the lead.")
    utm_source: str | None = Field(description="utm_source at capture.")
    utm_medium: str | None = Field(description="utm_medium at capture.")
    utm_campaign: str | None = Field(description="utm_campaign at capture.")
    utm_term: str | None = Field(description="utm_term at capture.")
    utm_content: str | None = Field(description="utm_content at capture.")
    referrer: str | None = Field(description="Referring page at capture.")
    source_form: str | None = Field(description="Id of the form that captured the lead.")
    lifecycle_stage: str = Field(
        description="subscriber, lead, mql, sql, opportunity, customer or recycled."
    )
    email_verified_at: Instant | None = Field(
        description="When the lead first confirmed a double opt-in link; null: not yet."
    )
    suppressed_at: Instant | None = Field(
        description="Since when no marketing email may go out; null: not suppressed."
    )
    suppression_reason: str | None = Field(
        description="Why suppressed: unsubscribed, bounced, complained, ..."
    )
    score_reset_at: Instant | None = Field(
        description="Engagement before this instant no longer counts (recycled by sales)."
    )
    owner_email: str | None = Field(description="The sales rep who accepted the lead.")
    created_at: Instant = Field(description="When the lead was captured.")
    updated_at: Instant = Field(description="When the lead last changed.")


class Owner(ReportModel):
    """Who has the lead in sales."""

    email: str = Field(description="The rep's email address.")
    pending: bool = Field(
        description="True: offered to the rep, not answered yet; false: the rep owns it."
    )


class HandoffInfo(FromRow):
    """The lead's latest hand-off to sales."""

    id: int = Field(description="Hand-off number.")
    state: str = Field(description="pending, accepted, rejected or reassigned.")
    territory: str = Field(description="Sales territory it was routed to.")
    rep_name: str = Field(description="The rep's name.")
    rep_email: str = Field(description="The rep's email address.")
    score: int = Field(description="The lead's score when handed off.")
    created_at: Instant = Field(description="When it was handed off.")
    reminded_at: Instant | None = Field(description="When the rep was reminded (SLA).")
    responded_at: Instant | None = Field(description="When the rep answered.")
    reason: str | None = Field(description="The reject reason, if rejected.")
    note: str | None = Field(description="The rep's note, if any.")


class ScoreRule(ReportModel):
    """Points one scoring rule gave."""

    rule: str = Field(description="Rule id (config/scoring.yaml).")
    kind: str = Field(description="fit or engagement.")
    points: float = Field(description="Points given (negative for a penalty).")


class ScoreBreakdown(ReportModel):
    """The score as of the last scoring pass."""

    total: int = Field(description="The score: the rounded sum of the rules' points.")
    rules: list[ScoreRule] = Field(description="Rules that gave points, biggest first.")


class EnrollmentInfo(FromRow):
    """The lead in one sequence (a drip)."""

    sequence_id: str = Field(description="Sequence id.")
    state: str = Field(description="pending (double opt-in), active, completed or exited.")
    current_step: int = Field(ge=0, description="Steps done (sent or skipped).")
    next_due_at: Instant | None = Field(description="When the next step is due; null: none.")
    exit_reason: str | None = Field(description="Why the lead left the sequence, if it did.")
    enrolled_at: Instant = Field(description="When the lead was enrolled.")
    ended_at: Instant | None = Field(description="When the drip ended, if it did.")


class TimelineEvent(FromRow):
    """One event of the lead's history."""

    occurred_at: Instant = Field(description="When it happened.")
    type: str = Field(description="Event type: captured, sent, open, click, stage_changed, ...")
    sequence_id: str | None = Field(description="The sequence it belongs to, if any.")
    step_id: str | None = Field(description="The sequence step it belongs to, if any.")
    data: JsonObject = Field(description="What else the event records (by type).")
    machine: str | None = Field(
        description="Opens and clicks: why a machine made it (docs/signals.md); null: a "
        "person did, or not an open or click."
    )


class Hit(FromRow):
    """One open or click of the lead's emails, with its verdict."""

    occurred_at: Instant = Field(description="When it happened.")
    type: str = Field(description="open or click.")
    sequence_id: str | None = Field(description="The sequence of the email.")
    step_id: str | None = Field(description="The step of the email.")
    machine: str | None = Field(
        description="Why a machine made it (at_delivery, hidden_link, link_burst, "
        "head_request, known_agent, known_network, bot); null: a person."
    )
    data: JsonObject = Field(description="The URL of a click.")
    verdict: Literal["human", "machine"] = Field(
        description="human, or machine (`machine` says why)."
    )

    @classmethod
    def of(cls, event: Any) -> Hit:
        verdict = "human" if event.machine is None else "machine"
        fields = ("occurred_at", "type", "sequence_id", "step_id", "machine", "data")
        return cls.model_validate({f: getattr(event, f) for f in fields} | {"verdict": verdict})


class Reply(FromRow):
    """A reply the lead sent to one of our emails (subject and a snippet, not the body)."""

    occurred_at: Instant = Field(description="When it arrived.")
    sequence_id: str | None = Field(description="The sequence of the email answered.")
    step_id: str | None = Field(description="The step of the email answered.")
    data: JsonObject = Field(description="subject and snippet.")


class TopicOptOutInfo(FromRow):
    """A topic the lead opted out of on the preference page."""

    topic: str = Field(description="The sequences' topic (their `topic` in the config).")
    opted_out_at: Instant = Field(description="When the lead opted out of it.")


class PreferencesInfo(ReportModel):
    """What the lead chose on the preference page (unsubscribing from everything is the
    lead's suppression)."""

    opted_out: list[TopicOptOutInfo] = Field(description="Topics opted out of, by name.")
    paused_until: Instant | None = Field(
        description="The end of its latest pause of all marketing mail (in the past: over); "
        "null: never paused or the pause was lifted."
    )


class LeadProfile(ReportModel):
    """One lead, everything about it: profile, stage, owner, score breakdown, drips and
    timeline (``nurture leads show``)."""

    lead: LeadInfo = Field(description="The lead.")
    owner: Owner | None = Field(description="Who has the lead in sales; null: nobody.")
    handoff: HandoffInfo | None = Field(description="The latest hand-off; null: never.")
    score: ScoreBreakdown = Field(description="The score breakdown.")
    enrollments: list[EnrollmentInfo] = Field(description="Its drips, oldest first.")
    timeline: list[TimelineEvent] = Field(description="Its latest events, newest first.")
    engagement: list[Hit] = Field(
        description="Every open and click of its emails with the verdict, oldest first."
    )
    replies: list[Reply] = Field(description="Its replies to our emails, oldest first.")
    preferences: PreferencesInfo = Field(description="Its choices on the preference page.")
