"""TOTP one-time codes (RFC 6238 on top of RFC 4226 HOTP), pure and stdlib only.

Secrets are base32 (RFC 4648, no padding) as authenticator apps expect them in an otpauth URI. A code's
time step is `floor(unix_time / period)`; `verify` accepts the previous, current and next step (clock
drift between a phone and the server) and refuses any step at or before the last one accepted, so a code
is good once only, and an older code cannot be used after a newer one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

DIGITS = 6
PERIOD_S = 30
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 recommends
_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def new_secret() -> str:
    """A random 160-bit secret as unpadded base32 (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    """Decode a base32 secret, forgiving case, spaces and missing padding (as apps display it)."""
    text = secret.replace(" ", "").replace("-", "").upper()
    text += "=" * (-len(text) % 8)
    try:
        return base64.b32decode(text)
    except (binascii.Error, ValueError):
        raise ValueError("the TOTP secret is not valid base32") from None


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """RFC 4226 section 5.3: HMAC the 8-byte counter, dynamic truncation, modulo 10^digits."""
    if counter < 0:
        raise ValueError("the counter must not be negative")
    mac = hmac.new(key, struct.pack(">Q", counter), _ALGORITHMS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def code_at(secret: str, step: int, *, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """The code of one time step for a base32 secret."""
    return hotp(_key(secret), step, digits=digits, algorithm=algorithm)


def current_step(now_s: float, period: int = PERIOD_S) -> int:
    return int(now_s // period)


def verify(
    secret: str,
    code: str,
    now_s: float,
    *,
    last_used_step: int | None,
    window: int = 1,
    period: int = PERIOD_S,
    digits: int = DIGITS,
) -> int | None:
    """The step whose code matches `code` within `window` steps of now, or None.

    Steps at or before `last_used_step` never match: the caller stores the returned step (conditionally,
    so two concurrent uses cannot both pass) and passes it back next time.
    """
    candidate = code.replace(" ", "").strip()
    if len(candidate) != digits or not candidate.isdigit():
        return None
    key = _key(secret)
    now_step = current_step(now_s, period)
    matched: int | None = None
    for step in range(now_step - window, now_step + window + 1):
        if step < 0 or (last_used_step is not None and step <= last_used_step):
            continue
        # every candidate step is computed and compared, whichever matches, in constant time
        if hmac.compare_digest(hotp(key, step, digits=digits), candidate) and matched is None:
            matched = step
    return matched


def otpauth_uri(secret: str, account: str, issuer: str = "Gridshare") -> str:
    """Key URI for authenticator apps (QR code): otpauth://totp/Issuer:account?secret=...&issuer=..."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": PERIOD_S},
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
