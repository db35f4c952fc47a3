"""Envelope encryption of small secrets kept in DynamoDB string attributes (KMS data keys, AES-256-GCM).

Why: a TOTP secret or a held-back refresh token read from a table backup, an export or a too-broad
``dynamodb:GetItem`` must be useless without ``kms:Decrypt`` on the secrets key, which only the functions
that need it hold (infra_cdk identity construct).

Format (one string, fits the existing ``UnicodeAttribute``)::

    gse1.<encrypted data key>.<nonce>.<ciphertext+tag>     (each part base64url, no padding)

Sealing asks KMS ``GenerateDataKey`` (AES-256) for a fresh data key per value, encrypts with AES-GCM
under that key and forgets the plaintext key. Opening asks KMS ``Decrypt`` for the data key, pinned to
the configured key id.

Invariants:

- **The context binds a value to its place.** The same encryption context (``{"purpose": "totp",
  "user": <id>}``) is given to KMS and, serialized, to AES-GCM as associated data together with the
  version, so a value copied to another user or purpose fails to open even when its data key is cached.
- **Fail closed.** A value without the version prefix (plain text from before), a tampered or
  truncated one, or one KMS refuses for this context raises :class:`UnreadableSecret`: callers treat it
  as no secret at all. KMS being unreachable or throttling is :class:`~gridshare.kernel.errors.Unavailable`
  (503) instead, so an outage never looks like a missing secret.
- **Bounded cache.** Decrypted data keys are kept per container, at most ``cache_size`` of them, keyed
  by (encrypted data key, context): one KMS call per value per container, never one for a value or
  context KMS has not approved in this container.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gridshare.kernel.aws import client
from gridshare.kernel.errors import Unavailable
from gridshare.kernel.settings import get_settings

__all__ = ["VERSION", "Envelope", "UnreadableSecret", "secrets_envelope"]

VERSION = "gse1"
_NONCE_BYTES = 12  # the AES-GCM standard nonce; random per value, so never reused under one data key
# KMS answers these when the blob or its context is wrong: the value is unreadable. Anything else (KMS down,
# throttling, a key disabled, our role missing kms:Decrypt) is ours to fix and must not look like "no secret".
_REFUSED = {"InvalidCiphertextException", "IncorrectKeyException"}


class UnreadableSecret(Exception):
    """The stored value cannot be opened here (not sealed, tampered, or sealed for another context)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    # validate=True: characters outside the alphabet are an error, not silently skipped
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _associated_data(context: Mapping[str, str]) -> bytes:
    return (VERSION + json.dumps(dict(context), sort_keys=True, separators=(",", ":"))).encode()


class Envelope:
    """Seal and open short strings under a KMS key. ``kms`` and ``key_id`` default to the container's
    client and ``GS_SECRETS_KEY_ID``, resolved at each use so tests and the local stack can switch them."""

    def __init__(self, key_id: str | None = None, kms: Any | None = None, cache_size: int = 256) -> None:
        self._key_id, self._kms, self._cache_size = key_id, kms, cache_size
        self._keys: OrderedDict[tuple[bytes, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def key_id(self) -> str:
        key_id = self._key_id or get_settings().secrets_key_id
        if not key_id:
            raise RuntimeError("GS_SECRETS_KEY_ID is not set: secrets cannot be sealed or opened.")
        return key_id

    @property
    def kms(self) -> Any:
        return self._kms if self._kms is not None else client("kms")

    def seal(self, plaintext: str, context: Mapping[str, str]) -> str:
        """Encrypt ``plaintext`` under a fresh data key bound to ``context``; returns the stored string."""
        try:
            answer = self.kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=dict(context))
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("The secret could not be protected; try again.") from exc
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(answer["Plaintext"]).encrypt(nonce, plaintext.encode(), _associated_data(context))
        return ".".join([VERSION, _b64(answer["CiphertextBlob"]), _b64(nonce), _b64(sealed)])

    def open(self, stored: str, context: Mapping[str, str]) -> str:
        """The plaintext of a value :meth:`seal` made for the same ``context``; else :class:`UnreadableSecret`."""
        parts = stored.split(".")
        if len(parts) != 4 or parts[0] != VERSION:
            raise UnreadableSecret("not a sealed value")
        try:
            wrapped, nonce, sealed = (_unb64(p) for p in parts[1:])
        except (binascii.Error, ValueError):
            raise UnreadableSecret("not base64") from None
        if len(nonce) != _NONCE_BYTES or not wrapped:
            raise UnreadableSecret("malformed")
        try:
            plaintext = AESGCM(self._data_key(wrapped, context)).decrypt(nonce, sealed, _associated_data(context))
            return plaintext.decode()
        except (InvalidTag, UnicodeDecodeError):
            raise UnreadableSecret("tampered, or sealed for another context") from None

    def _data_key(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        cache_key = (wrapped, json.dumps(dict(context), sort_keys=True))
        with self._lock:
            if cache_key in self._keys:
                self._keys.move_to_end(cache_key)
                return self._keys[cache_key]
        try:
            answer = self.kms.decrypt(CiphertextBlob=wrapped, KeyId=self.key_id, EncryptionContext=dict(context))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _REFUSED:
                raise UnreadableSecret("KMS refused the data key for this context") from None
            raise Unavailable("The secret could not be read; try again.") from exc
        except BotoCoreError as exc:
            raise Unavailable("The secret could not be read; try again.") from exc
        key = bytes(answer["Plaintext"])
        with self._lock:
            self._keys[cache_key] = key
            while len(self._keys) > self._cache_size:
                self._keys.popitem(last=False)
        return key


@cache
def secrets_envelope() -> Envelope:
    """The container's envelope for secrets at rest (one data-key cache per container)."""
    return Envelope()
