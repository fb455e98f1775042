"""Several dispatcher processes at once over 10k due touches: none twice, none lost."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from nurture.config.project import load_project
from nurture.devdata import seed_due_touches
from tests.factories import touch_states
from tests.faults.conftest import start_dispatcher

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("dispatchers", [2, 4])
async def test_dispatchers_at_once_send_every_touch_exactly_once(smtp_settings, smtp, dispatchers):
    n = 10_000
    emails = await seed_due_touches(
        smtp_settings.database_url.get_secret_value(),
        load_project(smtp_settings.config_dir),
        n,
        NOW,
    )
    procs = [
        start_dispatcher(smtp_settings, NOW, NURTURE_DISPATCH_BATCH_SIZE="200")
        for _ in range(dispatchers)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * dispatchers, outputs
    received = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert max(received.values()) == 1, "a touch was sent twice"
    assert set(received) == set(emails), "a touch was lost"
    states = await touch_states(smtp_settings)
    assert states == {"sent": n, "scheduled": n}  # every lead's next step is scheduled
    assert sum("sent" in o for o in outputs) == dispatchers
