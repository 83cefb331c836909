"""The right of access: everything held about a client, as JSON and as a printable page."""
