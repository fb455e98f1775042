"""`referral: true` on a form: where referral links lead; two such forms are a config error."""

from __future__ import annotations

import pytest

from nurture.config.project import load_project
from nurture.config.yamlfile import ConfigError
from nurture.loyalty.service import referral_form
from tests.config.test_errors import FORM, line_of, project_with


def test_the_form_marked_referral_is_the_referral_form(tmp_path):
    assert referral_form(load_project(project_with(tmp_path))) is None
    marked = FORM.replace("fields:", "referral: true\nfields:")
    (tmp_path / "forms/leitfaden.yaml").write_text(marked, encoding="utf-8")
    form = referral_form(load_project(tmp_path))
    assert form is not None and form.id == "leitfaden"


def test_a_second_referral_form_names_its_file_and_line(tmp_path):
    marked = FORM.replace("fields:", "referral: true\nfields:")
    config = project_with(tmp_path, form=marked)
    second = marked.replace("id: leitfaden", "id: empfehlung")
    (config / "forms/empfehlung.yaml").write_text(second, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_project(config)
    [problem] = info.value.problems
    assert problem.file.name == "leitfaden.yaml"  # empfehlung sorts first: it is the one
    assert (problem.field, problem.line) == ("referral", line_of(second, "referral:"))
    assert "'empfehlung' is the referral form already" in problem.message


def test_ref_is_a_reserved_field_name(tmp_path):
    broken = FORM.replace("name: company,", "name: ref,")
    with pytest.raises(ConfigError) as info:
        load_project(project_with(tmp_path, form=broken))
    assert "reserved" in str(info.value)
