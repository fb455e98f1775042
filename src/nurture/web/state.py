"""What request handlers share: settings, config, pages, the composer and its links, and the
group-commit writers the features declare. Nothing here knows a feature: each feature's routes
declare their ``Writer``s and the app (app.py) wires them in."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project, load_project_cached
from nurture.config.yamlfile import ConfigError, Problem
from nurture.db import GroupCommit
from nurture.links import Links
from nurture.liveconfig.live import Checks, judge
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


# How often the app looks at the files (every request asks; reading and hashing the tree
# costs more than most requests' own work).
RECHECK_SECONDS = 1.0


def no_checks(project: Project, composer: Composer) -> list[Problem]:
    """Loading is the only check (an app built without the composition root's checks)."""
    return []


@dataclass(frozen=True)
class Applied:
    """The config the app serves: a tree that validated, from its own folder (var/live)."""

    digest: str
    project: Project
    composer: Composer
    pages: Pages


class AppState:
    def __init__(self, settings: Settings, writers: Iterable[Writer], checks: Checks = no_checks):
        self.settings, self.checks = settings, checks
        self._applied: Applied | None = None
        self._judged_at = float("-inf")
        self._refused: str | None = None  # the problems last logged
        self._working: Composer | None = None
        url = settings.database_url.get_secret_value()
        self._commits: dict[Writer[Any, Any], GroupCommit[Any, Any]] = {
            w: GroupCommit(url, self._bound(w)) for w in writers
        }

    @classmethod
    def from_settings(
        cls, settings: Settings, writers: Iterable[Writer] = (), checks: Checks = no_checks
    ) -> AppState:
        state = cls(settings, writers, checks)
        state.applied()  # a config that does not validate at startup stops the server
        return state

    def applied(self) -> Applied:
        """What the forms, pages and confirmation emails use: the files when they validate by
        the passes' own checks (liveconfig.judge: the same verdict, so a form never enrols
        into a sequence the dispatcher refused), else the last that did, its problems logged
        once (again when they change). Judged again at most once a second, and only when a
        file changed. With none before (at startup) the ConfigError is raised."""
        now = time.monotonic()
        if self._applied is not None and now - self._judged_at < RECHECK_SECONDS:
            return self._applied
        self._judged_at = now
        _, digest, verdict = judge(self.settings, self.checks)
        if isinstance(verdict, ConfigError) and self._applied is None:
            # Nothing applied yet in this process (startup): the files as they load, so the
            # landing pages and the preview are up while an email template is being fixed;
            # a config that does not even load stops the server.
            _, digest, loaded = judge(self.settings, no_checks)
            if isinstance(loaded, ConfigError):
                raise loaded
            for problem in verdict.problems:
                log.error("config does not pass its checks, served as it loads: %s", problem)
            self._refused = str(verdict)
            verdict = loaded
        if isinstance(verdict, ConfigError):
            assert self._applied is not None
            if str(verdict) != self._refused:  # logged once, not on every request
                self._refused = str(verdict)
                for problem in verdict.problems:
                    log.error("config refused, the last good one kept: %s", problem)
            return self._applied
        if self._refused is not None:
            log.info("config valid again")
            self._refused = None
        if self._applied is None or self._applied.digest != digest:
            landing = verdict.settings.templates_dir / "landing"
            self._applied = Applied(digest, verdict.project, verdict.composer, Pages(landing))
        return self._applied

    def project(self) -> Project:
        return self.applied().project

    @property
    def composer(self) -> Composer:
        return self.applied().composer

    @property
    def pages(self) -> Pages:
        return self.applied().pages

    @property
    def links(self) -> Links:
        return self.composer.links

    def working_project(self) -> Project:
        """The config as the files are now, or their ConfigError: what the preview shows a
        marketer who is editing (the pages and forms keep serving ``project()``)."""
        return load_project_cached(self.settings.config_dir)

    def working_composer(self) -> Composer:
        """A composer on the working templates, seeing each edit: the preview's."""
        if self._working is None:
            self._working = build_composer(self.settings, auto_reload=True)
        return self._working

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
