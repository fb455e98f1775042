"""How the config's own types read in the JSON Schemas an editor checks the files with
(config/schemas.py, ``nurture schema``): a delay is the text a marketer types, "2 business
days", not the Delay object it becomes. Each pattern accepts what the type's parser accepts
(tests/config/test_schemas.py holds samples to both), and is written for JavaScript's
regular expressions too (the editor's): no named groups, no flags, so no IGNORECASE either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import WithJsonSchema


def _anycase(alternatives: str) -> str:
    """``days?`` as ``[dD][aA][yY][sS]?``: the parsers read units in any case."""
    return re.sub(
        r"\\.|[a-z]",  # an escape (\s) stays as it is
        lambda m: m[0] if m[0].startswith("\\") else f"[{m[0]}{m[0].upper()}]",
        alternatives,
    )


def _text(pattern: str, description: str, examples: list[Any], error: str) -> dict[str, Any]:
    # patternErrorMessage: what yaml-language-server says instead of quoting the pattern.
    return {
        "type": "string",
        "pattern": pattern,
        "description": description,
        "examples": examples,
        "patternErrorMessage": error,
    }


def _days_or_text(
    days: dict[str, Any], pattern: str, description: str, examples: list[Any], error: str
) -> dict[str, Any]:
    """A bare number of days, or text; description and examples on top, for the hover."""
    text = {"type": "string", "pattern": pattern, "patternErrorMessage": error}
    return {
        "description": description,
        "examples": examples,
        "anyOf": [text, {"type": "integer", **days}],  # text first: the editor reports it
    }


_CALENDAR_UNITS = _anycase("m|min|minutes?|h|hours?|d|days?|w|weeks?")
_DELAY_UNITS = _CALENDAR_UNITS + "|" + _anycase(r"business\s+days?|bd")
DELAY_SCHEMA = _days_or_text(
    {"minimum": 0},
    rf"^\s*\d+\s*({_DELAY_UNITS})?\s*$",
    "A wait: a number and a unit (m, h, d, w or business days, Mon-Fri); a bare number is days.",
    ["0", "2d", "12h", "30m", "1w", "3 business days"],
    "use e.g. 0, 2d, 12h, 30m, 1w or '3 business days'",
)
CALENDAR_DELAY_SCHEMA = _days_or_text(
    {"minimum": 0},
    rf"^\s*\d+\s*({_CALENDAR_UNITS})?\s*$",
    "A wait in calendar time: a number and a unit (m, h, d or w); a bare number is days.",
    ["4h", "1d"],
    "use e.g. 4h or 1d (not business days)",
)
_PERIOD_UNITS = _anycase("d|days?|w|weeks?")
PERIOD_SCHEMA = _days_or_text(
    {"minimum": 0},
    rf"^\s*\+?\s*\d+\s*({_PERIOD_UNITS})\s*$",
    "A span of whole days: a number and d (days) or w (weeks).",
    ["60d", "12w", "90 days"],
    "use e.g. 60d, 12w or '90 days'",
)
SIGNED_PERIOD_SCHEMA = _days_or_text(
    {},
    rf"^\s*[+-]?\s*\d+\s*({_PERIOD_UNITS})\s*$",
    "A span of whole days, before (-) or after: a number and d (days) or w (weeks).",
    ["-30d", "0d", "14d"],
    "use e.g. -30d, 0d or 14d",
)
REENTER_SCHEMA = {
    "description": "never, or a span of whole days after the last enrollment ended.",
    "examples": ["never", "180d"],
    "anyOf": [
        {"const": "never", "description": "A lead goes through the sequence once."},
        {"type": "null", "description": "The same as never."},
        *PERIOD_SCHEMA["anyOf"],
    ],
}
# Two-digit hours: YAML reads an unquoted 9:00 as the number 540 (sexagesimal).
CLOCK_SCHEMA = _text(
    r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
    'A time of day, HH:MM (24 hours), in quotes: "08:30".',
    ["08:30", "17:00"],
    'use HH:MM in quotes, e.g. "08:30"',
)
TIMEZONE_SCHEMA = _text(
    r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
    "An IANA timezone name.",
    ["Europe/Berlin", "Europe/Stockholm", "Europe/London", "America/New_York"],
    "use an IANA name like Europe/Berlin",
)


def json_schema(schema: dict[str, Any]) -> WithJsonSchema:
    """The annotation that puts ``schema`` in place of what pydantic derives from the
    Python type (which for these is an object, an ISO duration or an RFC 3339 time)."""
    return WithJsonSchema(schema, mode="validation")


def enum_schema(values: Iterable[str], description: str) -> WithJsonSchema:
    return json_schema(
        {"type": "string", "enum": [str(v) for v in values], "description": description}
    )


LOCALE_SCHEMA = _text(
    r"^[A-Za-z]{2,3}([-_]([A-Za-z]{2}|[0-9]{3}))?$",
    "A language (de, sv, en) or a language and a country (de-AT, en-GB).",
    ["de", "sv", "en", "de-AT"],
    "a locale looks like de, sv, en or de-AT",
)
