"""Checkout at the door: charges and pricing, holds and visits, payment requests,
client tokens, QR cards, trusted providers, and the lookup gate."""
