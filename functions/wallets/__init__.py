"""Wallets context: ledger-backed wallets, Stripe top-ups and webhooks, withdrawals, refunds, statements."""
