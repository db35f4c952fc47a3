"""The query models' specs, for parsing queries without pydantic (gridshare.http.lean_query).

Generated from the query models the routes name (gridshare.<context>.requests), which stay the source of truth.
Do not edit; regenerate: `gridshare query-specs > layers/gridshare/gridshare/http/query_specs.py`.
A model whose spec says `unsupported` is always parsed by pydantic.
"""

from __future__ import annotations

from typing import Any, Final

SPECS: Final[dict[str, dict[str, Any]]] = {
    "gridshare.alerts.requests:AlertsQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {
                "name": "status",
                "alias": "status",
                "kind": "choice",
                "choices": ["open", "acknowledged", "resolved"],
                "default": None,
            },
            {
                "name": "severity",
                "alias": "severity",
                "kind": "choice",
                "choices": ["info", "warning", "critical"],
                "default": None,
            },
            {"name": "device_id", "alias": "deviceId", "kind": "str", "max_length": 64, "default": None},
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.alerts.requests:RulesQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "device_id", "alias": "deviceId", "kind": "str", "max_length": 64, "default": None},
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.communities.requests:EnergyQuery": {
        "range": "ResolutionRangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_DAYS": {"15m": 31, "1h": 92, "1d": 366}, "MAX_SPAN_DAYS": None},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {
                "name": "resolution",
                "alias": "resolution",
                "kind": "choice",
                "choices": ["15m", "1h", "1d"],
                "default": "1h",
            },
            {"name": "detail", "alias": "detail", "kind": "bool", "default": False},
        ],
    },
    "gridshare.communities.requests:ListQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.devices.requests:CertificateListQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.devices.requests:CommandListQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.devices.requests:HistoryQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.devices.requests:ListQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
            {
                "name": "status",
                "alias": "status",
                "kind": "choice",
                "choices": ["never_seen", "online", "offline", "decommissioned"],
                "default": None,
            },
        ],
    },
    "gridshare.grid.requests:ConnectionsQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.grid.requests:HistoryQuery": {
        "range": "ResolutionRangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_DAYS": {"15m": 31, "1h": 92, "1d": 366}, "MAX_SPAN_DAYS": None},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {
                "name": "metric",
                "alias": "metric",
                "kind": "choice",
                "choices": ["generation", "load", "frequency", "voltage"],
                "required": True,
            },
            {
                "name": "resolution",
                "alias": "resolution",
                "kind": "choice",
                "choices": ["15m", "1h", "1d"],
                "default": "1h",
            },
        ],
    },
    "gridshare.grid.requests:NodesQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {
                "name": "type",
                "alias": "type",
                "kind": "choice",
                "choices": ["generator", "substation", "transformer", "feeder", "load", "storage"],
                "default": None,
            },
            {
                "name": "status",
                "alias": "status",
                "kind": "choice",
                "choices": ["ok", "overloaded", "no_data"],
                "default": None,
            },
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.identity.requests:EventsQuery": {"unsupported": "field validator _type"},
    "gridshare.identity.requests:ListUsersQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {
                "name": "role",
                "alias": "role",
                "kind": "choice",
                "choices": ["admin", "operator", "prosumer", "consumer", "investor", "viewer"],
                "default": None,
            },
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.identity.requests:ThreatsQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "window_minutes", "alias": "windowMinutes", "kind": "int", "ge": 1, "le": 1440, "default": 60},
            {"name": "lookback_hours", "alias": "lookbackHours", "kind": "int", "ge": 1, "le": 168, "default": 24},
        ],
    },
    "gridshare.market.requests:BookQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {
                "name": "interval",
                "alias": "interval",
                "kind": "str",
                "min_length": 1,
                "max_length": 40,
                "required": True,
            },
        ],
    },
    "gridshare.market.requests:DashboardQuery": {
        "range": "RangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_SPAN_DAYS": 366},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
        ],
    },
    "gridshare.market.requests:OrdersQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
            {
                "name": "status",
                "alias": "status",
                "kind": "choice",
                "choices": ["open", "filled", "partially_filled", "cancelled", "expired"],
                "default": None,
            },
            {"name": "interval", "alias": "interval", "kind": "str", "max_length": 40, "default": None},
        ],
    },
    "gridshare.market.requests:StatsQuery": {
        "range": "RangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_SPAN_DAYS": 7},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
        ],
    },
    "gridshare.market.requests:TradesQuery": {
        "range": "RangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_SPAN_DAYS": 31},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
            {"name": "interval", "alias": "interval", "kind": "str", "max_length": 40, "default": None},
        ],
    },
    "gridshare.notifications.requests:InboxQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.settlement.requests:RunsQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.sites.requests:EnergyQuery": {
        "range": "ResolutionRangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_DAYS": {"15m": 31, "1h": 92, "1d": 366}, "MAX_SPAN_DAYS": None},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {
                "name": "resolution",
                "alias": "resolution",
                "kind": "choice",
                "choices": ["15m", "1h", "1d"],
                "default": "1h",
            },
        ],
    },
    "gridshare.sites.requests:SiteDevicesQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.sites.requests:SitesQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {
                "name": "kind",
                "alias": "kind",
                "kind": "choice",
                "choices": ["solar", "wind", "battery", "mixed"],
                "default": None,
            },
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.telemetry.requests:DeadLetterQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {"name": "status", "alias": "status", "kind": "choice", "choices": ["open", "replayed"], "default": "open"},
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.telemetry.requests:HistoryQuery": {
        "range": "ResolutionRangeQuery",
        "class_vars": {
            "DEFAULT_SPAN_DAYS": 1,
            "MAX_DAYS": {"raw": 31, "15m": 31, "1h": 92, "1d": 366},
            "MAX_SPAN_DAYS": None,
        },
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "metric", "alias": "metric", "kind": "str", "min_length": 1, "max_length": 64, "required": True},
            {
                "name": "resolution",
                "alias": "resolution",
                "kind": "choice",
                "choices": ["raw", "15m", "1h", "1d"],
                "default": "raw",
            },
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 1000, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.wallets.requests:MetricsQuery": {
        "range": "RangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_SPAN_DAYS": None},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
        ],
    },
    "gridshare.wallets.requests:StatementQuery": {"unsupported": "field validator _recent"},
    "gridshare.wallets.requests:TransactionsQuery": {
        "range": "RangeQuery",
        "class_vars": {"DEFAULT_SPAN_DAYS": 1, "MAX_SPAN_DAYS": 366},
        "fields": [
            {"name": "from_", "alias": "from", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {"name": "to", "alias": "to", "kind": "time", "checks": ["parse_time", "check_time"], "default": None},
            {
                "name": "asset",
                "alias": "asset",
                "kind": "choice",
                "choices": [
                    "AED",
                    "AUD",
                    "BGN",
                    "BHD",
                    "BRL",
                    "CAD",
                    "CHF",
                    "CLP",
                    "CNY",
                    "CZK",
                    "DKK",
                    "EGP",
                    "EUR",
                    "GBP",
                    "GHS",
                    "HKD",
                    "HUF",
                    "IDR",
                    "ILS",
                    "INR",
                    "ISK",
                    "JOD",
                    "JPY",
                    "KES",
                    "KRW",
                    "KWD",
                    "KWH",
                    "MAD",
                    "MXN",
                    "MYR",
                    "NGN",
                    "NOK",
                    "NZD",
                    "OMR",
                    "PHP",
                    "PLN",
                    "RON",
                    "RWF",
                    "SAR",
                    "SEK",
                    "SGD",
                    "THB",
                    "TND",
                    "TRY",
                    "UGX",
                    "USD",
                    "VND",
                    "XAF",
                    "XOF",
                    "ZAR",
                ],
                "default": None,
            },
            {
                "name": "type_",
                "alias": "type",
                "kind": "choice",
                "choices": [
                    "energy_credit",
                    "investment",
                    "pool_payout",
                    "refund",
                    "reservation",
                    "reservation_release",
                    "reversal",
                    "sale",
                    "settlement",
                    "topup",
                    "transfer",
                    "withdrawal_approve",
                    "withdrawal_reject",
                    "withdrawal_request",
                ],
                "default": None,
            },
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
    "gridshare.wallets.requests:WithdrawalsQuery": {
        "range": None,
        "class_vars": {},
        "fields": [
            {
                "name": "status",
                "alias": "status",
                "kind": "choice",
                "choices": ["requested", "approving", "rejecting", "approved", "rejected"],
                "default": "requested",
            },
            {"name": "limit", "alias": "limit", "kind": "int", "ge": 1, "le": 200, "default": 50},
            {"name": "cursor", "alias": "cursor", "kind": "str", "default": None},
        ],
    },
}
