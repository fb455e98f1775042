"""Every check a config must pass besides loading, in one place: what `nurture config check`
and `nurture plan` report, and what every pass refuses a config for (so a config one of them
accepts, none refuses)."""

from __future__ import annotations

from nurture.config.project import Project
from nurture.config.yamlfile import Problem
from nurture.handoff.check import check_handoff_email
from nurture.rendering.check import check_sequences
from nurture.rendering.compose import Composer


def config_checks(project: Project, composer: Composer) -> list[Problem]:
    """Every sequence email and the hand-off email rendered with the sample leads."""
    return check_sequences(project, composer) + check_handoff_email(project, composer)
