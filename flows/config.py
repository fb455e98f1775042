"""The config a pass applies, as a flow run shows it: the checks every pass runs on the
working files (the same as ``nurture config check``, so a config one pass applies no other
refuses), and a warning with an artifact when they were refused."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from nurture.config.project import Project
from nurture.config.yamlfile import Problem
from nurture.handoff.check import check_handoff_email
from nurture.liveconfig.live import Live, refused_markdown
from nurture.rendering.check import check_sequences
from nurture.rendering.compose import Composer

REFUSED_KEY = "config-refused"


def config_checks(project: Project, composer: Composer) -> list[Problem]:
    """Every sequence email and the hand-off email rendered with the sample leads."""
    return check_sequences(project, composer) + check_handoff_email(project, composer)


async def show_live(live: Live) -> None:
    """In a flow run: a refused config is a warning in the run's logs and an artifact
    listing each problem with file and line; a newly applied one is logged."""
    log = get_run_logger()
    if live.refused:
        log.warning(
            "config refused, %d problem(s); still live: config %s\n%s",
            len(live.refused),
            live.hash[:12],
            "\n".join(str(p) for p in live.refused),
        )
        await create_markdown_artifact(
            refused_markdown(live),
            key=REFUSED_KEY,
            description=f"Config refused; {live.hash[:12]} kept",
        )
    elif live.changed:
        log.info("applied config %s", live.hash[:12])
