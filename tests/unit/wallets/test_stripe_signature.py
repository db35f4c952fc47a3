"""Stripe-Signature verification (gridshare.wallets.stripe_signature): every check, pure, no mocks.

Signatures made here are checked against the Stripe stand-in's own signer (the local stack signs like
Stripe) and, where the official SDK is installed, against `stripe.WebhookSignature`, so our verifier
agrees with Stripe's on the wire format.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridshare.kernel.errors import BadRequest
from gridshare.wallets.stripe_signature import (
    MalformedSignatureHeader,
    MissingSignatureHeader,
    NoMatchingSignature,
    NoWebhookSecrets,
    SignatureVerificationError,
    TimestampOutsideTolerance,
    compute_signature,
    parse_signature_header,
    signature_header,
    verify_signature,
)
from gridshare_local.stripe_standin import sign

NOW = 1_767_225_600
SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
PAYLOAD = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}})


def header_for(payload: str | bytes = PAYLOAD, secrets: tuple[str, ...] = (SECRET,), t: int = NOW) -> str:
    return signature_header(payload, secrets, t)


# ------------------------------------------------------------------------------- parsing
def test_parse_reads_the_timestamp_and_every_v1_signature_and_ignores_other_schemes() -> None:
    # Given a header with two v1 signatures, a v0 one and spaces
    header = "t=123, v1=aa ,v0=zz, v1=bb"
    # When it is parsed
    parsed = parse_signature_header(header)
    # Then the timestamp and both v1 signatures are there, v0 is not
    assert parsed.timestamp == 123
    assert parsed.signatures == ("aa", "bb")


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_header_is_its_own_error(header: str | None) -> None:
    with pytest.raises(MissingSignatureHeader) as caught:
        parse_signature_header(header)
    assert caught.value.check == "header_missing"


@pytest.mark.parametrize(
    "header",
    [
        "v1=abc",  # no timestamp
        "t=1,t=2,v1=abc",  # two timestamps
        "t=abc,v1=abc",  # not a number
        "t=-5,v1=abc",  # negative
        "t=١٢٣,v1=abc",  # non-ASCII digits
        "t=123",  # no v1
        "t=123,v0=abc",  # only another scheme
        "t=123,garbage",  # an item without '='
        "t=123,=x,v1=abc",  # an empty key
        "t=1,v1=" + "a" * 9000,  # absurdly long
    ],
)
def test_malformed_headers_are_refused_as_malformed(header: str) -> None:
    with pytest.raises(MalformedSignatureHeader) as caught:
        parse_signature_header(header)
    assert caught.value.check == "header_malformed"


# ------------------------------------------------------------------------------- verifying
def test_a_genuine_delivery_verifies() -> None:
    parsed = verify_signature(PAYLOAD, header_for(), [SECRET], now_s=NOW)
    assert parsed.timestamp == NOW


def test_the_stand_in_signs_exactly_like_our_verifier_expects() -> None:
    # Given a header made by the local stack's Stripe stand-in
    header = sign(PAYLOAD, SECRET, NOW)
    # Then our verifier accepts it, and computes the same digest
    verify_signature(PAYLOAD.encode(), header, [SECRET], now_s=NOW)
    assert header == f"t={NOW},v1={compute_signature(PAYLOAD, SECRET, NOW)}"


def test_the_official_sdk_accepts_what_we_sign() -> None:
    stripe = pytest.importorskip("stripe")
    # When the SDK verifies our header (its own tolerance check uses the real clock: sign for now)
    import time

    now = int(time.time())
    assert stripe.WebhookSignature.verify_header(PAYLOAD, header_for(t=now), SECRET, tolerance=300)


def test_a_tampered_body_does_not_verify() -> None:
    tampered = PAYLOAD.replace("pi_1", "pi_2")
    with pytest.raises(NoMatchingSignature) as caught:
        verify_signature(tampered, header_for(), [SECRET], now_s=NOW)
    assert caught.value.check == "signature_mismatch"


def test_the_body_is_compared_byte_for_byte_so_reserialized_json_fails() -> None:
    reserialized = json.dumps(json.loads(PAYLOAD), indent=1)
    with pytest.raises(NoMatchingSignature):
        verify_signature(reserialized, header_for(), [SECRET], now_s=NOW)


def test_a_wrong_secret_does_not_verify() -> None:
    with pytest.raises(NoMatchingSignature):
        verify_signature(PAYLOAD, header_for(secrets=("whsec_attacker",)), [SECRET], now_s=NOW)


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    # Given a genuine signature moved to another timestamp (within the tolerance)
    genuine = compute_signature(PAYLOAD, SECRET, NOW)
    with pytest.raises(NoMatchingSignature):
        verify_signature(PAYLOAD, f"t={NOW + 1},v1={genuine}", [SECRET], now_s=NOW)


def test_any_of_several_secrets_verifies_during_rotation() -> None:
    # Given our secret holds the new and the old secret, and Stripe signed with the old one only
    header = header_for(secrets=(OLD_SECRET,))
    # Then the delivery verifies
    verify_signature(PAYLOAD, header, [SECRET, OLD_SECRET], now_s=NOW)


def test_any_of_several_v1_signatures_verifies() -> None:
    # Given Stripe signed with an old secret we no longer hold and with our current one
    header = header_for(secrets=("whsec_gone", SECRET))
    verify_signature(PAYLOAD, header, [SECRET], now_s=NOW)
    # And the order of the signatures does not matter
    verify_signature(PAYLOAD, header_for(secrets=(SECRET, "whsec_gone")), [SECRET], now_s=NOW)


@pytest.mark.parametrize("age", [301, -301, 3600, -86_400])
def test_a_timestamp_beyond_300_s_either_way_is_refused(age: int) -> None:
    header = header_for(t=NOW - age)
    with pytest.raises(TimestampOutsideTolerance) as caught:
        verify_signature(PAYLOAD, header, [SECRET], now_s=NOW)
    assert caught.value.check == "timestamp_tolerance"
    assert ("old" if age > 0 else "in the future") in caught.value.detail


@pytest.mark.parametrize("age", [0, 1, 299, 300, -300])
def test_a_timestamp_within_300_s_is_accepted(age: int) -> None:
    verify_signature(PAYLOAD, header_for(t=NOW - age), [SECRET], now_s=NOW)


def test_the_tolerance_is_configurable() -> None:
    with pytest.raises(TimestampOutsideTolerance):
        verify_signature(PAYLOAD, header_for(t=NOW - 61), [SECRET], now_s=NOW, tolerance_s=60)


def test_a_bad_signature_is_reported_before_the_age_so_forgeries_never_learn_about_the_clock() -> None:
    header = header_for(secrets=("whsec_attacker",), t=NOW - 10_000)
    with pytest.raises(NoMatchingSignature):
        verify_signature(PAYLOAD, header, [SECRET], now_s=NOW)


def test_no_configured_secret_verifies_nothing() -> None:
    with pytest.raises(NoWebhookSecrets):
        verify_signature(PAYLOAD, header_for(), [], now_s=NOW)
    with pytest.raises(NoWebhookSecrets):
        verify_signature(PAYLOAD, header_for(), [""], now_s=NOW)


def test_every_refusal_is_a_400_problem_naming_the_header() -> None:
    with pytest.raises(SignatureVerificationError) as caught:
        verify_signature(PAYLOAD, "t=1", [SECRET], now_s=NOW)
    assert isinstance(caught.value, BadRequest)
    assert [e.field for e in caught.value.errors] == ["Stripe-Signature"]


def test_bytes_and_str_payloads_are_the_same_bytes() -> None:
    text = '{"emoji":"☀"}'
    assert compute_signature(text, SECRET, NOW) == compute_signature(text.encode(), SECRET, NOW)


def test_a_body_that_is_not_utf8_is_refused_as_not_matching_not_crashed_on() -> None:
    # Given bytes Stripe never sends (its bodies are UTF-8 JSON; the SDK verifies text)
    body = b"\x80" + PAYLOAD.encode()
    # Then it is a signature mismatch (a 400), never a decoding crash (a 500)
    with pytest.raises(NoMatchingSignature):
        verify_signature(body, header_for(), [SECRET], now_s=NOW)


@given(
    # Stripe's bodies are UTF-8 (the SDK verifies text); secrets are never blank (the SDK refuses those)
    payload=st.text(max_size=256).map(str.encode),
    secrets=st.lists(st.text(min_size=1, max_size=20).filter(str.strip), min_size=1, max_size=3),
    signer=st.integers(min_value=0, max_value=2),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_property_whatever_payload_a_held_secret_verifies_and_a_flipped_byte_does_not(
    payload: bytes, secrets: list[str], signer: int, skew: int
) -> None:
    secret = secrets[signer % len(secrets)]
    header = signature_header(payload, [secret], NOW + skew)
    verify_signature(payload, header, secrets, now_s=NOW)
    if payload:
        flipped = bytes([payload[0] ^ 1]) + payload[1:]
        with pytest.raises(NoMatchingSignature):
            verify_signature(flipped, header, secrets, now_s=NOW)
