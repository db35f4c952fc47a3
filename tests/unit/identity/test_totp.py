"""TOTP codes against the RFCs' own test vectors, and the once-only rule of verify."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import pytest

from gridshare.identity import totp

# RFC 6238 Appendix B: the seeds are ASCII "1234567890" repeated to the hash's key size
SEED_SHA1 = base64.b32encode(b"12345678901234567890").decode()
SEED_SHA256 = base64.b32encode(b"12345678901234567890123456789012").decode()
SEED_SHA512 = base64.b32encode(b"1234567890" * 6 + b"1234").decode()

# time (s) -> (SHA1, SHA256, SHA512) 8-digit codes, X = 30 s, T0 = 0
RFC6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]

# RFC 4226 Appendix D: HOTP values of the same SHA1 seed for counters 0..9 (6 digits)
RFC4226_VECTORS = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), RFC6238_VECTORS)
def test_rfc6238_appendix_b_eight_digit_codes(at: int, sha1: str, sha256: str, sha512: str) -> None:
    # Given the RFC's seeds and a time, When the step's 8-digit code is computed, Then it is the RFC's
    step = totp.current_step(at)
    assert totp.code_at(SEED_SHA1, step, digits=8) == sha1
    assert totp.code_at(SEED_SHA256, step, digits=8, algorithm="sha256") == sha256
    assert totp.code_at(SEED_SHA512, step, digits=8, algorithm="sha512") == sha512


@pytest.mark.parametrize(("at", "sha1", "_sha256", "_sha512"), RFC6238_VECTORS)
def test_six_digit_codes_are_the_last_six_digits_and_verify(at: int, sha1: str, _sha256: str, _sha512: str) -> None:
    # Given the SHA1 vector, When the default 6-digit code is computed, Then it is the 8-digit one mod 10^6
    code = totp.code_at(SEED_SHA1, totp.current_step(at))
    assert code == sha1[-6:]
    # And verify accepts it at that time and returns its step
    assert totp.verify(SEED_SHA1, code, at, last_used_step=None) == totp.current_step(at)


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_VECTORS)))
def test_rfc4226_appendix_d_hotp_values(counter: int, expected: str) -> None:
    assert totp.hotp(b"12345678901234567890", counter) == expected
    assert totp.code_at(SEED_SHA1, counter) == expected


def test_new_secret_is_160_bit_base32_and_random() -> None:
    # When two secrets are made, Then each decodes to 20 bytes and they differ
    first, second = totp.new_secret(), totp.new_secret()
    assert len(first) == 32 and first.isalnum() and first.upper() == first
    assert len(base64.b32decode(first)) == 20
    assert first != second


def test_secret_is_read_forgivingly_and_garbage_refused() -> None:
    # Given the secret as an app may display it (lower case, grouped), Then the codes are the same
    step = 12345
    grouped = " ".join(SEED_SHA1[i : i + 4] for i in range(0, len(SEED_SHA1), 4)).lower()
    assert totp.code_at(grouped, step) == totp.code_at(SEED_SHA1, step)
    with pytest.raises(ValueError):
        totp.code_at("not base32 !!", step)


def test_current_step_boundaries() -> None:
    assert totp.current_step(0) == 0
    assert totp.current_step(29.999) == 0
    assert totp.current_step(30) == 1
    assert totp.current_step(59, period=60) == 0


def test_verify_window_previous_current_next_only() -> None:
    # Given a time in step 1000
    now = 1000 * 30 + 12
    for step in (999, 1000, 1001):
        # Then the previous, current and next steps' codes are accepted and the matched step returned
        assert totp.verify(SEED_SHA1, totp.code_at(SEED_SHA1, step), now, last_used_step=None) == step
    for step in (997, 998, 1002, 1003):
        # And codes two steps away are refused
        assert totp.verify(SEED_SHA1, totp.code_at(SEED_SHA1, step), now, last_used_step=None) is None
    # And a wider window accepts them
    assert totp.verify(SEED_SHA1, totp.code_at(SEED_SHA1, 998), now, last_used_step=None, window=2) == 998


def test_a_code_is_accepted_once_only() -> None:
    # Given a code accepted once (its step stored as the last used)
    now = 5000 * 30 + 1
    code = totp.code_at(SEED_SHA1, 5000)
    used = totp.verify(SEED_SHA1, code, now, last_used_step=None)
    assert used == 5000
    # When the same code is presented again, Then it is refused
    assert totp.verify(SEED_SHA1, code, now, last_used_step=used) is None
    # And an older code (previous step) is refused too, while the next step's code passes
    assert totp.verify(SEED_SHA1, totp.code_at(SEED_SHA1, 4999), now, last_used_step=used) is None
    assert totp.verify(SEED_SHA1, totp.code_at(SEED_SHA1, 5001), now, last_used_step=used) == 5001


def test_verify_refuses_malformed_codes_and_other_secrets() -> None:
    now = 777 * 30
    code = totp.code_at(SEED_SHA1, 777)
    assert totp.verify(SEED_SHA1, f"{code[:3]} {code[3:]}", now, last_used_step=None) == 777  # as apps show it
    for bad in ("", "12345", "1234567", "abcdef", code + "0", "-12345"):
        assert totp.verify(SEED_SHA1, bad, now, last_used_step=None) is None
    other = totp.new_secret()
    if totp.code_at(other, 777) not in {totp.code_at(SEED_SHA1, s) for s in (776, 777, 778)}:
        assert totp.verify(other, code, now, last_used_step=None) is None


def test_otpauth_uri_for_authenticator_apps() -> None:
    # When the URI is made for an email account, Then label, secret and parameters are what apps expect
    uri = totp.otpauth_uri(SEED_SHA1, "ana+solar@example.com")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parsed.path == "/Gridshare:ana%2Bsolar@example.com"
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    assert query == {"secret": SEED_SHA1, "issuer": "Gridshare", "algorithm": "SHA1", "digits": "6", "period": "30"}
    assert "My%20Co:" in totp.otpauth_uri(SEED_SHA1, "x@example.com", issuer="My Co")
