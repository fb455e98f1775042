"""The form file format (config/forms/*.yaml), validated at load."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from nurture.config.sequences import Locales, LocalizedText, Sender, Slug, StrictModel
from nurture.leads.models import PROFILE

# Form fields with these names fill the lead's columns; any other name lands in lead.custom.
LEAD_COLUMNS = ("email", *PROFILE)
COLUMN_LIMITS = {"email": 320, "first_name": 100, "last_name": 100, "timezone": 64, "locale": 16}
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
HONEYPOT = "website"
REFERRAL_FIELD = "ref"  # the hidden field carrying a referral link's token (docs/lifecycle.md)
RESERVED = {*UTM_FIELDS, "referrer", "consent", "tz", HONEYPOT, REFERRAL_FIELD}


class FormField(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    type: Literal["text", "email", "tel", "textarea", "select", "checkbox"] = "text"
    label: LocalizedText = Field(min_length=1, max_length=200)
    required: bool = False
    max_length: int = Field(200, ge=1, le=2000)
    options: list[str] | None = None
    placeholder: LocalizedText | None = None

    @model_validator(mode="after")
    def _check(self) -> FormField:
        if self.type == "select" and not self.options:
            raise ValueError("a select field needs options")
        if self.name in RESERVED:
            raise ValueError(f"{self.name!r} is reserved (UTM, referrer, ref, consent, honeypot)")
        limit = COLUMN_LIMITS.get(self.name)
        if limit and self.max_length > limit:
            raise ValueError(f"max_length of {self.name} can be at most {limit}")
        return self


class ConsentText(StrictModel):
    text: LocalizedText = Field(
        min_length=1, max_length=4000, description="What the lead agrees to, per locale."
    )
    version: str = Field(min_length=1, max_length=64)


class Page(StrictModel):
    title: LocalizedText | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Default (confirmed page only): our catalog's, in the page's locale.",
    )
    message: LocalizedText = Field("", max_length=4000)
    redirect_url: str | None = Field(None, pattern=r"^https?://")


class ThankYouPage(Page):
    title: LocalizedText = Field(min_length=1, max_length=200)


class FormConfig(StrictModel):
    id: Slug
    title: LocalizedText = Field(min_length=1, max_length=200)
    description: LocalizedText = ""
    locales: Locales = Field(
        default_factory=lambda: ["de"],
        description="The languages of the landing page; the first is the default.",
        examples=[["de", "sv", "en"]],
    )
    landing_template: str = Field("default.html.j2", pattern=r"^[A-Za-z0-9_./-]+$")
    submit_label: LocalizedText | None = Field(
        None, description="The button; default: our catalog's (Absenden, Skicka, Submit)."
    )
    sequences: list[Slug] = Field(default_factory=list)
    double_opt_in: bool = True
    confirmation_subject: LocalizedText | None = Field(
        None,
        min_length=1,
        max_length=300,
        description="Subject of the confirmation email; default: our catalog's, per locale.",
    )
    sender: Sender | None = Field(
        None, description="Sender of the confirmation email; default: the first sequence's."
    )
    allowed_origins: list[str] = Field(default_factory=list)
    referral: bool = Field(
        False, description="The landing page of referral links (/ref/); at most one form."
    )
    consent: ConsentText
    thank_you: ThankYouPage
    confirmed: Page = Field(
        default_factory=Page, description="After the double opt-in; title default: catalog's."
    )
    fields: list[FormField] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> FormConfig:
        names = [f.name for f in self.fields]
        if "email" not in names:
            raise ValueError("a form needs a field named 'email'")
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        for origin in self.allowed_origins:
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ValueError(f"allowed origin {origin!r} must look like https://host[:port]")
        return self

    def field(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)
