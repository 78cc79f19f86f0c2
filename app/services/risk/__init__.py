"""Risk services (DOMAIN.md §3): prices, positions, escrow collateral, margin recalculation,
batches, VaR and stress. Each function works inside the caller's unit of work."""
