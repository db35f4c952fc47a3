"""A request's time budget, below the API Lambda's timeout.

A read that loops over storage (day partitions of raw readings or security events, an account's ledger
chain) takes a `Deadline` made when its service method starts (`request_deadline()`: now on the kernel
clock + GS_REQUEST_DEADLINE_MS, 8 s by default, the API functions time out at 15 s). Once it has passed,
the loop stops and the page ends where the loop stopped, with a `nextCursor` to continue: a client gets a
shorter page, never a gateway timeout.

Each loop checks the deadline before a unit of work (a query) but never before its first one, so every
request moves its cursor forward, however slow storage is.

Time comes from `gridshare.kernel.clock`, so a test moves it (`clock.frozen`) instead of sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridshare.kernel import clock
from gridshare.kernel.settings import get_settings


@dataclass(frozen=True)
class Deadline:
    at_ms: int | None  # epoch ms; None: never (scripts, audits)

    def passed(self) -> bool:
        return self.at_ms is not None and clock.now_ms() >= self.at_ms

    def remaining_ms(self) -> int | None:
        return None if self.at_ms is None else max(0, self.at_ms - clock.now_ms())

    @classmethod
    def after(cls, budget_ms: int) -> Deadline:
        return cls(clock.now_ms() + budget_ms)


NEVER = Deadline(None)


def request_deadline() -> Deadline:
    """From now, the request's budget (GS_REQUEST_DEADLINE_MS)."""
    return Deadline.after(get_settings().request_deadline_ms)
