"""Signed tokens for links: readable only with our key, for the purpose they were made for,
unchanged, and (timed ones) not after their age; any process with the key reads them."""

from __future__ import annotations

import re
import time

import pytest

from nurture.tokens import InvalidToken, Tokens

URL_SAFE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def test_a_timed_token_carries_its_payload_for_its_purpose():
    token = Tokens("key").make("confirm", {"consent": 42, "form": "leitfaden"})
    assert URL_SAFE.match(token)
    assert Tokens("key").read("confirm", token) == {"consent": 42, "form": "leitfaden"}


def test_a_timed_token_is_refused_for_another_purpose_key_or_after_a_change():
    token = Tokens("key").make("confirm", 42)
    payload, _, signature = token.rpartition(".")
    for purpose, key, altered in (
        ("unsubscribe", "key", token),
        ("confirm", "another-key", token),
        ("confirm", "key", f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{signature}"),
        ("confirm", "key", f"{payload}.{signature[::-1]}"),
        ("confirm", "key", "not-a-token"),
    ):
        with pytest.raises(InvalidToken):
            Tokens(key).read(purpose, altered)


def test_a_timed_token_expires_after_its_max_age(monkeypatch):
    token = Tokens("key").make("confirm", 42)
    assert Tokens("key").read("confirm", token, max_age_seconds=3600) == 42
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 7200)
    with pytest.raises(InvalidToken):
        Tokens("key").read("confirm", token, max_age_seconds=3600)
    assert Tokens("key").read("confirm", token, max_age_seconds=3 * 3600) == 42
    assert Tokens("key").read("confirm", token) == 42  # no max age: no expiry


def test_a_signed_value_reads_back_only_for_its_purpose_and_key():
    tokens = Tokens("key")
    token = tokens.sign("open", "2a")
    assert URL_SAFE.match(token) and tokens.unsign("open", token) == "2a"
    assert Tokens("key").unsign("open", token) == "2a"  # another process with the key
    for purpose, key, altered in (
        ("click", "key", token),
        ("open", "another-key", token),
        ("open", "key", "2b" + token[2:]),
        ("open", "key", token[:-2] + ("xx" if not token.endswith("xx") else "yy")),
        ("open", "key", "2a"),
    ):
        with pytest.raises(InvalidToken):
            Tokens(key).unsign(purpose, altered)


def test_signing_many_values_with_one_instance_keeps_each_one_apart():
    tokens = Tokens("key")
    signed = {value: tokens.sign("unsubscribe", value) for value in ("t1", "t2", "abc")}
    assert len(set(signed.values())) == 3
    assert {tokens.unsign("unsubscribe", t) for t in signed.values()} == set(signed)
    assert tokens.sign("open", "t1") != signed["t1"]  # the purpose is part of the signature
