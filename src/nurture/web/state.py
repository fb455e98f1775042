"""What request handlers share: settings, config, pages, the composer and its links, and the
group-commit writers the features declare. Nothing here knows a feature: each feature's routes
declare their ``Writer``s and the app (app.py) wires them in."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project, load_project_cached
from nurture.config.yamlfile import ConfigError
from nurture.db import GroupCommit
from nurture.links import Links
from nurture.locales.catalog import translate, translations
from nurture.locales.codes import LocalizedText, from_accept_language, localized, normalize, resolve
from nurture.locales.format import FILTERS
from nurture.rendering.compose import Composer, build_composer
from nurture.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(context.get("locale")).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(context.get("locale")).ngettext(singular, plural, n)


def page_files(name: str, locale: str | None) -> list[str]:
    """Where a page is looked for: ``<name>.<locale>.html.j2``, ``<name>.<lang>.html.j2``,
    ``<name>.html.j2`` (the chain of the email templates)."""
    stem = name.removesuffix(".html.j2")
    names = [f"{stem}.{locale}.html.j2"] if locale else []
    if locale and "-" in locale:
        names.append(f"{stem}.{locale.partition('-')[0]}.html.j2")
    return [*names, name]


class Pages:
    """Hosted pages (templates/landing/): autoescaped Jinja, our own templates only, in a
    locale. Every page sees ``locale``, ``text(value)`` (a form's text in that locale),
    ``_()``/``{% trans %}`` (our UI strings, locales/catalog.py) and the babel filters."""

    def __init__(self, folder: Any):
        self.env = Environment(
            loader=FileSystemLoader(str(folder)),
            autoescape=select_autoescape(["html", "j2"]),
            undefined=StrictUndefined,
            auto_reload=True,
            extensions=["jinja2.ext.i18n"],
        )
        # pass_context: the page's own ``locale`` picks the catalog, per render.
        self.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
        self.env.filters.update(FILTERS)

    def render(
        self,
        name: str,
        status_code: int = 200,
        *,
        locale: str,
        declared: Sequence[str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """``name`` in ``locale`` (its own file if there is one); ``declared``: the locales
        the page's texts (a form's) come in, for ``text()``'s fallback chain."""
        chain = list(declared or [locale])

        def text(value: LocalizedText | None) -> str:
            return "" if value is None else localized(value, locale, chain)

        template = self.env.select_template(page_files(name, locale))
        html = template.render(**context, locale=locale, text=text)
        return HTMLResponse(html, status_code=status_code, headers={"Content-Language": locale})

    def message(
        self, locale: str, title: str, message: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        """A page with one of our own messages: ``title`` and ``message`` are msgids
        (translated here, ``%(name)s`` filled from ``values``)."""
        return self.text_page(
            locale, translate(locale, title), translate(locale, message, **values), status_code
        )

    def text_page(
        self, locale: str, title: str, message: str, status_code: int = 200
    ) -> HTMLResponse:
        """A page with a title and a message that are already in ``locale`` (a form's)."""
        return self.render(
            "message.html.j2", status_code, locale=locale, title=title, message=message
        )


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
        self._good: Project | None = None  # the last project that validated
        self._refused: str | None = None  # the problems last logged
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
        """The config as the files are, or, while they do not validate (a file half-edited),
        the last project that did: its problems logged once (again when they change), not
        per request. With none before (at startup) the ConfigError is raised."""
        try:
            project = load_project_cached(self.settings.config_dir)
        except ConfigError as exc:
            if self._good is None:
                raise
            if str(exc) != self._refused:  # logged once, not on every request
                self._refused = str(exc)
                for problem in exc.problems:
                    log.error("config refused, the last good one kept: %s", problem)
            return self._good
        if self._refused is not None:
            log.info("config valid again")
        self._good, self._refused = project, None
        return project

    def working_project(self) -> Project:
        """The config as the files are now, or their ConfigError: what the preview shows a
        marketer who is editing (the pages and forms keep serving ``project()``)."""
        return load_project_cached(self.settings.config_dir)

    def browser_locale(self, request: Request, declared: Sequence[str] | None = None) -> str:
        """The locale of a page for someone we know nothing of: ``?lang=``, else the
        browser's Accept-Language, else the first of ``declared`` (default: every locale
        of the project)."""
        chain = list(declared or self.project().locales)
        wanted = normalize(request.query_params.get("lang"))
        if wanted is not None:
            return resolve(wanted, chain)
        return from_accept_language(request.headers.get("accept-language"), chain) or chain[0]

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
