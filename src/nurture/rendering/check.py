"""Render every email of a project's sequences with sample leads: template errors with file
and line. (The hand-off email is checked by handoff/check.py.)"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from jinja2 import TemplateError, TemplateSyntaxError

from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig, Step
from nurture.config.yamlfile import Problem, YamlDoc, load_yaml
from nurture.rendering.compose import SAMPLE_LEADS, Composer, lead_context
from nurture.utcclock import EPOCH


def template_line(tb: TracebackType | None) -> tuple[str | None, int | None]:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _missing_files(
    sequence: SequenceConfig, composer: Composer, doc: YamlDoc, index: int
) -> list[Problem]:
    """In a sequence of several languages, each template needs its own file per locale: a
    file for every locale would send one language to all (docs/config.md#languages)."""
    if len(sequence.locales) < 2:
        return []
    step = sequence.steps[index]
    problems = []
    names = [(["steps", index, "template"], step.template)]
    names += [
        (["steps", index, "variants", k, "template"], v.template)
        for k, v in enumerate(step.variants)
        if v.template
    ]
    for path, name in names:
        for locale in sequence.locales:
            for part in ("html", "txt"):
                found = composer.renderer.localized_file(name, part, locale)
                if found is None or found == f"{name}.{part}.j2":
                    problems.append(
                        doc.problem(path, f"no templates/email/{name}.{locale}.{part}.j2")
                    )
    return problems


def _arms(step: Step) -> list[str | None]:
    return [None, *(v.id for v in step.variants)]


def check_sequences(project: Project, composer: Composer) -> list[Problem]:
    problems: list[Problem] = []
    for sequence in project.sequences.values():
        doc = load_yaml(project.files[sequence.id])
        for index, step in enumerate(sequence.steps):
            missing = _missing_files(sequence, composer, doc, index)
            problems += missing
            if missing:
                continue
            cases = [
                (sample, lead, locale, arm)
                for locale in sequence.locales
                for arm in _arms(step)
                for sample, lead in SAMPLE_LEADS.items()
            ]
            for sample, lead, locale, arm in cases:
                try:
                    composer.compose(
                        sequence,
                        index,
                        lead_context(lead),
                        "sample",
                        EPOCH,
                        variant=arm,
                        locale=locale,
                    )
                except TemplateSyntaxError as exc:
                    problems.append(
                        Problem(
                            Path(exc.filename or step.template),
                            exc.lineno,
                            f"step {step.id}",
                            exc.message or str(exc),
                        )
                    )
                    break
                except (TemplateError, ValueError, TypeError, AttributeError) as exc:
                    filename, line = template_line(exc.__traceback__)
                    if filename is None:
                        problems.append(
                            doc.problem(
                                ["steps", index, "subject"], f"with the {sample} sample lead: {exc}"
                            )
                        )
                    else:
                        problems.append(
                            Problem(
                                Path(filename),
                                line,
                                f"step {step.id}",
                                f"with the {sample} sample lead: {exc}",
                            )
                        )
                    break
    return problems
