"""What request handlers share: settings, config, pages, the composer and its links, and the
group-commit writers the features declare. Nothing here knows a feature: each feature's routes
declare their ``Writer``s and the app (app.py) wires them in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project, load_project_cached
from nurture.db import GroupCommit
from nurture.links import Links
from nurture.rendering.compose import Composer, build_composer
from nurture.settings import Settings

T = TypeVar("T")
R = TypeVar("R")


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


@dataclass(frozen=True, eq=False)
class Writer(Generic[T, R]):
    """A feature's writes that concurrent requests share transactions for (see GroupCommit):
    ``write(state, session, items)`` returns a result per item. Compared by identity: the
    object a feature declares is the key to its GroupCommit."""

    name: str
    write: Callable[[AppState, AsyncSession, list[T]], Awaitable[list[R]]]


class AppState:
    def __init__(
        self, settings: Settings, composer: Composer, pages: Pages, writers: Iterable[Writer]
    ):
        self.settings, self.composer, self.pages = settings, composer, pages
        url = settings.database_url.get_secret_value()
        self._commits: dict[Writer[Any, Any], GroupCommit[Any, Any]] = {
            w: GroupCommit(url, self._bound(w)) for w in writers
        }

    @classmethod
    def from_settings(cls, settings: Settings, writers: Iterable[Writer] = ()) -> AppState:
        # auto_reload: the server runs for weeks, and confirmation emails must see edits.
        composer = build_composer(settings, auto_reload=True)
        return cls(settings, composer, Pages(settings.templates_dir / "landing"), writers)

    @property
    def links(self) -> Links:
        return self.composer.links

    def project(self) -> Project:
        return load_project_cached(self.settings.config_dir)

    def writer(self, writer: Writer[T, R]) -> GroupCommit[T, R]:
        """The app's GroupCommit for a writer (KeyError: app.py did not wire it in)."""
        return self._commits[writer]

    def _bound(self, writer: Writer[T, R]) -> Callable[[AsyncSession, list[T]], Awaitable[list[R]]]:
        def write(session: AsyncSession, items: list[T]) -> Awaitable[list[R]]:
            return writer.write(self, session, items)

        return write


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain def dependency in its thread pool, a hand-off per request
    return request.app.state.nurture  # type: ignore[no-any-return]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None
