"""Corrections of charges after their month has closed: /api/charges/{id}/corrections,
/api/corrections and the organizer's approval limit (issue 18)."""
