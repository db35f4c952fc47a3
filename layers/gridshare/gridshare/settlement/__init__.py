"""Settlement: metered delivery against trades, imbalance at grid tariffs, energy credits, the revenue split
and community sharing, as balanced ledger postings with deterministic ids (pure domain code, no AWS)."""
