"""The double-entry ledger: a pure in-memory core and its DynamoDB store (written only by wallets)."""
