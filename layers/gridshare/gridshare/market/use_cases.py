"""What every market use-case group shares: its collaborators (how orders and trades look at the edge:
:mod:`gridshare.market.views`).

Other contexts are reached through their services only: wallets (a BID's reservation in escrow and its
release), sites (an ASK's site: its owner and capacity), communities (membership of a community-only
order); its events go out through a publisher (:mod:`gridshare.market.pushes`). The service factories are
injected, so tests may pass fakes. The default ones import their context when first called: a request that
reads only the market's own tables (orders, the book, trades) does not load wallets, sites and communities
(and what they import) on a cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gridshare.market.pushes import MarketEvents, market_events
from gridshare.market.store import MarketStore
from gridshare.market.views import order_view, trade_view

if TYPE_CHECKING:
    from gridshare.communities.service import CommunitiesService
    from gridshare.market.config import MarketConfig
    from gridshare.sites.service import SitesService
    from gridshare.wallets.service import WalletService

__all__ = [
    "MarketUseCases",
    "communities_service",
    "configured_market",
    "order_view",
    "sites_service",
    "trade_view",
    "wallet_service",
]


def configured_market() -> MarketConfig:
    """The market's configuration (gridshare.market.config.market_config), its module (and the fee rules)
    imported on first use."""
    from gridshare.market.config import market_config

    return market_config()


def wallet_service() -> WalletService:
    """The wallets context's service (gridshare.wallets.service.wallet_service), imported on first use."""
    from gridshare.wallets.service import wallet_service as factory

    return factory()


def sites_service() -> SitesService:
    """The sites context's service (gridshare.sites.service.sites_service), imported on first use."""
    from gridshare.sites.service import sites_service as factory

    return factory()


def communities_service() -> CommunitiesService:
    """The communities context's service, imported on first use."""
    from gridshare.communities.service import communities_service as factory

    return factory()


@dataclass
class MarketUseCases:
    """A group of market use cases and the collaborators every group is built with (by ``MarketService``)."""

    store: MarketStore
    clock: Callable[[], int]
    config: Callable[[], MarketConfig] = configured_market
    wallets: Callable[[], WalletService] = wallet_service
    sites: Callable[[], SitesService] = sites_service
    communities: Callable[[], CommunitiesService] = communities_service
    events: Callable[[], MarketEvents] = market_events
