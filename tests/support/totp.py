"""TOTP codes for tests that log in with 2FA against real time (an authenticator app's view)."""

from __future__ import annotations

import time

from gridshare.identity import totp


def fresh_step() -> int:
    """The current step, after waiting out its last 1.5 s (the code must reach the server in the same step)."""
    left = totp.PERIOD_S - (time.time() % totp.PERIOD_S)
    if left < 1.5:
        time.sleep(left + 0.05)
    return totp.current_step(time.time())
