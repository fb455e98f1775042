"""A form in several languages sets each of its texts in each; its defaults come from our
catalogs. Errors name the file, the line and the field."""

from __future__ import annotations

import pytest
import yaml

from nurture.config.project import load_project
from nurture.config.yamlfile import ConfigError
from nurture.settings import Settings
from tests.conftest import CONTENT
from tests.locales.project import FORM, multilingual


def _problems(settings, tmp_path, **form):
    ours = multilingual(settings.model_copy(), tmp_path, **form)
    with pytest.raises(ConfigError) as exc:
        load_project(ours.config_dir)
    return ours, exc.value.problems


@pytest.fixture
def settings():  # no database: the config loader alone
    return Settings(config_dir=CONTENT / "config", templates_dir=CONTENT / "templates")


def test_the_three_language_form_loads_with_catalog_defaults(settings, tmp_path):
    project = load_project(multilingual(settings, tmp_path).config_dir)
    form = project.forms["guide"]
    assert form.submit_label is None and form.confirmation_subject is None
    assert form.confirmed.title is None
    assert project.locales[:3] == ["de", "sv", "en"]


def test_a_text_lacking_a_locale_is_an_error_with_its_line(settings, tmp_path):
    thank_you = {"title": {"de": "Danke", "sv": "Tack"}, "message": "Nur deutsch"}
    ours, problems = _problems(settings, tmp_path, thank_you=thank_you, submit_label="Los")
    found = {(p.file.name, p.field): p for p in problems}
    lines = (ours.config_dir / "forms" / "guide.yaml").read_text().splitlines()
    title = found[("guide.yaml", "thank_you.title")]
    assert "no text for en" in title.message and "title:" in lines[title.line - 1]
    assert "one text per locale" in found[("guide.yaml", "thank_you.message")].message
    submit = found[("guide.yaml", "submit_label")]
    assert lines[submit.line - 1].startswith("submit_label:")


def test_a_field_label_lacking_a_locale(settings, tmp_path):
    fields = [*FORM["fields"][:1], {"name": "email", "type": "email", "label": {"de": "E-Mail"}}]
    _, problems = _problems(settings, tmp_path, fields=fields)
    [problem] = problems
    assert problem.field == "fields.1.label" and "no text for sv, en" in problem.message


def test_a_rep_locale_must_be_a_locale(settings, tmp_path):
    ours = multilingual(settings, tmp_path)
    path = ours.config_dir / "sales.yaml"
    sales = yaml.safe_load(path.read_text())
    sales["fallback_owner"]["locale"] = "klingon"
    path.write_text(yaml.safe_dump(sales, allow_unicode=True))
    with pytest.raises(ConfigError) as exc:
        load_project(ours.config_dir)
    [problem] = exc.value.problems
    assert problem.field == "fallback_owner.locale" and problem.line is not None
