"""The PWA: static files served from ``pwa/static`` at ``/``. No build step."""

from __future__ import annotations

import hashlib
import json
import re
from base64 import b64encode
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
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


# What the first screens' texts are read from: index.html, the modules it preloads and the views
# its early start names (code([...])), and app.js.
PRELOADED = re.compile(r'href="/(js/[\w/-]+\.js)"')
EARLY_VIEWS = re.compile(r"code\(\[([^\]]*)\]\)")
# A text's key written out ("wallet.title") or the start of one built in a template
# (`nav.${name}`): every key with that start.
LITERAL = re.compile(r"""["'`]([\w.-]+)["'`]""")
PREFIX = re.compile(r"`([\w.-]+\.)\$\{")
LANGS = ("fi", "sv", "en")


def first_screen_files() -> list[Path]:
    """index.html, app.js, the shell's modules it preloads and the early start's views."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    names = ["js/app.js", *PRELOADED.findall(html)]
    for group in EARLY_VIEWS.findall(html):
        names += [f"js/views/{n}.js" for n in re.findall(r'"([\w-]+)"', group)]
    return [STATIC_DIR / "index.html", *(STATIC_DIR / n for n in dict.fromkeys(names))]


def first_strings(lang: str) -> dict[str, str]:
    """The texts of ``lang`` that the first screens use (the balances, the charge form, the
    client list and the shell around them): each key their files name, every key that starts
    as one they build does, and both forms of a count. About a third of the whole file; the
    app loads the rest after the first screen (js/i18n.js, ``restOfStrings``)."""
    strings: dict[str, str] = json.loads(
        (STATIC_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8")
    )
    keys: set[str] = set()
    starts: list[str] = []
    for path in first_screen_files():
        src = path.read_text(encoding="utf-8")
        for word in LITERAL.findall(src):
            keys |= {word, f"{word}.one", f"{word}.other"}
        starts += PREFIX.findall(src)
    return {k: v for k, v in strings.items() if k in keys or k.startswith(tuple(starts))}


def first_strings_module() -> HTTPRouteHandler:
    """``/i18n/{fi,sv,en}.first.json``: :func:`first_strings`, read from the files when the
    server starts (they change only with a release, like the files themselves)."""
    bodies = {
        f"/i18n/{lang}.first.json": json.dumps(first_strings(lang), ensure_ascii=False)
        for lang in LANGS
    }
    tags = {path: hashlib.sha256(body.encode()).hexdigest()[:32] for path, body in bodies.items()}

    @get(list(bodies), opt={"public": True}, include_in_schema=False, name="pwa-first-strings")
    async def first(request: Request[Any, Any, Any]) -> Response[str]:
        path = request.url.path
        return Response(
            bodies[path],
            media_type="application/json",
            headers={"Cache-Control": "no-cache", "ETag": f'"{tags[path]}"'},
        )

    return first


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
