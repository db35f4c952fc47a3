"""Verification of Stripe's webhook signatures (``Stripe-Signature: t=<ts>,v1=<hex>[,v1=...]``).

The HMAC is the ``stripe`` SDK's (``WebhookSignature.verify_header``, constant-time). Ours around it:
several secrets (during a roll we hold the old and the new one: genuine when ANY verifies; the SDK takes
one); a strict parse with one error per failed check (the SDK raises one class and accepts two ``t=``, a
negative ``t``, items without ``=``), made in order: header present, well-formed, a signature matches,
timestamp within tolerance; and the clock: the SDK's tolerance reads ``time.time()`` and only refuses old
timestamps, ours takes the injected ``now_s`` and refuses more than ``tolerance_s`` (300 s) either way,
after the signature check so forgers learn nothing about our clock. Event-id deduplication covers
replays inside the window.

The signature covers the raw body as received (callers pass ``request.raw_body``); Stripe sends UTF-8
JSON and the SDK signs text, so a body that is not UTF-8 is not Stripe's and is refused as not matching.
:func:`signature_header` signs like Stripe for the tests and the local stack's Stripe stand-in.
"""

from __future__ import annotations

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

    def canonical(self) -> str:
        """The header rebuilt from what we parsed, so the SDK reads exactly the signatures we did."""
        return ",".join([f"t={self.timestamp}", *(f"{SCHEME}={s}" for s in self.signatures)])


def parse_signature_header(header: str | None) -> SignatureHeader:
    """Parse ``t=<int>,v1=<hex>[,v1=<hex>...]``; other schemes (``v0``) and unknown keys are ignored.

    Refused: a missing or empty header, an item without ``=``, no ``t`` or more than one, a ``t`` that
    is not a non-negative integer, and no ``v1`` signature.
    """
    if header is None or not header.strip():
        raise MissingSignatureHeader(f"The {HEADER} header is missing.")
    if len(header) > _MAX_HEADER_LENGTH:
        raise MalformedSignatureHeader(f"The {HEADER} header is too long.")
    items = [item.strip().partition("=") for item in header.split(",")]
    if any(not sep or not key for key, sep, _ in items):
        raise MalformedSignatureHeader(f"The {HEADER} header has an item that is not key=value.")
    timestamps = [value.strip() for key, _, value in items if key == "t"]
    signatures = tuple(value.strip() for key, _, value in items if key == SCHEME)
    if len(timestamps) != 1:
        raise MalformedSignatureHeader(f"The {HEADER} header must carry exactly one timestamp (t=).")
    if not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise MalformedSignatureHeader(f"The {HEADER} timestamp is not an integer number of seconds.")
    if not signatures:
        raise MalformedSignatureHeader(f"The {HEADER} header carries no {SCHEME} signature.")
    return SignatureHeader(int(timestamps[0]), signatures)


def signature_header(payload: bytes | str, secrets: Sequence[str], timestamp: int) -> str:
    """A ``Stripe-Signature`` header signed with each of ``secrets`` (what Stripe sends during a roll)."""
    import stripe  # ~100 ms: paid only where webhooks are signed or verified

    text = payload.decode() if isinstance(payload, bytes) else payload
    # The SDK signs one secret per header ("t=..,v1=.."); a roll sends one v1 per secret after one t.
    signed = [stripe.WebhookSignature.generate_signature_header(text, s, timestamp) for s in secrets]
    return ",".join([f"t={timestamp}", *(h.partition(",")[2] for h in signed)])


def compute_signature(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The hex ``v1`` signature Stripe computes for ``payload`` signed with ``secret`` at ``timestamp``."""
    return parse_signature_header(signature_header(payload, [secret], timestamp)).signatures[0]


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
    import stripe

    parsed = parse_signature_header(header)
    usable = [secret for secret in secrets if secret.strip()]  # the SDK refuses a blank secret outright
    if not usable:
        raise NoWebhookSecrets("No webhook secret is configured, so no delivery can be verified.")
    try:
        text = payload.decode() if isinstance(payload, bytes) else payload
    except UnicodeDecodeError:
        raise NoMatchingSignature("No signature can match: the payload is not UTF-8, so not Stripe's.") from None
    matched = False
    for secret in usable:  # no early exit: the time taken does not depend on which secret matched
        try:
            # tolerance=None: the SDK would read time.time(); the age is checked below with our clock.
            stripe.WebhookSignature.verify_header(text, parsed.canonical(), secret, tolerance=None)
            matched = True
        except stripe.SignatureVerificationError:
            pass
    if not matched:
        raise NoMatchingSignature("No signature in the header matches the payload with any webhook secret.")
    age = now_s - parsed.timestamp
    if abs(age) > tolerance_s:
        when = "old" if age > 0 else "in the future"
        raise TimestampOutsideTolerance(
            f"The signature timestamp is {abs(int(age))} s {when}; at most {tolerance_s} s is accepted."
        )
    return parsed
