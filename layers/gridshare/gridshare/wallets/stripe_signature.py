"""Verification of Stripe's webhook signatures (the ``Stripe-Signature`` header), pure Python.

Stripe signs each webhook delivery with every endpoint secret that is currently valid and sends::

    Stripe-Signature: t=1700000000,v1=<hex HMAC-SHA256>,v1=<hex ...>,v0=<ignored>

where each ``v1`` is ``HMAC-SHA256(secret, f"{t}.{raw body}")``. While a secret is being rolled, the
header carries one ``v1`` per secret, and our side holds several secrets too (the old and the new one in
the Secrets Manager secret), so a delivery is genuine when ANY of our secrets produced ANY of its ``v1``
signatures. Every comparison is constant-time (:func:`hmac.compare_digest`).

The signature covers the raw bytes exactly as received: a body that was parsed and re-serialized (key
order, whitespace, unicode escapes) no longer verifies, so callers pass ``request.raw_body``.

The timestamp bounds replays: a delivery signed more than ``tolerance_s`` (300 s, Stripe's default)
before or after our clock is refused, even when its signature is genuine. Deduplication by event id
covers replays inside the window.

Each failed check raises its own :class:`SignatureVerificationError` subclass (a 400 problem that names
the check), in the order they are made: header present, header well-formed, a signature matches, the
timestamp is within tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from gridshare.kernel.errors import BadRequest, FieldError

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "HEADER",
    "MalformedSignatureHeader",
    "MissingSignatureHeader",
    "NoMatchingSignature",
    "NoWebhookSecrets",
    "SignatureHeader",
    "SignatureVerificationError",
    "TimestampOutsideTolerance",
    "compute_signature",
    "parse_signature_header",
    "signature_header",
    "verify_signature",
]

HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_S = 300
SCHEME = "v1"
_MAX_HEADER_LENGTH = 8192  # a header carries a handful of signatures; anything far larger is not Stripe's


class SignatureVerificationError(BadRequest):
    """The webhook delivery is not proven to come from Stripe (400). ``check`` names the failed check."""

    check = "signature"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[FieldError(HEADER, detail)])


class MissingSignatureHeader(SignatureVerificationError):
    check = "header_missing"


class MalformedSignatureHeader(SignatureVerificationError):
    check = "header_malformed"


class NoMatchingSignature(SignatureVerificationError):
    check = "signature_mismatch"


class TimestampOutsideTolerance(SignatureVerificationError):
    check = "timestamp_tolerance"


class NoWebhookSecrets(SignatureVerificationError):
    """No secret is configured, so nothing can verify (the caller should also alert: a setup error)."""

    check = "no_secrets"


@dataclass(frozen=True)
class SignatureHeader:
    """A parsed ``Stripe-Signature``: the signing time (epoch seconds) and every ``v1`` signature."""

    timestamp: int
    signatures: tuple[str, ...]


def parse_signature_header(header: str | None) -> SignatureHeader:
    """Parse ``t=<int>,v1=<hex>[,v1=<hex>...]``; other schemes (``v0``) and unknown keys are ignored.

    Refused: a missing or empty header, an item without ``=``, no ``t`` or more than one, a ``t`` that
    is not a non-negative integer, and no ``v1`` signature.
    """
    if header is None or not header.strip():
        raise MissingSignatureHeader(f"The {HEADER} header is missing.")
    if len(header) > _MAX_HEADER_LENGTH:
        raise MalformedSignatureHeader(f"The {HEADER} header is too long.")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            raise MalformedSignatureHeader(f"The {HEADER} header has an item that is not key=value.")
        if key == "t":
            timestamps.append(value.strip())
        elif key == SCHEME:
            signatures.append(value.strip())
    if len(timestamps) != 1:
        raise MalformedSignatureHeader(f"The {HEADER} header must carry exactly one timestamp (t=).")
    if not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise MalformedSignatureHeader(f"The {HEADER} timestamp is not an integer number of seconds.")
    if not signatures:
        raise MalformedSignatureHeader(f"The {HEADER} header carries no {SCHEME} signature.")
    return SignatureHeader(int(timestamps[0]), tuple(signatures))


def compute_signature(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The hex ``v1`` signature Stripe computes for ``payload`` signed with ``secret`` at ``timestamp``."""
    body = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(payload: bytes | str, secrets: Sequence[str], timestamp: int) -> str:
    """A ``Stripe-Signature`` header signed with each of ``secrets`` (what Stripe sends during a roll)."""
    parts = [f"t={timestamp}"] + [f"{SCHEME}={compute_signature(payload, s, timestamp)}" for s in secrets]
    return ",".join(parts)


def verify_signature(
    payload: bytes | str,
    header: str | None,
    secrets: Sequence[str],
    *,
    now_s: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> SignatureHeader:
    """Verify a webhook delivery; returns the parsed header, raises a :class:`SignatureVerificationError`.

    Genuine when any of ``secrets`` signed the raw ``payload`` as any of the header's ``v1`` signatures,
    and the header's timestamp is at most ``tolerance_s`` away from ``now_s`` in either direction.
    """
    parsed = parse_signature_header(header)
    usable = [secret for secret in secrets if secret]
    if not usable:
        raise NoWebhookSecrets("No webhook secret is configured, so no delivery can be verified.")
    expected = [compute_signature(payload, secret, parsed.timestamp).encode() for secret in usable]
    matched = False
    for candidate in parsed.signatures:
        given = candidate.encode()
        for digest in expected:
            # No early exit: the time taken does not depend on which pair matched.
            matched |= hmac.compare_digest(digest, given)
    if not matched:
        raise NoMatchingSignature("No signature in the header matches the payload with any webhook secret.")
    age = now_s - parsed.timestamp
    if abs(age) > tolerance_s:
        when = "old" if age > 0 else "in the future"
        raise TimestampOutsideTolerance(
            f"The signature timestamp is {abs(int(age))} s {when}; at most {tolerance_s} s is accepted."
        )
    return parsed
