"""Which column is which lead field, and each record checked against it (pure: no database).

A column maps to ``email``, a profile column (``leads.models.PROFILE``) or ``custom.<name>``:
by its header (the common English and German names, see ``ALIASES``) or by ``--map
col=field``. Columns that map to nothing are reported and ignored, unless ``keep_unknown``
keeps each as ``custom.<its header as a name>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nurture.leads.events import storable
from nurture.leads.models import PROFILE, Lead
from nurture.leads.service import InvalidEmail, normalise_email

FIELDS = ("email", *PROFILE)
CUSTOM_PREFIX = "custom."
# as sequences' date_field reads them (config/sequences.py DateField)
_CUSTOM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CUSTOM_MAX = 1000  # characters in a custom value (the JSON column has no limit of its own)
IGNORE = "-"  # --map "Notizen=-": leave the column out
LIMITS = {f: Lead.__table__.c[f].type.length for f in FIELDS}  # type: ignore[attr-defined]

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def header_key(name: str) -> str:
    """A header as compared with the aliases: lower case, umlauts spelt out, only letters and
    digits ("E-Mail-Adresse" -> "emailadresse")."""
    return re.sub(r"[^a-z0-9]", "", name.lower().translate(_FOLD))


ALIASES: dict[str, str] = {
    **dict.fromkeys(
        ["email", "emailaddress", "emailadresse", "mail", "mailadresse", "emailadress"], "email"
    ),
    **dict.fromkeys(["firstname", "vorname", "givenname", "first"], "first_name"),
    **dict.fromkeys(["lastname", "nachname", "surname", "familyname", "familienname"], "last_name"),
    **dict.fromkeys(
        [
            *("company", "companyname", "firma", "firmenname", "unternehmen"),
            *("organisation", "organization", "account", "accountname"),
        ],
        "company",
    ),
    **dict.fromkeys(
        ["jobtitle", "position", "funktion", "role", "rolle", "job", "berufsbezeichnung"],
        "job_title",
    ),
    **dict.fromkeys(["country", "land", "countrycode", "laendercode", "staat"], "country"),
    **dict.fromkeys(["timezone", "zeitzone", "tz"], "timezone"),
    **dict.fromkeys(["locale", "language", "sprache", "lang"], "locale"),
}


class MappingError(ValueError):
    """The columns cannot be mapped (the file is not imported)."""


@dataclass(frozen=True)
class ColumnMap:
    fields: dict[int, str]  # column index -> email, a profile column or custom.<name>
    ignored: list[str]  # headers of the columns left out

    def describe(self, header: Sequence[str]) -> list[str]:
        return [f"{header[i]} -> {f}" for i, f in sorted(self.fields.items())]


def check_field(name: str) -> str:
    if name in FIELDS or name == IGNORE:
        return name
    if name.startswith(CUSTOM_PREFIX) and _CUSTOM_NAME.match(name[len(CUSTOM_PREFIX) :]):
        return name
    raise MappingError(
        f"unknown field {name!r}: use email, {', '.join(PROFILE)}, custom.<name> "
        f"(letters, digits, _) or {IGNORE} to leave the column out"
    )


def parse_maps(items: Sequence[str]) -> dict[str, str]:
    """``--map`` values, "column=field" each; MappingError names the one that is not."""
    out: dict[str, str] = {}
    for item in items:
        column, sep, name = item.partition("=")
        if not sep or not column.strip():
            raise MappingError(f"--map {item!r}: write COLUMN=FIELD, e.g. 'E-Mail 2=email'")
        out[column.strip()] = check_field(name.strip())
    return out


def _custom_name(header: str) -> str | None:
    name = re.sub(r"[^a-z0-9]+", "_", header.lower().translate(_FOLD)).strip("_")
    return name if _CUSTOM_NAME.match(name) else None


def build_map(header: Sequence[str], maps: Mapping[str, str], keep_unknown: bool) -> ColumnMap:
    """Map the header's columns: ``maps`` first (a column by its exact or its folded name),
    then the aliases; MappingError for a --map column not in the file, two columns for one
    field, or no address column."""
    by_key = {header_key(h): i for i, h in reversed(list(enumerate(header)))}
    chosen: dict[int, str] = {}
    for column, name in maps.items():
        index = header.index(column) if column in header else by_key.get(header_key(column))
        if index is None:
            raise MappingError(f"--map {column}={name}: the file has no column {column!r}")
        chosen[index] = name
    ignored: list[str] = []
    for i, h in enumerate(header):
        if i in chosen:
            continue
        name = ALIASES.get(header_key(h))
        if name is None and keep_unknown and h:
            custom = _custom_name(h)
            name = f"{CUSTOM_PREFIX}{custom}" if custom else None
        if name is None or name in chosen.values():
            ignored.append(h)
            continue
        chosen[i] = name
    fields = {i: f for i, f in chosen.items() if f != IGNORE}
    ignored += [header[i] for i, f in chosen.items() if f == IGNORE]
    seen: dict[str, int] = {}
    for i, f in sorted(fields.items()):
        if f in seen:
            raise MappingError(f"columns {header[seen[f]]!r} and {header[i]!r} both map to {f}")
        seen[f] = i
    if "email" not in seen:
        raise MappingError(
            f"no column holds the email address (columns: {', '.join(header)}); "
            "name it with --map COLUMN=email"
        )
    return ColumnMap(fields, ignored)


@dataclass(frozen=True)
class Row:
    """A record that passed: the address normalised, the values as upsert_leads takes them."""

    line: int
    email: str
    values: dict[str, Any] = field(default_factory=dict)  # profile columns and "custom"


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str


def _zone_ok(value: str) -> bool:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_record(line: int, cells: Sequence[str], columns: ColumnMap, width: int) -> Row | Problem:
    """One record as a Row, or the Problem that keeps it out: no or an invalid address, a
    value longer than its column, an unknown time zone, more cells than the header has."""
    if len(cells) > width and any(c.strip() for c in cells[width:]):
        return Problem(line, f"{len(cells)} values but the header has {width} columns")
    values: dict[str, Any] = {}
    custom: dict[str, str] = {}
    email = ""
    for i, name in columns.fields.items():
        value = storable(cells[i].strip()) if i < len(cells) else ""
        if not value:
            continue
        limit = CUSTOM_MAX if name.startswith(CUSTOM_PREFIX) else LIMITS[name]
        if len(value) > limit:
            return Problem(line, f"{name}: {len(value)} characters, at most {limit}")
        if name == "email":
            email = value
        elif name.startswith(CUSTOM_PREFIX):
            custom[name[len(CUSTOM_PREFIX) :]] = value
        elif name == "timezone" and not _zone_ok(value):
            return Problem(line, f"timezone: unknown time zone {value!r}")
        else:
            values[name] = value
    if not email:
        return Problem(line, "no email address")
    try:
        email = normalise_email(email)
    except InvalidEmail as exc:
        return Problem(line, f"invalid address {email!r}: {exc}")
    values["custom"] = custom
    return Row(line, email, values)


def check_records(
    records: Iterable[tuple[int, Sequence[str]]], columns: ColumnMap, width: int
) -> tuple[list[Row], list[Problem]]:
    """Every record checked; an address seen on an earlier line is a problem on the later
    one (the first is imported)."""
    rows: list[Row] = []
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for line, cells in records:
        checked = check_record(line, cells, columns, width)
        if isinstance(checked, Problem):
            problems.append(checked)
        elif checked.email in first:
            problems.append(
                Problem(line, f"duplicate address, first on line {first[checked.email]}")
            )
        else:
            first[checked.email] = line
            rows.append(checked)
    return rows, problems
