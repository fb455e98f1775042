"""nurture.compat.itsdangerous against the installed itsdangerous: the signer derives its key
once for any number of signatures, and signs and verifies exactly as itsdangerous' own. A
failure here means itsdangerous changed underneath: read the module's docstring."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
from itsdangerous import BadSignature, Signer

from nurture.compat.itsdangerous import KeyCachingSigner


def test_the_major_version_is_the_one_the_module_was_checked_against() -> None:
    assert version("itsdangerous").split(".")[0] == "2", "re-check nurture/compat/itsdangerous.py"


def test_derive_key_takes_an_optional_secret_key() -> None:
    parameters = inspect.signature(Signer.derive_key).parameters
    assert list(parameters) == ["self", "secret_key"] and parameters["secret_key"].default is None


def test_the_key_is_derived_once_for_many_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    derive = Signer.derive_key

    def counting(self: Signer, secret_key: str | bytes | None = None) -> bytes:
        calls.append(secret_key)
        return derive(self, secret_key)

    monkeypatch.setattr(Signer, "derive_key", counting)
    signer = KeyCachingSigner("secret", salt="nurture.test")
    for i in range(5):
        signer.sign(f"value-{i}")
    # get_signature asks for the key with no argument: the cache answers after the first.
    assert calls == [None]


def test_it_signs_and_verifies_as_itsdangerous_does() -> None:
    ours = KeyCachingSigner("secret", salt="nurture.test")
    theirs = Signer("secret", salt="nurture.test")
    token = ours.sign("abc")
    assert token == theirs.sign("abc")
    assert ours.unsign(theirs.sign("xyz")) == b"xyz" and theirs.unsign(token) == b"abc"
    with pytest.raises(BadSignature):
        ours.unsign(token[:-1] + (b"A" if token[-1:] != b"A" else b"B"))
    with pytest.raises(BadSignature):  # another salt (purpose): another key
        KeyCachingSigner("secret", salt="nurture.other").unsign(token)


def test_rotated_keys_still_verify() -> None:
    """verify_signature derives the key of each of secret_keys: those are not cached."""
    old = KeyCachingSigner("old", salt="nurture.test").sign("abc")
    rotated = KeyCachingSigner(["old", "new"], salt="nurture.test")
    assert rotated.unsign(old) == b"abc"
    assert rotated.sign("abc") == Signer("new", salt="nurture.test").sign("abc")
