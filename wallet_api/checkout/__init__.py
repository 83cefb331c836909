"""Checkout at the door: phone, token and card checkout, holds, payment requests, payment
tokens, trusted providers and QR cards."""
