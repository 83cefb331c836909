"""A wallet and its transactions: /api/wallets/{id}."""
