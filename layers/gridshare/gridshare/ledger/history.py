"""Reading accounts' histories newest first: bounded pages, time windows, several accounts merged.

An account's entries are stored in chain order (by sequence), not by time, and an entry's ``created_at`` is
stamped when its transaction is built, a little before it is posted: a later entry may carry a slightly
earlier time. So a read bounded by time goes :data:`TIME_SLACK_MS` further back than the bound before it
stops, and filters by time what it read; it never stops at the first entry outside the window.

A listing over several accounts resumes per account: for each account with more to show, the sequence
to continue *below*. An account none of whose entries was shown yet is pinned below its newest entry at
the time of the first page, so entries posted meanwhile don't jump into later pages.

A read also stops at the request's deadline (:mod:`gridshare.kernel.deadline`), after at least one entry:
its page is then *stopped* at the last entry it looked at, and the account continues below that entry on
the next page. So that a page stays newest first across accounts, the merge then shows no entry of any
account older than the stopped account's *frontier* (the oldest time it saw); the rest waits for the next
page. The frontier's own account always shows what it read, so every page moves the listing forward.

Pure: the store (:class:`gridshare.ledger.store.LedgerStore`) queries, these functions decide what to keep
and where to stop, and each reads at most one entry past what it returns.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gridshare.kernel.deadline import NEVER, Deadline
from gridshare.ledger.core import ChainedEntry

__all__ = [
    "TIME_SLACK_MS",
    "EntryPage",
    "HistoryPage",
    "RecentEntries",
    "entry_page",
    "merge_pages",
    "recent_entries",
]

TIME_SLACK_MS = 5 * 60 * 1000
"""How far an entry's ``created_at`` may lag its position in the chain: time-bounded reads go this much
further back before stopping."""


@dataclass(frozen=True)
class EntryPage:
    """Up to ``limit`` of one account's entries in a window, newest first, and whether more match beyond;
    ``stopped``: the last entry read when the deadline passed (the rest of the account is unread)."""

    account: str
    entries: tuple[ChainedEntry, ...]
    more: bool
    stopped: ChainedEntry | None = None

    @property
    def frontier(self) -> int | None:
        """A stopped page's oldest time seen: what is older may be preceded by the account's unread rest."""
        if self.stopped is None:
            return None
        return min([self.stopped.created_at, *(e.created_at for e in self.entries)])


@dataclass(frozen=True)
class HistoryPage:
    """Entries of several accounts, newest first, and per account with more to show the sequence to
    continue below (empty when the listing is complete)."""

    entries: tuple[ChainedEntry, ...]
    below: dict[str, int]


@dataclass(frozen=True)
class RecentEntries:
    """An account's entries stamped at or after a time, newest first, and its balance as read: the balance
    after the newest entry (0 without entries), from the same read, so the two always agree."""

    balance: int
    entries: tuple[ChainedEntry, ...]


def _outside(entry: ChainedEntry, start: int | None, end: int | None) -> bool:
    return (start is not None and entry.created_at < start) or (end is not None and entry.created_at >= end)


def _before_window(entry: ChainedEntry, start: int | None) -> bool:
    """True once the read is past ``start`` by more than the slack: nothing older can be in the window."""
    return start is not None and entry.created_at < start - TIME_SLACK_MS


def entry_page(
    account: str,
    newest_first: Iterable[ChainedEntry],
    *,
    limit: int,
    start: int | None,
    end: int | None,
    deadline: Deadline = NEVER,
) -> EntryPage:
    """The first ``limit`` entries of ``newest_first`` stamped in [start, end); ``more`` if one more follows.

    Stops early (``stopped``) once ``deadline`` has passed, checked before reading each entry but the first.
    """
    taken: list[ChainedEntry] = []
    entries = iter(newest_first)
    read: ChainedEntry | None = None
    while True:
        if read is not None and deadline.passed():
            return EntryPage(account, tuple(taken), more=False, stopped=read)
        entry = next(entries, None)
        if entry is None:
            break
        read = entry
        if _before_window(entry, start):
            break
        if _outside(entry, start, end):
            continue
        if len(taken) == limit:
            return EntryPage(account, tuple(taken), more=True)
        taken.append(entry)
    return EntryPage(account, tuple(taken), more=False)


def merge_pages(pages: Sequence[EntryPage], limit: int) -> HistoryPage:
    """Up to ``limit`` entries over all pages, newest first (ties by transaction id), and where to resume.

    Each page's own order (by sequence) is kept, so what is taken from an account is always a prefix of its
    page and the listing can resume below the last entry taken. With stopped pages, nothing older than the
    newest of their frontiers is taken, and a stopped account that showed all it read resumes below the
    entry it stopped at.
    """
    frontiers = [page.frontier for page in pages if page.frontier is not None]
    floor = max(frontiers) if frontiers else None
    heads: list[tuple[int, str, int, int]] = []
    for index, page in enumerate(pages):
        if page.entries:
            first = page.entries[0]
            heapq.heappush(heads, (-first.created_at, first.transaction_id, index, 0))
    taken: list[ChainedEntry] = []
    used = [0] * len(pages)
    while heads and len(taken) < limit:
        if floor is not None and -heads[0][0] < floor:
            break
        _, _, index, position = heapq.heappop(heads)
        taken.append(pages[index].entries[position])
        used[index] += 1
        if position + 1 < len(pages[index].entries):
            following = pages[index].entries[position + 1]
            heapq.heappush(heads, (-following.created_at, following.transaction_id, index, position + 1))
    below: dict[str, int] = {}
    for page, count in zip(pages, used, strict=True):
        if page.stopped is not None and count == len(page.entries):
            below[page.account] = page.stopped.sequence
        elif count < len(page.entries) or page.more:
            below[page.account] = page.entries[count - 1].sequence if count else page.entries[0].sequence + 1
    return HistoryPage(tuple(taken), below)


def recent_entries(newest_first: Iterable[ChainedEntry], since: int) -> RecentEntries:
    """The entries of ``newest_first`` stamped at or after ``since``, and the balance after the first one."""
    balance: int | None = None
    kept: list[ChainedEntry] = []
    for entry in newest_first:
        if balance is None:
            balance = entry.balance_after
        if _before_window(entry, since):
            break
        if entry.created_at >= since:
            kept.append(entry)
    return RecentEntries(balance or 0, tuple(kept))
