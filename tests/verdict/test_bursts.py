"""The verdicts only several hits show, as a pure function over a send's hits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nurture.leads.events import EventType, MachineReason
from nurture.verdict.bursts import Hit, bursts

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BURST = timedelta(seconds=5)


def hit(i: int, seconds: float, type_=EventType.CLICK, url="https://a.example/1", machine=None):
    return Hit(i, 1, type_, T + timedelta(seconds=seconds), url, machine)


def test_the_hidden_link_marks_what_is_near_it_before_or_after():
    hits = [
        hit(1, 0, EventType.OPEN, None),
        hit(2, 1),
        hit(3, 2, url="https://n.example/", machine=MachineReason.HIDDEN_LINK),
        hit(4, 6.5),  # 4.5 s after the hidden link: in its burst
        hit(5, 60),  # a minute later: a person
    ]
    assert bursts(hits, BURST) == {
        1: MachineReason.HIDDEN_LINK,
        2: MachineReason.HIDDEN_LINK,
        4: MachineReason.HIDDEN_LINK,
    }


def test_links_of_one_message_at_once_but_not_the_same_link_twice():
    assert bursts([hit(1, 0), hit(2, 0.4), hit(3, 1)], BURST) == {}  # a double click
    assert bursts([hit(1, 0), hit(2, 2, url="https://a.example/2")], BURST) == {
        1: MachineReason.LINK_BURST,
        2: MachineReason.LINK_BURST,
    }
    assert bursts([hit(1, 0), hit(2, 61, url="https://a.example/2")], BURST) == {}


def test_the_nearest_other_link_decides_even_behind_many_repeats():
    # many clicks on link 1, then link 2 just after the last of them: both ends are a burst
    hits = [hit(i, i * 0.01) for i in range(1000)] + [hit(1000, 10.0, url="https://a.example/2")]
    found = bursts(hits, BURST)
    assert found[1000] == MachineReason.LINK_BURST
    assert all(found.get(i) == MachineReason.LINK_BURST for i in range(1000) if i * 0.01 >= 5)
    assert not any(i in found for i in range(1000) if i * 0.01 < 5)


def test_a_replayed_link_costs_a_sort_not_a_square():
    # 100k fetches of one link: nothing is a burst, and the judging is linear after a sort
    hits = [hit(i, i / 1000) for i in range(100_000)]
    assert bursts(hits, BURST) == {}


def test_hits_already_judged_keep_their_reason():
    hits = [hit(1, 0, machine=MachineReason.BOT), hit(2, 1, url="https://a.example/2")]
    assert bursts(hits, BURST) == {2: MachineReason.LINK_BURST}
