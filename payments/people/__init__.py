"""People: principals and API keys, passkeys, sessions, invites, mandates, the audit
trail, rate limits and phone numbers. Nothing here moves money."""
