"""People's sign-in: passkey ceremonies, invites, sessions, mandates and the audit trail."""
