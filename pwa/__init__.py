"""The PWA: static files served from ``pwa/static`` at ``/``. No build step."""

from __future__ import annotations

import hashlib
import re
from base64 import b64encode
from pathlib import Path

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.router import Router
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# The developer setting's API-key form, outside static/ so that only dev_key_module serves it.
DEV_KEY_FORM = Path(__file__).parent / "dev" / "dev-key.js"
DEV_KEY_STUB = (
    "// The API-key form is for development and the demo only (WALLET_DEV_API_KEY_FORM).\n"
    "export const devKeyForm = null;\n"
)


def inline_script_sources() -> tuple[str, ...]:
    """The Content-Security-Policy sources (``'sha256-…'``) of the app shell's inline scripts
    (index.html's early start), read from the file itself so the hash never lags behind it."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return tuple(
        f"'sha256-{b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in INLINE_SCRIPT.findall(html)
    )


def static_router() -> Router:
    """Serve the app shell and its assets; public (the data behind them is not)."""
    return create_static_files_router(
        path="/",
        directories=[STATIC_DIR],
        html_mode=True,
        name="pwa",
        include_in_schema=False,
        opt={"public": True},
    )


def dev_key_module(enabled: bool) -> HTTPRouteHandler:
    """``/js/dev-key.js``: the API-key form's module when ``enabled`` (development, tests,
    ``wallet demo``), else a stub without it. Always 200, so the app asks without a console
    error; never stored, so switching the setting off takes effect at the next page load."""
    body = DEV_KEY_FORM.read_text(encoding="utf-8") if enabled else DEV_KEY_STUB

    @get("/js/dev-key.js", opt={"public": True}, include_in_schema=False, name="pwa-dev-key")
    async def dev_key() -> Response[str]:
        return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-store"})

    return dev_key
