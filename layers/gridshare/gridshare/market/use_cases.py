"""What every market use-case group shares: its collaborators (how orders and trades look at the edge:
:mod:`gridshare.market.views`).

Other contexts are reached through their services only: wallets (a BID's reservation in escrow and its
release), sites (an ASK's site: its owner and capacity), communities (membership of a community-only
order); its events go out through a publisher (:mod:`gridshare.market.pushes`). The service factories are
injected, so tests may pass fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gridshare.communities.service import CommunitiesService, communities_service
from gridshare.market.config import MarketConfig, market_config
from gridshare.market.pushes import MarketEvents, market_events
from gridshare.market.store import MarketStore
from gridshare.market.views import order_view, trade_view
from gridshare.sites.service import SitesService, sites_service
from gridshare.wallets.service import WalletService, wallet_service

__all__ = ["MarketUseCases", "order_view", "trade_view"]


@dataclass
class MarketUseCases:
    """A group of market use cases and the collaborators every group is built with (by ``MarketService``)."""

    store: MarketStore
    clock: Callable[[], int]
    config: Callable[[], MarketConfig] = market_config
    wallets: Callable[[], WalletService] = wallet_service
    sites: Callable[[], SitesService] = sites_service
    communities: Callable[[], CommunitiesService] = communities_service
    events: Callable[[], MarketEvents] = market_events
