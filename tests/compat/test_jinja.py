"""nurture.compat.jinja against the installed Jinja: a template's globals are the
environment's seen through a mapping, and rendering reads them from ``Template.globals`` at
each call, so the flattened dict is what every render uses. A failure here means Jinja changed
underneath: read the module's docstring."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from nurture.compat.jinja import flat_globals


def _template(source: str) -> Template:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(source)


def test_the_major_version_is_the_one_the_module_was_checked_against() -> None:
    assert version("jinja2").split(".")[0] == "3", "re-check nurture/compat/jinja.py"


def test_template_globals_are_a_mapping_over_the_environments_not_a_dict() -> None:
    template = _template("x")
    assert isinstance(template.globals, Mapping) and not isinstance(template.globals, dict)
    assert dict(template.globals) == dict(template.environment.globals)


def test_flattened_globals_are_a_dict_with_the_same_items() -> None:
    template = _template("x")
    before = dict(template.globals)
    assert flat_globals(template) is template
    assert type(template.globals) is dict and template.globals == before
    flattened = template.globals
    assert flat_globals(template).globals is flattened  # once only


def test_render_reads_the_flattened_dict() -> None:
    template = flat_globals(_template("{{ marker }} {{ range(3) | list }} {{ lead.name }}"))
    template.globals["marker"] = "from-the-dict"  # only visible if render reads template.globals
    assert template.render({"lead": {"name": "Ada"}}) == "from-the-dict [0, 1, 2] Ada"
    assert "marker" not in template.environment.globals


def test_context_values_still_win_over_globals() -> None:
    template = flat_globals(_template("{{ range }}"))
    assert template.render({"range": "mine"}) == "mine"
