"""Render the rep's hand-off email (new and reminder) with a made-up hand-off: template errors
with file and line, for `nurture config check`."""

from __future__ import annotations

from itertools import product
from pathlib import Path

from jinja2 import TemplateError

from nurture.config.project import Project
from nurture.config.yamlfile import Problem
from nurture.handoff.notify import handoff_message, sample_context
from nurture.locales.catalog import LANGUAGES
from nurture.rendering.check import template_line
from nurture.rendering.compose import Composer
from nurture.utcclock import EPOCH


def check_handoff_email(project: Project, composer: Composer) -> list[Problem]:
    if project.sales is None:
        return []
    for reminder, locale in product((False, True), LANGUAGES):
        try:
            context = sample_context(composer, EPOCH)
            handoff_message(composer, project.sales, context, reminder, EPOCH, locale)
        except (TemplateError, ValueError, TypeError, AttributeError) as exc:
            filename, line = template_line(exc.__traceback__)
            where = Path(filename or "templates/email/sales/handoff")
            return [Problem(where, line, "sales hand-off email", str(exc))]
    return []
