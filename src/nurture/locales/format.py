"""Dates, times, numbers and money for a locale (babel), as Jinja filters for email templates
and pages alike: ``{{ handoff.created_at | format_datetime }}`` reads ``locale`` from the
template's context (docs/config.md#languages)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from babel import dates, numbers
from jinja2 import pass_context
from jinja2.runtime import Context

from nurture.locales.codes import babel_locale

Number = int | float | Decimal


def _locale(context: Context, locale: str | None) -> Any:
    return babel_locale(locale or context.get("locale") or "de")


def _zone(tz: str | None) -> Any:
    return dates.get_timezone(tz) if tz else UTC


@pass_context
def format_date(
    context: Context,
    value: date | datetime | None,
    format: str = "medium",
    locale: str | None = None,
) -> str:
    """``12.03.2027`` (de), ``12 mars 2027`` (sv), ``Mar 12, 2027`` (en); format short, medium,
    long, full or a babel pattern."""
    if value is None:
        return ""
    return dates.format_date(value, format, locale=_locale(context, locale))


@pass_context
def format_datetime(
    context: Context,
    value: datetime | None,
    format: str = "medium",
    tz: str | None = None,
    locale: str | None = None,
) -> str:
    """A timestamp (stored in UTC) in ``tz`` (default UTC), for the locale."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return dates.format_datetime(value, format, tzinfo=_zone(tz), locale=_locale(context, locale))


@pass_context
def format_time(
    context: Context,
    value: time | datetime | None,
    format: str = "short",
    tz: str | None = None,
    locale: str | None = None,
) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return dates.format_time(value, format, tzinfo=_zone(tz), locale=_locale(context, locale))


@pass_context
def format_number(
    context: Context, value: Number | None, format: str | None = None, locale: str | None = None
) -> str:
    """``1.234,5`` (de), ``1 234,5`` (sv), ``1,234.5`` (en)."""
    if value is None:
        return ""
    return numbers.format_decimal(value, format, locale=_locale(context, locale))


@pass_context
def format_percent(
    context: Context, value: Number | None, format: str | None = None, locale: str | None = None
) -> str:
    """A fraction as a percentage: 0.25 -> ``25 %`` (de)."""
    if value is None:
        return ""
    return numbers.format_percent(value, format, locale=_locale(context, locale))


@pass_context
def format_currency(
    context: Context, value: Number | None, currency: str = "EUR", locale: str | None = None
) -> str:
    """``1.234,50 €`` (de), ``1 234,50 kr`` (sv, SEK), ``€1,234.50`` (en)."""
    if value is None:
        return ""
    return numbers.format_currency(value, currency, locale=_locale(context, locale))


FILTERS: dict[str, Callable[..., str]] = {
    "format_date": format_date,
    "format_datetime": format_datetime,
    "format_time": format_time,
    "format_number": format_number,
    "format_percent": format_percent,
    "format_currency": format_currency,
}
