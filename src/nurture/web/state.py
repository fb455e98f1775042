"""What request handlers share: settings, config, renderers, tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.capture.service import CaptureResult, Prepared, capture_many
from nurture.config.project import Project, load_project_cached
from nurture.db import GroupCommit
from nurture.leads.events import record_events
from nurture.rendering.compose import Composer
from nurture.rendering.render import Renderer
from nurture.settings import Settings
from nurture.tokens import Tokens
from nurture.tracking.engagement import record_engagement


class Pages:
    """Hosted pages (templates/landing/): autoescaped Jinja, our own templates only."""

    def __init__(self, folder: Any):
        self.env = Environment(
            loader=FileSystemLoader(str(folder)),
            autoescape=select_autoescape(["html", "j2"]),
            undefined=StrictUndefined,
            auto_reload=True,
        )

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def message(self, title: str, message: str, status_code: int = 200) -> HTMLResponse:
        return self.render("message.html.j2", status_code, title=title, message=message)


@dataclass
class AppState:
    settings: Settings
    tokens: Tokens
    composer: Composer
    pages: Pages
    # Concurrent requests' writes share transactions (see GroupCommit).
    captures: GroupCommit[Prepared, tuple[CaptureResult, Row[Any]]] = field(init=False)
    events: GroupCommit[dict[str, Any], None] = field(init=False)
    engagement: GroupCommit[dict[str, Any], None] = field(init=False)

    def __post_init__(self) -> None:
        url = self.settings.database_url
        self.captures = GroupCommit(url, self._write_captures)
        self.events = GroupCommit(url, _write_events)
        self.engagement = GroupCommit(url, record_engagement)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppState:
        tokens = Tokens(settings.resolved_secret_key())
        base_url = settings.base_url.rstrip("/")
        composer = Composer(Renderer(settings.templates_dir), tokens, base_url)
        return cls(settings, tokens, composer, Pages(settings.templates_dir / "landing"))

    def project(self) -> Project:
        return load_project_cached(self.settings.config_dir)

    async def _write_captures(
        self, session: AsyncSession, batch: list[Prepared]
    ) -> list[tuple[CaptureResult, Row[Any]]]:
        return await capture_many(session, self.project(), batch)


async def _write_events(session: AsyncSession, rows: list[dict[str, Any]]) -> list[None]:
    await record_events(session, rows)
    return [None] * len(rows)


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain def dependency in its thread pool, a hand-off per request
    return request.app.state.nurture  # type: ignore[no-any-return]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
