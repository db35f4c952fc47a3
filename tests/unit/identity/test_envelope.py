"""Envelope encryption (gridshare.kernel.envelope) against a fake KMS: round trip, tampering, context
binding, fail-closed reading of values that were never sealed, outages, and the bounded data-key cache."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from gridshare.kernel.envelope import VERSION, Envelope, UnreadableSecret
from gridshare.kernel.errors import Unavailable

KEY_ID = "alias/test-secrets"
CONTEXT = {"purpose": "totp", "user": "01HUSERA"}
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeKms:
    """KMS as far as the envelope uses it: data keys wrapped with an encryption context that Decrypt checks
    (as KMS does). ``check_context=False`` plays a KMS that ignored it, to show AES-GCM binds it too."""

    def __init__(self, check_context: bool = True) -> None:
        self.check_context = check_context
        self.wrapped: dict[bytes, tuple[bytes, dict[str, str]]] = {}
        self.decrypts = 0
        self.fail_with: Exception | None = None

    def generate_data_key(self, *, KeyId: str, KeySpec: str, EncryptionContext: dict[str, str]) -> dict[str, Any]:
        assert KeyId == KEY_ID and KeySpec == "AES_256"
        if self.fail_with:
            raise self.fail_with
        key, blob = os.urandom(32), b"wrapped:" + os.urandom(16)
        self.wrapped[blob] = (key, dict(EncryptionContext))
        return {"Plaintext": key, "CiphertextBlob": blob, "KeyId": KeyId}

    def decrypt(self, *, CiphertextBlob: bytes, KeyId: str, EncryptionContext: dict[str, str]) -> dict[str, Any]:
        assert KeyId == KEY_ID
        self.decrypts += 1
        if self.fail_with:
            raise self.fail_with
        if CiphertextBlob not in self.wrapped:
            raise _client_error("InvalidCiphertextException", "Decrypt")
        key, context = self.wrapped[CiphertextBlob]
        if self.check_context and context != EncryptionContext:
            raise _client_error("InvalidCiphertextException", "Decrypt")
        return {"Plaintext": key, "KeyId": KeyId}


@pytest.fixture
def kms() -> FakeKms:
    return FakeKms()


@pytest.fixture
def envelope(kms: FakeKms) -> Envelope:
    return Envelope(key_id=KEY_ID, kms=kms)


def _replace_part(sealed: str, index: int, part: str) -> str:
    parts = sealed.split(".")
    parts[index] = part
    return ".".join(parts)


def _flip_last_char(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


# ------------------------------------------------------------------------------- round trip
def test_a_sealed_value_opens_to_what_was_sealed_and_does_not_show_it(envelope: Envelope) -> None:
    # When a secret is sealed
    sealed = envelope.seal(SECRET, CONTEXT)
    # Then the stored string is versioned, does not contain the secret, and opens to it
    assert sealed.startswith(f"{VERSION}.") and len(sealed.split(".")) == 4
    assert SECRET not in sealed
    assert envelope.open(sealed, CONTEXT) == SECRET


def test_each_seal_uses_a_fresh_data_key_and_nonce(envelope: Envelope, kms: FakeKms) -> None:
    first, second = envelope.seal(SECRET, CONTEXT), envelope.seal(SECRET, CONTEXT)
    assert first != second
    assert len(kms.wrapped) == 2
    assert {envelope.open(first, CONTEXT), envelope.open(second, CONTEXT)} == {SECRET}


def test_unicode_and_empty_values_round_trip(envelope: Envelope) -> None:
    for value in ("", "☀ refresh-token é", "x" * 4096):
        assert envelope.open(envelope.seal(value, CONTEXT), CONTEXT) == value


# ------------------------------------------------------------------------------- tampering
@pytest.mark.parametrize("part", [1, 2, 3], ids=["data_key", "nonce", "ciphertext"])
def test_a_changed_part_does_not_open(envelope: Envelope, part: int) -> None:
    sealed = envelope.seal(SECRET, CONTEXT)
    tampered = _replace_part(sealed, part, _flip_last_char(sealed.split(".")[part]))
    with pytest.raises(UnreadableSecret):
        envelope.open(tampered, CONTEXT)


def test_a_truncated_ciphertext_does_not_open(envelope: Envelope) -> None:
    sealed = envelope.seal(SECRET, CONTEXT)
    with pytest.raises(UnreadableSecret):
        envelope.open(_replace_part(sealed, 3, sealed.split(".")[3][:-4]), CONTEXT)


def test_the_ciphertext_of_one_value_under_the_data_key_of_another_does_not_open(envelope: Envelope) -> None:
    a, b = envelope.seal(SECRET, CONTEXT), envelope.seal("other", CONTEXT)
    spliced = _replace_part(a, 1, b.split(".")[1])
    with pytest.raises(UnreadableSecret):
        envelope.open(spliced, CONTEXT)


# ------------------------------------------------------------------------------- context
def test_a_value_moved_to_another_user_or_purpose_does_not_open(envelope: Envelope) -> None:
    sealed = envelope.seal(SECRET, CONTEXT)
    for other in ({**CONTEXT, "user": "01HUSERB"}, {**CONTEXT, "purpose": "mfa-login"}, {}):
        with pytest.raises(UnreadableSecret):
            envelope.open(sealed, other)


def test_the_context_is_bound_by_aes_gcm_too_so_a_cached_or_lax_kms_key_does_not_help() -> None:
    # Given a KMS that hands out the data key whatever the context (and a cache that already holds it)
    lax = Envelope(key_id=KEY_ID, kms=FakeKms(check_context=False))
    sealed = lax.seal(SECRET, CONTEXT)
    assert lax.open(sealed, CONTEXT) == SECRET
    # Then the value still does not open for another user
    with pytest.raises(UnreadableSecret):
        lax.open(sealed, {**CONTEXT, "user": "01HUSERB"})


# ------------------------------------------------------------------------------- fail closed
@pytest.mark.parametrize(
    "stored",
    [
        SECRET,  # plain text from before sealing existed
        "",
        f"{VERSION}.only.three",
        f"{VERSION}.a.b.c.d",
        "gse0.AAAA.AAAAAAAAAAAAAAAA.AAAA",  # an unknown version
        f"{VERSION}.!!!.???.***",  # not base64
        f"{VERSION}.AAAA.AAAA.AAAA",  # a nonce of the wrong length
        f"{VERSION}..AAAAAAAAAAAAAAAA.AAAA",  # no data key
    ],
)
def test_anything_not_sealed_here_is_unreadable_without_asking_kms(
    envelope: Envelope, kms: FakeKms, stored: str
) -> None:
    with pytest.raises(UnreadableSecret):
        envelope.open(stored, CONTEXT)
    assert kms.decrypts == 0


@pytest.mark.parametrize(
    "failure",
    [
        _client_error("ThrottlingException", "Decrypt"),
        _client_error("KMSInvalidStateException", "Decrypt"),  # key disabled
        _client_error("AccessDeniedException", "Decrypt"),  # our role lost kms:Decrypt
        EndpointConnectionError(endpoint_url="https://kms.eu-west-1.amazonaws.com"),
    ],
)
def test_kms_trouble_is_unavailable_not_a_missing_secret(envelope: Envelope, kms: FakeKms, failure: Exception) -> None:
    sealed = envelope.seal(SECRET, CONTEXT)
    kms.fail_with = failure
    with pytest.raises(Unavailable):
        envelope.open(sealed, CONTEXT)
    with pytest.raises(Unavailable):
        envelope.seal(SECRET, CONTEXT)


def test_no_key_configured_refuses_to_seal(kms: FakeKms, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridshare.kernel.settings import reset_settings

    monkeypatch.delenv("GS_SECRETS_KEY_ID", raising=False)
    reset_settings()
    try:
        with pytest.raises(RuntimeError, match="GS_SECRETS_KEY_ID"):
            Envelope(kms=kms).seal(SECRET, CONTEXT)
    finally:
        reset_settings()


# ------------------------------------------------------------------------------- cache
def test_data_keys_are_cached_per_value_and_context_and_the_cache_is_bounded(kms: FakeKms) -> None:
    envelope = Envelope(key_id=KEY_ID, kms=kms, cache_size=2)
    a, b, c = (envelope.seal(v, CONTEXT) for v in ("a", "b", "c"))
    # When one value is opened twice, Then KMS is asked once
    assert envelope.open(a, CONTEXT) == envelope.open(a, CONTEXT) == "a"
    assert kms.decrypts == 1
    # When two more values push it out of a cache of two, Then KMS is asked for it again
    envelope.open(b, CONTEXT)
    envelope.open(c, CONTEXT)
    assert kms.decrypts == 3
    envelope.open(a, CONTEXT)
    assert kms.decrypts == 4
    # And a cached key is not reused for another context: KMS is asked, and refuses
    with pytest.raises(UnreadableSecret):
        envelope.open(a, {**CONTEXT, "user": "01HUSERB"})
    assert kms.decrypts == 5
