"""Cookie names and attributes for sessions and WebAuthn ceremonies."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import Cookie

from wallet_api.settings import Settings

CSRF_HEADER = "x-csrf-token"


def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain.
    return "__Host-wallet_session" if settings.secure_cookies else "wallet_session"


def ceremony_cookie_name(settings: Settings) -> str:
    return "__Host-wallet_ceremony" if settings.secure_cookies else "wallet_ceremony"


def make_cookie(settings: Settings, key: str, value: str, max_age: int | None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def expired_cookie(settings: Settings, key: str) -> Cookie:
    return make_cookie(settings, key, "", 0)


def settings_of(app_state: Any) -> Settings:
    settings: Settings = app_state.settings
    return settings
