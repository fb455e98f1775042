"""A project of its own for the loyalty tests: the fixture project, a referral form
(``empfehlung``, ``referral: true``) and a welcome email asking for a score and a referral."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import CONTENT

REFERRAL_FORM = """\
id: empfehlung
title: "Empfohlen"
referral: true
double_opt_in: false
consent: {version: "t1", text: "Ja, ich möchte E-Mails erhalten."}
thank_you: {title: "Danke"}
fields:
  - {name: email, type: email, label: "E-Mail", required: true}
"""

ASK = """
<p>Wie wahrscheinlich empfehlen Sie uns?
{% for s in range(11) %}<a href="{{ nps_url(s) }}">{{ s }}</a> {% endfor %}</p>
<p><a href="{{ referral_url() }}">Empfehlen</a></p>
{% endblock %}"""


@pytest.fixture
def loyalty_settings(settings, tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(CONTENT, project)
    (project / "config" / "forms" / "empfehlung.yaml").write_text(REFERRAL_FORM)
    welcome = project / "templates" / "email" / "b2b-nurture" / "01_welcome"
    html = welcome.with_suffix(".html.j2")
    html.write_text(html.read_text().replace("{% endblock %}", ASK))
    text = welcome.with_suffix(".txt.j2")
    text.write_text(
        text.read_text().replace(
            "{% endblock %}",
            "\n\n9 von 10: {{ nps_url(9) }}\nEmpfehlen: {{ referral_url() }}{% endblock %}",
        )
    )
    return settings.model_copy(
        update={"config_dir": project / "config", "templates_dir": project / "templates"}
    )
