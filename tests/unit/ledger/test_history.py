"""Reading histories newest first (gridshare.ledger.history): pages, time windows with slack, merging, resuming.

Pure: chains are built with the in-memory ledger, so entries carry real sequences and balances.
"""

from __future__ import annotations

from collections.abc import Iterator

from gridshare.ledger import core as L
from gridshare.ledger.core import ChainedEntry
from gridshare.ledger.history import TIME_SLACK_MS, HistoryPage, entry_page, merge_pages, recent_entries

MINUTE = 60_000


def _chain(user: str, stamps: list[int]) -> list[ChainedEntry]:
    """A user's EUR wallet with one top-up of 100 per stamp (in posting order), newest first."""
    ledger = L.Ledger()
    for index, at in enumerate(stamps):
        ledger.post(L.topup(f"topup:{user}-{index}", user, 100, "EUR", payment_ref=f"pi_{index}", created_at=at))
    return list(reversed(ledger.entries(L.user_wallet(user, "EUR"))))


def test_a_page_holds_up_to_limit_entries_and_says_whether_more_match() -> None:
    # Given five entries, one a minute
    chain = _chain("ann", [MINUTE * i for i in range(1, 6)])
    # Then a page of two is the two newest, with more; a page of five is all of them, without
    page = entry_page("a", chain, limit=2, start=None, end=None)
    assert [e.sequence for e in page.entries] == [5, 4] and page.more
    whole = entry_page("a", chain, limit=5, start=None, end=None)
    assert [e.sequence for e in whole.entries] == [5, 4, 3, 2, 1] and not whole.more


def test_a_window_keeps_entries_stamped_in_it_and_reads_past_its_start_only_by_the_slack() -> None:
    # Given entries posted in order, the third stamped a little before the second (built before, posted after)
    chain = _chain("bea", [10 * MINUTE, 20 * MINUTE, 19 * MINUTE, 30 * MINUTE])
    # When the window starts at minute 20
    page = entry_page("b", chain, limit=10, start=20 * MINUTE, end=None)
    # Then the read goes past the minute-19 entry and stops only beyond the slack
    assert [e.created_at for e in page.entries] == [30 * MINUTE, 20 * MINUTE]
    read: list[int] = []

    def counted() -> Iterator[ChainedEntry]:
        for entry in chain:
            read.append(entry.sequence)
            yield entry

    entry_page("b", counted(), limit=10, start=20 * MINUTE + TIME_SLACK_MS // 2, end=None)
    assert read == [4, 3, 2, 1]
    # And the end is exclusive
    assert [e.created_at for e in entry_page("b", chain, limit=10, start=None, end=20 * MINUTE).entries] == [
        19 * MINUTE,
        10 * MINUTE,
    ]


def test_pages_of_several_accounts_merge_newest_first_and_resume_below_what_was_shown() -> None:
    # Given two accounts whose entries interleave in time
    first = entry_page("x", _chain("cy", [1 * MINUTE, 3 * MINUTE, 5 * MINUTE]), limit=2, start=None, end=None)
    second = entry_page("y", _chain("di", [2 * MINUTE, 4 * MINUTE]), limit=2, start=None, end=None)
    # When two are shown
    merged = merge_pages([first, second], limit=2)
    # Then they are the two newest, one from each, and each account resumes below what it showed
    assert [e.created_at for e in merged.entries] == [5 * MINUTE, 4 * MINUTE]
    assert merged.below == {"x": 3, "y": 2}


def test_an_account_nothing_was_shown_from_is_pinned_below_its_newest_entry() -> None:
    newer = entry_page("x", _chain("ed", [10 * MINUTE, 11 * MINUTE]), limit=1, start=None, end=None)
    older = entry_page("y", _chain("fa", [1 * MINUTE]), limit=1, start=None, end=None)
    assert merge_pages([newer, older], limit=1).below == {"x": 2, "y": 2}
    # A listing that showed everything is complete
    assert merge_pages([older], limit=1) == HistoryPage(older.entries, {})


def test_recent_entries_carry_the_balance_as_read_and_only_entries_since() -> None:
    chain = _chain("gus", [1 * MINUTE, 60 * MINUTE, 61 * MINUTE])
    recent = recent_entries(chain, since=30 * MINUTE)
    assert recent.balance == 300
    assert [e.created_at for e in recent.entries] == [61 * MINUTE, 60 * MINUTE]
    # An account with only older entries still has its balance; one without entries has 0
    assert recent_entries(chain, since=120 * MINUTE).balance == 300
    assert recent_entries([], since=0).balance == 0
