"""Live events: the outbox dispatcher, Server-Sent Events fan-out through Litestar Channels, and
Web Push. This package reads what ``payments`` wrote; it never imports ``wallet_api``."""
