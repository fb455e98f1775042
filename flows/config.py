"""The config a pass applies, as a flow run shows it: the checks every pass runs on the
working files (``nurture.checks``, the same as ``nurture config check``), and a warning with
an artifact when they were refused."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from nurture.checks import config_checks
from nurture.liveconfig.live import Live, refused_markdown

REFUSED_KEY = "config-refused"


__all__ = ["REFUSED_KEY", "config_checks", "show_live"]


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
