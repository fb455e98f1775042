"""A reply is available to scoring (the replied rule) and to goals (goals: [{event: replied}]);
an auto-reply is neither."""

from __future__ import annotations

import shutil
from datetime import timedelta

from sqlalchemy import select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.journeys.goals import apply_goals
from nurture.ledger.models import Enrollment, EnrollmentState
from nurture.scoring.score import breakdown, score_leads
from tests.inbox import mail
from tests.inbox.conftest import LATER, deliver, send_welcome
from tests.inbox.test_ingest import ingest


async def test_a_reply_scores_and_an_auto_reply_does_not(settings, maildir):
    a, b = await send_welcome(settings, 2)
    deliver(
        maildir,
        mail.reply(a.email, in_reply_to=a.message_id),
        mail.auto_reply(b.email, b.message_id, "Auto-Submitted: auto-replied", "Urlaub"),
    )
    await ingest(settings, maildir)
    project = load_project(settings.config_dir)
    url = settings.database_url.get_secret_value()
    async with session_scope(url) as session:
        await score_leads(session, project.scoring, LATER)
    async with session_scope(url) as session:
        replied = {r: p for r, _, p in (await breakdown(session, a.lead_id)).rules}
        auto = {r: p for r, _, p in (await breakdown(session, b.lead_id)).rules}
    assert round(replied["replied"]) == 30
    assert "replied" not in auto


async def test_a_replied_goal_ends_the_drip_through_the_goal_code(settings, maildir, tmp_path):
    # on_reply: continue, so it is the goal, not the reply's own exit, that ends the drip
    config = tmp_path / "config"
    shutil.copytree(settings.config_dir, config)
    path = config / "sequences" / "b2b-nurture.yaml"
    text = path.read_text().replace(
        "goals:\n  - stage: mql\n",
        "on_reply: continue\ngoals:\n  - stage: mql\n  - event: replied\n",
    )
    path.write_text(text)
    custom = settings.model_copy(update={"config_dir": config})
    a, _ = await send_welcome(custom, 2)
    deliver(maildir, mail.reply(a.email, in_reply_to=a.message_id))
    report = await ingest(custom, maildir)
    assert report.exited == 0
    url = custom.database_url.get_secret_value()
    async with session_scope(url) as session:
        ended = await apply_goals(session, load_project(config), LATER + timedelta(minutes=1))
    assert ended == 1
    async with session_scope(url) as session:
        rows = dict(
            (
                await session.execute(
                    select(Enrollment.lead_id, Enrollment.exit_reason).where(
                        Enrollment.state == EnrollmentState.EXITED
                    )
                )
            ).all()
        )
    assert rows == {a.lead_id: "goal_replied"}
