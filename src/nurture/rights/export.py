"""Everything held on a lead, as one typed document (``LeadExport``, a JSON Schema with it):
the lead's row and, for every table in ``held.HELD``, the lead's rows in it, column by
column, so that the export cannot miss a column a table gains later."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.leads.events import EventType, record_event
from nurture.leads.models import Lead
from nurture.rights.held import HELD, Held

FORMAT_VERSION = 1


def _python_type(type_: Any) -> type:
    try:
        return type_.python_type  # type: ignore[no-any-return]
    except NotImplementedError:  # a TypeDecorator (UTCDateTime): its underlying type's
        return type_.impl.python_type  # type: ignore[no-any-return]


def record_model(name: str, table: Table, hidden: tuple[str, ...]) -> type[BaseModel]:
    """A pydantic model of a table's row: one field per column, typed as the column is."""
    fields: dict[str, Any] = {}
    for column in table.columns:
        if column.name in hidden:
            continue
        kind: Any = _python_type(column.type)
        if column.nullable:
            kind = kind | None
        fields[column.name] = (kind, Field(description=column.comment or None))
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def _title(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


LeadRecord = record_model("LeadRecord", Lead.__table__, ("id",))
_RECORDS: dict[str, type[BaseModel]] = {
    h.name: record_model(f"{_title(h.name)}Record", h.table, h.hidden) for h in HELD
}
LeadExport: type[BaseModel] = create_model(
    "LeadExport",
    __doc__="Everything nurture holds on one lead (nurture leads export, GET "
    "/api/leads/{lead_id}/export).",
    format=(int, Field(description="Version of this document's format.")),
    exported_at=(datetime, Field(description="When it was exported (UTC).")),
    lead=(LeadRecord, Field(description="The lead's row: its fields, stage and suppression.")),
    **{
        name: (list[model], Field(description=f"The lead's rows in table {h.table.name}."))  # type: ignore[valid-type]
        for (name, model), h in zip(_RECORDS.items(), HELD, strict=True)
    },
)


async def _rows(session: AsyncSession, held: Held, lead_id: int) -> list[dict[str, Any]]:
    order = [c for c in held.table.primary_key.columns]
    result = await session.execute(select(held.table).where(held.of([lead_id])).order_by(*order))
    return [{k: v for k, v in r._mapping.items() if k not in held.hidden} for r in result]


async def export_lead(session: AsyncSession, lead: Lead, now: datetime, via: str) -> BaseModel:
    """Everything held on ``lead``; records an ``exported`` event (not in this export)."""
    row = {c.name: getattr(lead, c.key) for c in Lead.__table__.columns if c.name != "id"}
    document = LeadExport.model_validate(
        {
            "format": FORMAT_VERSION,
            "exported_at": now,
            "lead": row,
            **{h.name: await _rows(session, h, lead.id) for h in HELD},
        }
    )
    await record_event(session, lead.id, EventType.EXPORTED, now, via=via)
    return document


def schema_json() -> str:
    return json.dumps(LeadExport.model_json_schema(), indent=2, ensure_ascii=False) + "\n"
