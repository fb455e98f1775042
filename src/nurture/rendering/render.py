"""Render a touch: subject, HTML and text from templates/email/, in a sandbox.

Lead data only ever enters as context values: a first name of ``{{ 7*7 }}`` is printed as
those characters. Compiled templates and inlined CSS are cached per template, not per lead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from nurture.compat.jinja import flat_globals
from nurture.locales.format import FILTERS
from nurture.rendering.inline import InlineError, inline_template_source

RELOAD_SECONDS = 2.0


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


class _InliningLoader(FileSystemLoader):
    def __init__(self, folder: Path):
        super().__init__(str(folder))
        self.css_path = folder / "style.css"

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = super().get_source(environment, template)
        if not template.endswith(".html.j2") or not self.css_path.exists():
            return source, filename, uptodate
        css_mtime = self.css_path.stat().st_mtime
        try:
            source = inline_template_source(source, self.css_path.read_text(encoding="utf-8"))
        except InlineError as exc:
            raise TemplateError(f"{filename}: {exc}") from None

        def fresh() -> bool:
            return bool(uptodate and uptodate()) and self.css_path.stat().st_mtime == css_mtime

        return source, filename, fresh


def _autoescape(name: str | None) -> bool:
    return name is not None and ".html" in name


class Renderer:
    """Renders email templates; one instance per process is enough (it caches)."""

    def __init__(self, templates_dir: Path, auto_reload: bool = True):
        """``auto_reload=False`` for short-lived renderers (a dispatch pass builds its own):
        Jinja then stops checking files on every render, parent layouts included."""
        self.folder = templates_dir / "email"
        self.env = ImmutableSandboxedEnvironment(
            loader=_InliningLoader(self.folder),
            autoescape=_autoescape,
            undefined=StrictUndefined,
            auto_reload=auto_reload,
            keep_trailing_newline=True,
        )
        # Subjects are plain text (a header), so no HTML escaping; still sandboxed.
        self.subject_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
        # Dates, times, numbers, money for the context's ``locale`` (docs/config.md#languages).
        self.env.filters.update(FILTERS)
        self.subject_env.filters.update(FILTERS)
        self._subjects: dict[str, Template] = {}
        # Jinja checks a template's files on every lookup; a batch renders the same few
        # templates thousands of times, so look each up again at most every few seconds.
        self._pairs: dict[tuple[str, str | None], tuple[float, tuple[Template, Template]]] = {}

    def subject_template(self, source: str) -> Template:
        compiled = self._subjects.get(source)
        if compiled is None:
            compiled = self._subjects[source] = flat_globals(self.subject_env.from_string(source))
        return compiled

    def file_names(self, name: str, part: str, locale: str | None) -> list[str]:
        """Where a template's part (html, txt) is looked for: the locale's own file, then
        the language's, then the one for every locale."""
        names = [f"{name}.{locale}.{part}.j2"] if locale else []
        if locale and "-" in locale:
            names.append(f"{name}.{locale.partition('-')[0]}.{part}.j2")
        return [*names, f"{name}.{part}.j2"]

    def localized_file(self, name: str, part: str, locale: str | None) -> str | None:
        """The file a template's part is rendered from for ``locale``, or None."""
        return next(
            (n for n in self.file_names(name, part, locale) if (self.folder / n).is_file()), None
        )

    def templates(self, name: str, locale: str | None = None) -> tuple[Template, Template]:
        now = time.monotonic()
        hit = self._pairs.get((name, locale))
        if hit is not None and now - hit[0] < RELOAD_SECONDS:
            return hit[1]
        pair = (
            flat_globals(self.env.select_template(self.file_names(name, "html", locale))),
            flat_globals(self.env.select_template(self.file_names(name, "txt", locale))),
        )
        self._pairs[(name, locale)] = (now, pair)
        return pair

    def sources(self, template: str, locale: str | None = None) -> str:
        """The raw source of a template's two parts and the layouts they extend."""
        names = [self.localized_file(template, part, locale) for part in ("html", "txt")]
        names += [n for n in ("layout.html.j2", "layout.txt.j2") if (self.folder / n).exists()]
        return "\n".join((self.folder / n).read_text(encoding="utf-8") for n in names if n)

    def render(
        self,
        template: str,
        subject: str,
        context: Mapping[str, Any],
        locale: str | None = None,
    ) -> RenderedEmail:
        html, text = self.templates(template, locale)
        return RenderedEmail(
            subject=self.subject_template(subject).render(context),
            html=html.render(context),
            text=text.render(context),
        )
