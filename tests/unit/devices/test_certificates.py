"""Certificates' pure rules: the active bound holds under any issue/revoke sequence; revocation is final."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from gridshare.devices import certificates
from gridshare.devices.certificates import MAX_ACTIVE, Certificate, TooManyActive


def _cert(i: int) -> Certificate:
    return Certificate("dev", f"c{i}", f"arn:c{i}", "active", i, None)


@given(st.lists(st.one_of(st.just("issue"), st.integers(min_value=0, max_value=20)), max_size=60))
def test_active_certificates_never_exceed_the_bound(steps: list[str | int]) -> None:
    held: list[Certificate] = [_cert(0)]
    for step in steps:
        if step == "issue":
            try:
                certificates.check_can_issue(held)
            except TooManyActive:
                assert sum(c.active for c in held) == MAX_ACTIVE
                continue
            held.append(_cert(len(held)))
        elif isinstance(step, int) and step < len(held):
            held[step] = certificates.revoke(held[step], 1000 + step)
        assert sum(c.active for c in held) <= MAX_ACTIVE


@given(st.integers(min_value=0, max_value=10**13), st.integers(min_value=0, max_value=10**13))
def test_revocation_is_final_and_keeps_its_first_time(first: int, second: int) -> None:
    revoked = certificates.revoke(_cert(1), first)
    assert revoked.status == "revoked" and revoked.revoked_at == first and not revoked.active
    assert certificates.revoke(revoked, second) == revoked


def test_not_after_is_read_from_the_pem() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gs-x")])
    not_after = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = cert.public_bytes(Encoding.PEM).decode()
    assert certificates.not_after_ms(pem) == int(not_after.timestamp() * 1000)
    with pytest.raises(ValueError):
        certificates.not_after_ms("not a certificate")
