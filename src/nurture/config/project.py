"""Load and cross-check every config file of a project: forms and sequences."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from nurture.config.forms import FormConfig
from nurture.config.policy import PolicyConfig
from nurture.config.sales import SalesConfig
from nurture.config.scoring import ScoringConfig
from nurture.config.sequences import SequenceConfig
from nurture.config.signals import SignalsConfig
from nurture.config.sources import SourcesConfig
from nurture.config.yamlfile import ConfigError, Problem, YamlDoc, load_yaml, validate
from nurture.leads.stages import FUNNEL, Stage, at_or_after
from nurture.locales.codes import missing


@dataclass(frozen=True)
class Project:
    forms: dict[str, FormConfig] = field(default_factory=dict)
    sequences: dict[str, SequenceConfig] = field(default_factory=dict)
    # Hash of each sequence file: recorded on enrollments as the sequence version.
    versions: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    scoring: ScoringConfig | None = None  # config/scoring.yaml, if there is one
    sales: SalesConfig | None = None  # config/sales.yaml, if there is one
    sources: SourcesConfig | None = None  # config/sources.yaml: what lead sources cost
    # config/signals.yaml: human or machine, bounces, the website (defaults without the file)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    # config/policy.yaml: the contact policy across sequences (defaults without the file)
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    @property
    def locales(self) -> list[str]:
        """Every locale a form or sequence declares, in order (forms first), the first
        being the project's default: what a lead's locale is detected against."""
        declared = [
            *(c for f in self.forms.values() for c in f.locales),
            *(c for s in self.sequences.values() for c in s.locales),
        ]
        return list(dict.fromkeys(declared)) or ["de"]

    def sequences_for_form(self, form_id: str) -> list[SequenceConfig]:
        """Sequences a form enrols into: named by the form or triggered by it."""
        form = self.forms[form_id]
        ids = list(form.sequences)
        ids += [s.id for s in self.sequences.values() if form_id in s.trigger.forms]
        return [self.sequences[i] for i in dict.fromkeys(ids)]


def _load_kind(folder: Path, model: type, problems: list[Problem]) -> list[tuple[YamlDoc, object]]:
    out = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            doc = load_yaml(path)
            obj = validate(doc, model)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if obj.id != path.stem:  # type: ignore[attr-defined]
            problems.append(doc.problem(["id"], f"id must match the file name ({path.stem!r})"))
            continue
        out.append((doc, obj))
    return out


def _load_one(path: Path, model: type, problems: list[Problem]) -> tuple[YamlDoc, object] | None:
    if not path.exists():
        return None
    try:
        doc = load_yaml(path)
        return doc, validate(doc, model)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def _trigger_problems(doc: YamlDoc, seq: SequenceConfig) -> list[Problem]:
    """A trigger that can never start the sequence, or that its own goal ends at once."""
    stage = seq.trigger.stage
    if stage is None:
        return []
    if stage == Stage.SUBSCRIBER:
        # no lead changes to subscriber: it is where every lead starts
        return [doc.problem(["trigger", "stage"], "every lead starts as subscriber: use forms")]
    return [
        doc.problem(
            ["goals", i, "stage"], f"this goal ends the sequence its trigger {stage!r} starts"
        )
        for i, goal in enumerate(seq.goals)
        if goal.stage and stage in FUNNEL and stage in at_or_after(Stage(goal.stage))
    ]


def _locale_problems(doc: YamlDoc, seq: SequenceConfig) -> list[Problem]:
    """A sequence in several languages needs each step's subject in each (docs/config.md);
    the template files per locale are checked with the templates (rendering/check.py)."""
    if len(seq.locales) < 2:
        return []
    problems = []
    for i, step in enumerate(seq.steps):
        texts = [(["steps", i, "subject"], step.subject)]
        texts += [
            (["steps", i, "variants", k, "subject"], v.subject)
            for k, v in enumerate(step.variants)
            if v.subject is not None
        ]
        for path, text in texts:
            if isinstance(text, str):
                problems.append(
                    doc.problem(path, f"one subject per locale ({', '.join(seq.locales)})")
                )
            elif lacking := missing(text, seq.locales):
                problems.append(doc.problem(path, f"no subject for {', '.join(lacking)}"))
    # A link may be one URL for every language; one given per locale needs each.
    for name, value in seq.links.items():
        if lacking := missing(value, seq.locales):
            problems.append(doc.problem(["links", name], f"no URL for {', '.join(lacking)}"))
    if seq.topic_label is not None and (lacking := missing(seq.topic_label, seq.locales)):
        problems.append(doc.problem(["topic_label"], f"no text for {', '.join(lacking)}"))
    return problems


def _form_texts(form: FormConfig) -> list[tuple[list[str | int], object]]:
    """Every text a form sets (a default it leaves to the catalog is not one), by path."""
    texts: list[tuple[list[str | int], object]] = [(["title"], form.title)]
    if form.description:
        texts.append((["description"], form.description))
    for key in ("submit_label", "confirmation_subject"):
        if getattr(form, key) is not None:
            texts.append(([key], getattr(form, key)))
    texts.append((["consent", "text"], form.consent.text))
    for page in ("thank_you", "confirmed"):
        value = getattr(form, page)
        if value is None:
            continue
        if value.title is not None:
            texts.append(([page, "title"], value.title))
        if value.message:
            texts.append(([page, "message"], value.message))
    for i, f in enumerate(form.fields):
        texts.append((["fields", i, "label"], f.label))
        if f.placeholder:
            texts.append((["fields", i, "placeholder"], f.placeholder))
    return texts


def _form_locale_problems(doc: YamlDoc, form: FormConfig) -> list[Problem]:
    """A form in several languages shows each of its texts in each (docs/config.md)."""
    if len(form.locales) < 2:
        return []
    problems = []
    for path, text in _form_texts(form):
        if isinstance(text, str):
            problems.append(doc.problem(path, f"one text per locale ({', '.join(form.locales)})"))
        elif lacking := missing(text, form.locales):  # type: ignore[arg-type]
            problems.append(doc.problem(path, f"no text for {', '.join(lacking)}"))
    return problems


def _topic_label_problems(sequences: list[tuple[YamlDoc, SequenceConfig]]) -> list[Problem]:
    """Sequences sharing a topic share its label: one page shows one checkbox per topic."""
    labels: dict[str, tuple[str, object]] = {}
    problems = []
    for doc, seq in sequences:
        if seq.topic is None:
            if seq.topic_label is not None:
                problems.append(doc.problem(["topic_label"], "a topic_label needs a topic"))
            continue
        if seq.topic_label is None:
            continue
        first = labels.setdefault(seq.topic, (seq.id, seq.topic_label))
        if first[1] != seq.topic_label:
            problems.append(
                doc.problem(
                    ["topic_label"],
                    f"topic {seq.topic!r} is labelled differently in sequence {first[0]!r}",
                )
            )
    return problems


def load_project(config_dir: Path) -> Project:
    """Every form and sequence, or a ConfigError listing every problem with file and line."""
    problems: list[Problem] = []
    if not config_dir.is_dir():
        raise ConfigError([Problem(config_dir, None, "", "config folder not found")])
    forms = _load_kind(config_dir / "forms", FormConfig, problems)
    sequences = _load_kind(config_dir / "sequences", SequenceConfig, problems)
    scoring = _load_one(config_dir / "scoring.yaml", ScoringConfig, problems)
    sales = _load_one(config_dir / "sales.yaml", SalesConfig, problems)
    sources = _load_one(config_dir / "sources.yaml", SourcesConfig, problems)
    signals = _load_one(config_dir / "signals.yaml", SignalsConfig, problems)
    policy = _load_one(config_dir / "policy.yaml", PolicyConfig, problems)
    project = Project(
        forms={f.id: f for _, f in forms},  # type: ignore[attr-defined]
        sequences={s.id: s for _, s in sequences},  # type: ignore[attr-defined]
        versions={
            s.id: hashlib.sha256(d.path.read_bytes()).hexdigest()[:16]  # type: ignore[attr-defined]
            for d, s in sequences
        },
        files={o.id: d.path for d, o in [*forms, *sequences]},  # type: ignore[attr-defined]
        scoring=scoring[1] if scoring else None,  # type: ignore[arg-type]
        sales=sales[1] if sales else None,  # type: ignore[arg-type]
        sources=sources[1] if sources else None,  # type: ignore[arg-type]
        signals=signals[1] if signals else SignalsConfig(),  # type: ignore[arg-type]
        policy=policy[1] if policy else PolicyConfig(),  # type: ignore[arg-type]
    )
    # A reference to a file that failed to load is not a second problem: it was reported.
    broken = {p.file.stem for p in problems}
    for doc, form in forms:
        problems += _form_locale_problems(doc, form)  # type: ignore[arg-type]
        for i, seq in enumerate(form.sequences):  # type: ignore[attr-defined]
            if seq not in project.sequences and seq not in broken:
                problems.append(doc.problem(["sequences", i], f"no sequence {seq!r} in config"))
    referral = [(doc, form) for doc, form in forms if form.referral]  # type: ignore[attr-defined]
    for doc, _ in referral[1:]:
        first = referral[0][1].id  # type: ignore[attr-defined]
        problems.append(doc.problem(["referral"], f"form {first!r} is the referral form already"))
    for doc, seq in sequences:
        for i, form_id in enumerate(seq.trigger.forms):  # type: ignore[attr-defined]
            if form_id not in project.forms and form_id not in broken:
                problems.append(doc.problem(["trigger", "forms", i], f"no form {form_id!r}"))
        problems += _trigger_problems(doc, seq)  # type: ignore[arg-type]
        problems += _locale_problems(doc, seq)  # type: ignore[arg-type]
    problems += _topic_label_problems(sequences)  # type: ignore[arg-type]
    if sales:
        doc, config = sales
        recycle = config.recycle_sequence  # type: ignore[attr-defined]
        if recycle and recycle not in project.sequences and recycle not in broken:
            problems.append(doc.problem(["recycle_sequence"], f"no sequence {recycle!r}"))
    if policy:
        doc, config = policy
        for i, seq in enumerate(config.exempt_sequences):  # type: ignore[attr-defined]
            if seq not in project.sequences and seq not in broken:
                problems.append(doc.problem(["exempt_sequences", i], f"no sequence {seq!r}"))
    if project.sales and not project.scoring:
        problems.append(
            Problem(
                config_dir / "sales.yaml",
                None,
                "",
                "hand-off needs config/scoring.yaml (who qualifies)",
            )
        )
    if problems:
        raise ConfigError(problems)
    return project


_cache: dict[Path, tuple[tuple[float, ...], Project | ConfigError]] = {}
_checked: dict[Path, float] = {}
RECHECK_SECONDS = 1.0


def load_project_cached(config_dir: Path) -> Project:
    """Reloads when any config file changes, so a running server picks up edits (looking at
    the files at most once a second: every request asks, and a glob and stats cost more than
    the request's own work). A config that does not load raises its ConfigError on every
    call until the files change, never the project from before in between."""
    hit = _cache.get(config_dir)
    now = time.monotonic()
    if not (hit and now - _checked.get(config_dir, 0.0) < RECHECK_SECONDS):
        files = sorted([*config_dir.glob("*/*.y*ml"), *config_dir.glob("*.y*ml")])
        stamp = (*tuple(p.stat().st_mtime for p in files), len(files))
        _checked[config_dir] = now
        if not (hit and hit[0] == stamp):
            try:
                loaded: Project | ConfigError = load_project(config_dir)
            except ConfigError as exc:
                loaded = exc
            hit = _cache[config_dir] = (stamp, loaded)
    assert hit is not None
    if isinstance(hit[1], ConfigError):
        raise ConfigError(hit[1].problems)
    return hit[1]
