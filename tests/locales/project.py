"""A tmp project in three languages: the fixture project's config plus a form in de, sv and
en, with the shipped landing pages, confirmation and hand-off emails (the fixture's simpler
copies stay as other tests expect them)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from nurture.settings import Settings
from tests.conftest import CONTENT, SHIPPED

FORM: dict[str, Any] = {
    "id": "guide",
    "title": {"de": "Der Leitfaden", "sv": "Guiden", "en": "The guide"},
    "locales": ["de", "sv", "en"],
    "sequences": ["b2b-nurture"],
    "double_opt_in": True,
    "consent": {
        "version": "v1",
        "text": {
            "de": "Ja, ich möchte E-Mails erhalten.",
            "sv": "Ja, jag vill få mejl.",
            "en": "Yes, I would like to get emails.",
        },
    },
    "thank_you": {
        "title": {"de": "Fast geschafft", "sv": "Nästan klart", "en": "Almost done"},
        "message": {"de": "Bitte bestätigen.", "sv": "Bekräfta gärna.", "en": "Please confirm."},
    },
    "fields": [
        {
            "name": "first_name",
            "max_length": 100,
            "label": {"de": "Vorname", "sv": "Förnamn", "en": "First name"},
        },
        {
            "name": "email",
            "type": "email",
            "required": True,
            "label": {"de": "E-Mail", "sv": "E-post", "en": "Email"},
        },
        {
            "name": "country",
            "max_length": 100,
            "label": {"de": "Land", "sv": "Land", "en": "Country"},
        },
    ],
}


def multilingual(settings: Settings, tmp_path: Path, **form: Any) -> Settings:
    config, templates = tmp_path / "config", tmp_path / "templates"
    shutil.copytree(CONTENT / "config", config)
    shutil.copytree(CONTENT / "templates", templates)
    for page in (SHIPPED / "templates" / "landing").glob("*.html.j2"):
        if not page.name.startswith("leitfaden"):
            shutil.copy(page, templates / "landing" / page.name)
    email = SHIPPED / "templates" / "email"
    for f in [*email.glob("confirm*.j2"), *(email / "sales").glob("*.j2")]:
        target = templates / "email" / f.relative_to(email)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    for old in (templates / "email" / "sales").glob("handoff.*.j2"):
        if old.name.count(".") == 2:  # the fixture's unsuffixed copies: ours replace them
            old.unlink()
    body = {**FORM, **form}
    (config / "forms" / f"{body['id']}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return settings.model_copy(update={"config_dir": config, "templates_dir": templates})
