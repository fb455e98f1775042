"""The composer caches what is the same for every lead at a step. A config reloaded or edited
is a new object, and a dead object's id() is soon another's: the cache must never serve one
sequence's context (sender, name, links) or trackable URLs for another."""

from __future__ import annotations

from nurture.config.project import load_project
from nurture.links import Links
from nurture.rendering.compose import Composer
from nurture.rendering.render import Renderer
from nurture.tokens import Tokens
from tests.conftest import CONTENT

SEQUENCE = load_project(CONTENT / "config").sequences["b2b-nurture"]


def composer() -> Composer:
    return Composer(Renderer(CONTENT / "templates"), Links(Tokens("k"), "https://n.example"))


def test_a_new_sequence_object_is_never_served_an_old_ones_cache():
    c = composer()
    # Each edited copy dies before the next is made, so CPython hands the next one the same
    # memory, and the same id(), at once: a cache keyed by id() fails in the first rounds.
    for n in range(20):
        name, link = f"Newsletter {n}", f"https://n{n}.example/demo"
        edited = SEQUENCE.model_copy(
            update={"name": name, "links": {**SEQUENCE.links, "demo": link}}, deep=True
        )
        assert c._step_context(edited, 0)["sequence"]["name"] == name
        assert c._links_for(edited, "de")["demo"] == link
        assert link in c._trackable(edited, 0, "de", None)
        del edited


def test_an_equal_sequence_reloaded_reuses_the_cached_context():
    c = composer()
    first = c._step_context(SEQUENCE, 1)
    reloaded = load_project(CONTENT / "config").sequences["b2b-nurture"]
    assert reloaded is not SEQUENCE
    assert c._step_context(reloaded, 1) is first
    assert c._step_context(SEQUENCE, 1) is first
    assert c._step_context(SEQUENCE, 2) is not first
