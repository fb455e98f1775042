"""itsdangerous 2.x: a Signer that derives its key once.

Why: ``Signer.get_signature`` derives the key (an HMAC over the secret and salt, ~8 us) on every
``sign``, and a dispatch pass signs three links per email.

Relies on (tests/compat/test_itsdangerous.py checks both): ``get_signature`` calls
``self.derive_key()`` with no argument, and ``verify_signature`` calls
``self.derive_key(secret_key)`` for each of ``secret_keys`` (key rotation; those we leave alone).
"""

from __future__ import annotations

from functools import cached_property

from itsdangerous import Signer


class KeyCachingSigner(Signer):
    @cached_property
    def _derived_key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._derived_key if secret_key is None else super().derive_key(secret_key)
