"""Reading histories newest first (gridshare.ledger.history): pages, time windows with slack, merging, resuming.

Pure: chains are built with the in-memory ledger, so entries carry real sequences and balances.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gridshare.kernel import clock
from gridshare.kernel.deadline import Deadline
from gridshare.ledger import core as L
from gridshare.ledger.core import ChainedEntry
from gridshare.ledger.history import (
    TIME_SLACK_MS,
    EntryPage,
    HistoryPage,
    entry_page,
    merge_pages,
    recent_entries,
)

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


def _slow(
    chain: Iterable[ChainedEntry], frozen: clock.FrozenClock, seconds: float, read: list[int]
) -> Iterator[ChainedEntry]:
    """The chain as a store would read it, each entry taking `seconds` of the (frozen) kernel clock."""
    for entry in chain:
        frozen.advance(seconds)
        read.append(entry.sequence)
        yield entry


def test_a_read_stops_at_the_deadline_after_at_least_one_entry() -> None:
    chain = _chain("hal", [MINUTE * i for i in range(1, 11)])
    with clock.frozen(0) as frozen:
        # Given a deadline 3.5 s away and entries that take a second each
        read: list[int] = []
        page = entry_page("h", _slow(chain, frozen, 1, read), limit=5, start=None, end=None, deadline=Deadline(3500))
        # Then the read stops after the fourth entry: nothing more is read, the page says where it stopped
        assert read == [10, 9, 8, 7] and [e.sequence for e in page.entries] == [10, 9, 8, 7]
        assert page.stopped is not None and page.stopped.sequence == 7 and not page.more
        # And with the deadline long past, a read still takes one entry, so a listing always moves on
        late: list[int] = []
        page = entry_page("h", _slow(chain, frozen, 1, late), limit=5, start=None, end=None, deadline=Deadline(0))
        assert late == [10] and page.stopped is not None and page.stopped.sequence == 10
        # And a stopped read that matched nothing resumes below the entry it stopped at
        stopped = entry_page("h", chain, limit=5, start=None, end=1, deadline=Deadline(0))
        assert stopped.entries == () and merge_pages([stopped], limit=5).below == {"h": 10}


def test_a_stopped_account_holds_back_older_entries_of_the_others_and_a_listing_pages_through_everything() -> None:
    # Given two accounts whose entries interleave, the first one stopped after its two newest
    ann = _chain("ivy", [2 * MINUTE, 4 * MINUTE, 6 * MINUTE, 8 * MINUTE])
    bob = _chain("jon", [1 * MINUTE, 3 * MINUTE, 5 * MINUTE, 7 * MINUTE])
    stopped = EntryPage("a", tuple(ann[:2]), more=False, stopped=ann[1])
    whole = entry_page("b", bob, limit=10, start=None, end=None)
    # When merged
    merged = merge_pages([stopped, whole], limit=10)
    # Then nothing older than what the stopped account read (6 min) is shown before its rest is read
    assert [e.created_at for e in merged.entries] == [8 * MINUTE, 7 * MINUTE, 6 * MINUTE]
    assert merged.below == {"a": 3, "b": 4}

    # And a listing whose every read stops after one entry still shows every entry once, newest first
    shown: list[int] = []
    below: dict[str, int | None] = {"a": None, "b": None}
    chains = {"a": ann, "b": bob}
    for _ in range(20):
        pages = [
            entry_page(
                account,
                [e for e in chains[account] if seq is None or e.sequence < seq],
                limit=3,
                start=None,
                end=None,
                deadline=Deadline(0),
            )
            for account, seq in below.items()
        ]
        page = merge_pages(pages, limit=3)
        assert page.entries or not page.below, "every page moves forward (a stopped read may end on an empty one)"
        shown += [e.created_at for e in page.entries]
        if not page.below:
            break
        below = dict(page.below)
    assert shown == [MINUTE * i for i in range(8, 0, -1)]
