"""Every table with a lead's rows is in rights.held.HELD: a table added without an entry
would be missed by export and forget."""

from __future__ import annotations

from nurture.rights.held import HELD
from nurture.tables import metadata


def test_every_table_pointing_at_leads_is_held():
    pointing = {
        table.name
        for table in metadata.sorted_tables
        if any(fk.column.table.name == "leads" for fk in table.foreign_keys)
    }
    held = {h.table.name for h in HELD}
    assert pointing - held == set(), "add a Held entry in src/nurture/rights/held.py"
    # each of them reachable from a visitor or a lead
    assert held - pointing == {"visitor_events"}
