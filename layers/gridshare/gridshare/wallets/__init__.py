"""Wallets: money in and out (Stripe top-ups, withdrawals, refunds), sales and statements; the ledger's only writer."""
