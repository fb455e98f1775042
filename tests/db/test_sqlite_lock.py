"""The lock that queues a process's SQLite transactions belongs to one event loop."""

from __future__ import annotations

import asyncio
import gc

from nurture.db import _sqlite_lock

URL = "sqlite+aiosqlite:///unused.db"


async def _grab() -> asyncio.Lock:
    lock = _sqlite_lock(URL)
    async with lock:
        assert _sqlite_lock(URL) is lock  # one lock per URL within a loop
    return lock


def test_a_new_event_loop_never_gets_a_lock_of_a_closed_one():
    # asyncio.run makes a loop and closes it; a new loop often lands at the freed address,
    # so a lock looked up by id(loop) would be the dead loop's.
    locks = []
    for _ in range(30):
        locks.append(asyncio.run(_grab()))
        gc.collect()
    assert len({id(lock) for lock in locks}) == len(locks)
