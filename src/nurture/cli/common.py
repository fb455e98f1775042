"""What every command group shares: running a coroutine, failing with a message, loading the
project, reading a time. Commands import their services inside the function, so that
``nurture --help`` and a mistyped option answer without importing Prefect and the web stack."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

import typer

from nurture.config.project import Project, load_project
from nurture.config.yamlfile import ConfigError
from nurture.settings import Settings
from nurture.utcclock import parse_instant

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, closing the database engines it opened."""

    from nurture.db import dispose_engines

    async def main() -> T:
        try:
            return await coro
        finally:
            await dispose_engines()

    return asyncio.run(main())


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` in red on stderr; ``raise fail(...)`` ends the command."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


def project_or_exit(settings: Settings) -> Project:
    try:
        return load_project(settings.config_dir)
    except ConfigError as exc:
        raise fail(f"config has {len(exc.problems)} problem(s):\n{exc}") from None


def instant(value: str | None, tz: str = "UTC") -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value, tz)
    except ValueError:
        raise fail(f"cannot read time {value!r}; use ISO 8601, e.g. 2026-12-01T09:00") from None
