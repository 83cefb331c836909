"""The PWA: static files served from ``pwa/static`` at ``/``. No build step."""

from __future__ import annotations

from pathlib import Path

from litestar.router import Router
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"


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
