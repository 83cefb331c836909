"""Wiring of people's sign-in into the app: routes and middleware.

Session cookies are authenticated by ``wallet_api.auth.ApiKeyAuthentication`` itself (one
middleware yields the same ``Actor`` for an API key or a passkey session, and checks CSRF on
cookie-authenticated writes), so no extra middleware is needed here.
"""

from __future__ import annotations

from typing import Any

from wallet_api.signin.routes import CONTROLLERS

ROUTES: list[Any] = [*CONTROLLERS]
# Extra middleware, outermost first, placed before API-key authentication.
MIDDLEWARE: list[Any] = []
