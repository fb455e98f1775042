"""One vocabulary: stages, event types and states are enums, from config to SQL. This scans
src/ for the places a plain string would stand in for one of them (compared with a state or
type column, written as an event's type, filtered with IN) so that a new one fails here
instead of silently drifting from the enum."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nurture.feedback.service import FeedbackKind
from nurture.handoff.models import HandoffState
from nurture.inbox.models import ForwardState
from nurture.leads.events import EventType, MachineReason
from nurture.leads.models import SuppressionReason
from nurture.leads.stages import Stage
from nurture.ledger.models import EnrollmentState, TouchState

SRC = Path(__file__).resolve().parents[1] / "src" / "nurture"
ENUMS = (
    EventType,
    MachineReason,
    Stage,
    TouchState,
    EnrollmentState,
    HandoffState,
    SuppressionReason,
    ForwardState,
    FeedbackKind,
)
WORDS = {member.value for enum in ENUMS for member in enum}
# Attributes and keys that hold a vocabulary value.
FIELDS = {
    "state",
    "type",
    "type_",
    "lifecycle_stage",
    "stage",
    "suppression_reason",
    "machine",
    "kind",
}
# Where the event type stands among a writer's positional arguments.
WRITERS = {"record_event": 2, "event_row": 1}


def _word(node: ast.AST) -> str | None:
    if isinstance(node, ast.IfExp):  # "sent" if ok else "failed"
        return _word(node.body) or _word(node.orelse)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in WORDS:
        return node.value
    return None


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def spelled_out(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, word) for each vocabulary word written as a plain string where the enum
    belongs."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_name(s) in FIELDS for s in sides):
                found += [(node.lineno, w) for s in sides if (w := _word(s))]
        elif isinstance(node, ast.Call):
            callee = _name(node.func)
            at = WRITERS.get(callee or "")
            if at is not None and len(node.args) > at and (w := _word(node.args[at])):
                found.append((node.lineno, w))
            if callee == "in_":
                for arg in node.args:
                    items = arg.elts if isinstance(arg, ast.Tuple | ast.List | ast.Set) else []
                    found += [(node.lineno, w) for e in items if (w := _word(e))]
            found += [
                (node.lineno, w) for k in node.keywords if k.arg in FIELDS and (w := _word(k.value))
            ]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in FIELDS and (w := _word(value)):
                    found.append((node.lineno, w))
    return sorted(found)


def test_the_scan_finds_plain_strings_where_an_enum_belongs() -> None:
    code = """
row.state == "sent"
record_event(session, 1, "click", now)
Event.type.in_(("open", "click"))
update(Lead).values(lifecycle_stage="mql")
{"lead_id": 1, "type": "exited"}
{"type": EventType.SENT if ok else "bounced"}
"""
    assert [w for _, w in spelled_out(ast.parse(code))] == [
        "sent",
        "click",
        "click",
        "open",
        "mql",
        "exited",
        "bounced",
    ]


def test_the_scan_leaves_enum_members_and_other_strings_alone() -> None:
    code = """
row.state == TouchState.SENT
record_event(session, 1, EventType.CLICK, now)
f.type == "checkbox"
{"sent": 3, "type": "string"}
"""
    assert spelled_out(ast.parse(code)) == []


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_vocabulary_word_is_spelled_out_in_src(path: Path) -> None:
    if "migrations" in path.parts:  # frozen history: migrations never import the models
        return
    found = spelled_out(ast.parse(path.read_text(encoding="utf-8")))
    assert not found, f"{path}: use the enum for {found}"
