"""Who gets which variant of a step (docs/experiments.md#assignment).

Deterministic: sha256 of the lead's public id, the sequence id and the step id, mapped onto
the variants' weights, so the same lead always lands in the same arm of a step, whichever
dispatcher or pass asks. Recorded once on the send (``sends.variant``) in the claim's
transaction, before anything is handed to SMTP: from then on the recorded value wins — a
retry, a crash or edited weights never reassign. A recorded variant that was removed from the
config since is kept on the row (it is what was decided) and the touch gets the step's own
subject and template (``Step.subject_for``/``template_for`` fall back). Once a step's
experiment has a winner (experiment_winners), new assignments get only the winner.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.config.sequences import Step, Variant
from nurture.db import chunked
from nurture.experiments.models import ExperimentWinner
from nurture.ledger.claims import Claimed
from nurture.ledger.models import Touch

T = Touch.__table__


def pick(public_id: str, sequence_id: str, step_id: str, variants: Sequence[Variant]) -> str:
    """The variant id for this lead and step: a point in [0, total weight) from the hash,
    the variant whose share of the weights covers it. Weight 0: never picked."""
    total = sum(v.weight for v in variants)
    if total <= 0:
        raise ValueError(f"{sequence_id}/{step_id}: no variant has a weight above 0")
    digest = hashlib.sha256(f"{public_id}\x1f{sequence_id}\x1f{step_id}".encode()).digest()
    # 64 bits modulo a total of at most 10 x 1000: the bias is below 1e-15.
    point = int.from_bytes(digest[:8], "big") % total
    for variant in variants:
        if point < variant.weight:
            return variant.id
        point -= variant.weight
    raise AssertionError("unreachable: point < total")  # pragma: no cover


def _step(project: Project, touch: Claimed) -> Step:
    return project.sequences[touch.sequence_id].steps[touch.step_index]


async def winners(session: AsyncSession, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(sequence id, step id) -> the decided variant, for those of ``keys`` that have one."""
    found: dict[tuple[str, str], str] = {}
    pairs = sorted(keys)
    for part in chunked(pairs, 200):
        rows = await session.execute(
            select(
                ExperimentWinner.sequence_id, ExperimentWinner.step_id, ExperimentWinner.variant
            ).where(tuple_(ExperimentWinner.sequence_id, ExperimentWinner.step_id).in_(part))
        )
        found.update({(r.sequence_id, r.step_id): r.variant for r in rows})
    return found


class Assignable(Protocol):
    """What assignment needs of a unit of work (a dataclass, e.g. dispatch.work.Work): its
    touch, its lead's public id, and the variant recorded on the send so far (None: none)."""

    @property
    def touch(self) -> Claimed: ...
    @property
    def public_id(self) -> str: ...
    @property
    def variant(self) -> str | None: ...


W = TypeVar("W", bound=Assignable)


async def assign(session: AsyncSession, project: Project, works: list[W]) -> list[W]:
    """Record a variant on every touch of ``works`` whose step has an experiment and that has
    none yet; return the works with their variant (the recorded one, else the new one).
    ``works`` must be claimed by the caller in this transaction (so no one else assigns
    them). One UPDATE per variant, each guarded by ``variant IS NULL``."""
    fresh = [w for w in works if w.variant is None and _step(project, w.touch).variants]
    if not fresh:
        return works
    decided = await winners(session, {(w.touch.sequence_id, w.touch.step_id) for w in fresh})
    chosen: dict[int, str] = {}
    for w in fresh:
        step = _step(project, w.touch)
        key = (w.touch.sequence_id, w.touch.step_id)
        winner = step.variant(decided.get(key))
        # A winner removed from the config since: back to the weights of what is there.
        chosen[w.touch.id] = winner.id if winner else pick(w.public_id, *key, step.variants)
    by_variant: dict[str, list[int]] = defaultdict(list)
    for touch_id, variant in chosen.items():
        by_variant[variant].append(touch_id)
    for variant, ids in sorted(by_variant.items()):
        for part in chunked(sorted(ids)):
            await session.execute(
                update(T).where(T.c.id.in_(part), T.c.variant.is_(None)).values(variant=variant)
            )
    return [_with(w, chosen[w.touch.id]) if w.touch.id in chosen else w for w in works]


def _with(work: W, variant: str) -> W:
    changed: Any = replace(work, variant=variant)  # type: ignore[type-var]
    return changed
