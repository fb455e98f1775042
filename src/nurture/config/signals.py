"""The signals file (config/signals.yaml, optional), validated at load: how engagement is
judged human or machine, when soft bounces suppress an address, how long the website's
anonymous page views are kept. Every key has a default; docs/signals.md explains each."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from nurture.config.sequences import StrictModel


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"not an IP network: {value!r} (use e.g. 40.94.0.0/16)") from None


class Machines(StrictModel):
    """Scanners and image proxies, added to the shipped list (verdict/machines.yaml)."""

    user_agents: list[Annotated[str, AfterValidator(_regex)]] = Field(
        default_factory=list,
        description="Regular expressions (case-insensitive) matched against the User-Agent.",
    )
    networks: list[Annotated[str, AfterValidator(_network)]] = Field(
        default_factory=list, description="IPv4 or IPv6 networks, e.g. 40.94.0.0/16."
    )


class EngagementSignals(StrictModel):
    delivery_seconds: float = Field(
        10,
        ge=0,
        le=3600,
        description="An open or click this soon after delivery is a machine's (0: off).",
    )
    burst_seconds: float = Field(
        5,
        ge=0,
        le=600,
        description="Several links of one message fetched within this many seconds are a "
        "machine's; so are the opens and clicks this close to a fetch of the hidden link.",
    )
    machines: Machines = Machines()


class BounceSignals(StrictModel):
    soft_limit: int = Field(
        3, ge=1, le=100, description="Soft bounces within soft_window_days that suppress."
    )
    soft_window_days: float = Field(30, gt=0, le=3650)


class WebsiteSignals(StrictModel):
    anonymous_retention_days: float = Field(
        30,
        gt=0,
        le=3650,
        description="Page views of visitors who never become a lead are deleted after this.",
    )


class SignalsConfig(StrictModel):
    engagement: EngagementSignals = EngagementSignals()
    bounces: BounceSignals = BounceSignals()
    website: WebsiteSignals = WebsiteSignals()
