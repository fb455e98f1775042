"""The command's shape: every group registered in one place, no group importing it back."""

from __future__ import annotations

import ast
from pathlib import Path

import nurture.cli
from nurture.cli import app

PACKAGE = Path(nurture.cli.__file__).parent


def test_no_command_module_imports_the_registering_module():
    for path in PACKAGE.glob("*.py"):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "nurture.cli":
                raise AssertionError(f"{path.name}:{node.lineno} imports nurture.cli")
            if isinstance(node, ast.Import):
                assert "nurture.cli" not in {a.name for a in node.names}, path.name


def test_every_command_is_registered_under_its_name():
    import typer.main

    group = typer.main.get_group(app)
    assert list(group.commands) == [
        "serve",
        "tick",
        "preview",
        "schedule",
        "test-send",
        "plan",
        "report",
        "schema",
        "db",
        "config",
        "leads",
        "sends",
    ]
    nested = {
        name: sorted(group.commands[name].commands) for name in ("db", "config", "leads", "sends")
    }
    assert nested == {
        "db": ["upgrade"],
        "config": ["check"],
        "leads": ["deal", "export", "forget", "import", "show", "stage"],
        "sends": ["in-doubt", "release"],
    }
