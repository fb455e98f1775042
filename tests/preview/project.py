"""A tmp project for the preview: the fixture project plus a sequence in de, sv and en with an
experiment (two variants) and a step whose Swedish template fails, and an app on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from nurture.settings import Settings
from tests.conftest import CONTENT

SEQUENCE = {
    "id": "trilingual",
    "name": "Three languages",
    "locales": ["de", "sv", "en"],
    "sender": {
        "name": "Lena Vogt",
        "email": "lena.vogt@planwerk.example",
        "company": "Planwerk GmbH",
        "address": "Teststraße 1, 10119 Berlin",
    },
    "send_window": {"start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"},
    "steps": [
        {
            "id": "hello",
            "template": "tri/hello",
            "subject": {
                "de": "Hallo {{ lead.first_name }}",
                "sv": "Hej {{ lead.first_name }}",
                "en": "Hi {{ lead.first_name }}",
            },
            "delay": "0",
        },
        {
            "id": "offer",
            "template": "tri/offer",
            "subject": {"de": "Angebot", "sv": "Erbjudande", "en": "Offer"},
            "delay": "2d",
            "variants": [
                {"id": "a", "weight": 3},
                {
                    "id": "b",
                    "weight": 1,
                    "subject": {"de": "Angebot B", "sv": "Erbjudande B", "en": "Offer B"},
                },
            ],
        },
        {
            "id": "broken",
            "template": "tri/broken",
            "subject": {"de": "Kaputt", "sv": "Trasig", "en": "Broken"},
            "delay": "1d",
        },
    ],
}
GREETING = {"de": "Hallo", "sv": "Hej", "en": "Hi"}
OFFER = {"de": "Unser Angebot", "sv": "Vårt erbjudande", "en": "Our offer"}


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def trilingual(settings: Settings, tmp_path: Path) -> Settings:
    config, templates = tmp_path / "config", tmp_path / "templates"
    shutil.copytree(CONTENT / "config", config)
    shutil.copytree(CONTENT / "templates", templates)
    (config / "sequences" / "trilingual.yaml").write_text(yaml.safe_dump(SEQUENCE))
    tri = templates / "email" / "tri"
    tri.mkdir()
    for locale, hello in GREETING.items():
        _write(
            tri,
            f"hello.{locale}.html.j2",
            f'<!doctype html><html lang="{locale}"><body>'
            f"<p>{hello} {{{{ lead.first_name }}}},</p><p>tri-{locale}</p></body></html>\n",
        )
        _write(tri, f"hello.{locale}.txt.j2", f"{hello} {{{{ lead.first_name }}}},\ntri-{locale}\n")
        offer = OFFER[locale]
        _write(tri, f"offer.{locale}.html.j2", f"<p>{offer}</p>\n")
        _write(tri, f"offer.{locale}.txt.j2", f"{offer}\n")
    # The German one works; the Swedish one asks for a field no lead has, the English text
    # part does not compile (line 2).
    _write(tri, "broken.html.j2", "<p>ok</p>\n")
    _write(tri, "broken.txt.j2", "ok\n")
    _write(tri, "broken.sv.html.j2", "<p>{{ lead.nothing.deeper }}</p>\n")
    _write(tri, "broken.sv.txt.j2", "{{ lead.nothing.deeper }}\n")
    _write(tri, "broken.en.txt.j2", "ok\n{% if %}\n")
    return settings.model_copy(update={"config_dir": config, "templates_dir": templates})
