"""How every service is built: a cached factory with injectable collaborators.

A Lambda container builds each service once, on first use (never at import time), and reuses it; a test
swaps in a service built with fakes for the span of a `with` block, without reaching into module globals:

    wallet_service = ServiceFactory(WalletService)            # in the context's service module
    wallet_service().top_up(...)                                # in a route
    with wallet_service.override(WalletService(gateway_factory=Fake)):   # in a test
        ...
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
_ALL: list[ServiceFactory[object]] = []


class ServiceFactory(Generic[T]):
    """Builds a service on first call and returns the same instance afterwards."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._instance: T | None = None
        self._lock = threading.Lock()
        _ALL.append(self)  # type: ignore[arg-type]

    def __call__(self) -> T:
        instance = self._instance
        if instance is None:
            with self._lock:
                if self._instance is None:
                    self._instance = self._build()
                instance = self._instance
        return instance

    def reset(self) -> None:
        """Forget the instance: the next call builds a fresh one (a new container, or new settings)."""
        with self._lock:
            self._instance = None

    def use(self, instance: T) -> None:
        """Serve `instance` until the next `reset` (tests: a service built with fakes)."""
        with self._lock:
            self._instance = instance

    @contextmanager
    def override(self, instance: T) -> Iterator[T]:
        """Serve `instance` until the block ends, then a fresh build."""
        self.use(instance)
        try:
            yield instance
        finally:
            self.reset()


def reset_services() -> None:
    """Forget every built service (tests and the local stack, when the environment changes)."""
    for factory in _ALL:
        factory.reset()
