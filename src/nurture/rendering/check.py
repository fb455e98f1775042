"""Render every email of a project's sequences with sample leads: template errors with file
and line. (The hand-off email is checked by handoff/check.py.)"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from jinja2 import TemplateError, TemplateSyntaxError

from nurture.config.project import Project
from nurture.config.yamlfile import Problem, load_yaml
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


def check_sequences(project: Project, composer: Composer) -> list[Problem]:
    problems: list[Problem] = []
    for sequence in project.sequences.values():
        doc = load_yaml(project.files[sequence.id])
        for index, step in enumerate(sequence.steps):
            for sample, lead in SAMPLE_LEADS.items():
                try:
                    composer.compose(sequence, index, lead_context(lead), "sample", EPOCH)
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
