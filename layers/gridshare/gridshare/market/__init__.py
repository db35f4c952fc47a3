"""The peer-to-peer market: orders per 15-minute delivery interval, gate closure, clearing, trades, market data."""
