"""The PWA: static files served from ``pwa/static`` at ``/``. No build step: the app's code and
stylesheet are minified and compressed in memory when the server starts (:func:`assets`)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import posixpath
import re
from base64 import b64encode
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
import minify
from litestar import HttpMethod, Request, Response, get, route
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


def first_views() -> dict[str, list[str]]:
    """The early start's first screens (index.html's ``code([...])``): each view's name, the
    first of its group, and the modules of the group."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    groups = [re.findall(r'"([\w./-]+)"', group) for group in EARLY_VIEWS.findall(html)]
    return {names[0]: names for names in groups if names}


def first_screen_files(view: str | None = None) -> list[Path]:
    """index.html, app.js, the shell's modules it preloads and the early start's views (only
    ``view``'s group, when named)."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    names = ["js/app.js", *PRELOADED.findall(html)]
    for name, group in first_views().items():
        if view is None or name == view:
            # A group may name a shell module from the views' folder ("../forms").
            names += [posixpath.normpath(f"js/views/{n}.js") for n in group]
    return [STATIC_DIR / "index.html", *(STATIC_DIR / n for n in dict.fromkeys(names))]


def first_strings(lang: str, view: str | None = None) -> dict[str, str]:
    """The texts of ``lang`` that a first screen uses (``view``: the balances, the charge form
    or the client list; all three when None) and the shell around it: each key their files
    name, every key that starts as one they build does, and both forms of a count. A tenth of
    the whole file for one screen; the app loads the rest after the first screen (js/i18n.js,
    ``restOfStrings``)."""
    strings: dict[str, str] = json.loads(
        (STATIC_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8")
    )
    keys: set[str] = set()
    starts: list[str] = []
    for path in first_screen_files(view):
        src = path.read_text(encoding="utf-8")
        for word in LITERAL.findall(src):
            keys |= {word, f"{word}.one", f"{word}.other"}
        starts += PREFIX.findall(src)
    return {k: v for k, v in strings.items() if k in keys or k.startswith(tuple(starts))}


def first_strings_module() -> HTTPRouteHandler:
    """``/i18n/{fi,sv,en}.first.{view}.json`` (view: ``wallet``, ``charge``, ``clients``):
    :func:`first_strings`, read from the files when the server starts (they change only with a
    release, like the files themselves)."""
    return precompressed_files(
        {
            f"/i18n/{lang}.first.{view}.json": first_strings_asset(lang, view)
            for lang in LANGS
            for view in first_views()
        },
        name="pwa-first-strings",
    )


@functools.cache
def first_strings_asset(lang: str, view: str) -> Asset:
    body = json.dumps(first_strings(lang, view), ensure_ascii=False, separators=(",", ":"))
    return Asset.of(body.encode(), "application/json")


# The files served from memory, minified and compressed once (the rest, index.html, the icons,
# the vendored libraries, through the static files router as they are on disk): the app's
# code, its stylesheet, the language files, the service worker, the manifest.
MINIFIED = {".js": "application/javascript", ".css": "text/css"}
MEDIA_TYPES = {
    ".js": "text/javascript",  # text/*: Litestar adds "; charset=utf-8"
    ".css": "text/css",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
# Served as they are: already minified by their authors (and not ours to rewrite).
AS_IS = ("vendor/",)


@dataclass(frozen=True)
class Asset:
    """One file as served: its body as it is (``identity``), gzipped and brotli-compressed (each
    only if smaller), with one validator (the identity body's hash; a compressed copy's
    carries its encoding)."""

    media_type: str
    tag: str
    bodies: dict[str, bytes]

    @classmethod
    def of(cls, body: bytes, media_type: str) -> Asset:
        compressed = {
            "gzip": gzip.compress(body, compresslevel=9, mtime=0),
            # Quality 11: too slow for each request (about 1 MB/s), once per file is fine.
            "br": brotli.compress(body, quality=11),
        }
        return cls(
            media_type=media_type,
            tag=hashlib.sha256(body).hexdigest()[:32],
            bodies={
                "identity": body,
                **{name: data for name, data in compressed.items() if len(data) < len(body)},
            },
        )

    def etag(self, encoding: str) -> str:
        return f'"{self.tag}"' if encoding == "identity" else f'"{self.tag}-{encoding}"'


def minified(path: Path) -> bytes:
    """``path``'s text as served: JavaScript and CSS minified (tdewolff's minifier, local names
    kept so that an error's stack still names them), anything else as it is."""
    text = path.read_text(encoding="utf-8")
    kind = MINIFIED.get(path.suffix)
    if kind is None or path.relative_to(STATIC_DIR).as_posix().startswith(AS_IS):
        return text.encode()
    minify.config({"js-keep-var-names": True})
    return str(minify.string(kind, text)).encode()


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file of ``pwa/static`` served from memory, by its address: read, minified and
    compressed once per process (about a second), when the app is created."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_file():
            continue
        found["/" + path.relative_to(STATIC_DIR).as_posix()] = Asset.of(minified(path), media_type)
    return found


def encoding_for(accept_encoding: str, offered: Iterable[str] = ("br", "gzip")) -> str:
    """br where the client accepts it, else gzip, else the body as it is (``q=0`` refuses);
    of the ``offered`` ones."""
    accepted: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name:
            accepted[name.strip()] = q
    for encoding in ("br", "gzip"):
        if encoding in offered and accepted.get(encoding, accepted.get("*", 0.0)) > 0:
            return encoding
    return "identity"


def precompressed_files(files: dict[str, Asset], *, name: str) -> HTTPRouteHandler:
    """GET (and HEAD) for ``files``: the copy the client's Accept-Encoding takes, with its ETag
    and ``Cache-Control: no-cache`` (revalidated each time: the edge answers 304 when the
    ETag still matches, as for every app file, wallet_api/edge.py).
    ``precompressed`` keeps the app's gzip middleware off them (wallet_api/app.py)."""

    @route(
        list(files),
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        opt={"public": True, "precompressed": True},
        include_in_schema=False,
        name=name,
    )
    async def serve(request: Request[Any, Any, Any]) -> Response[bytes]:
        asset = files[request.url.path]
        encoding = encoding_for(request.headers.get("accept-encoding", ""), asset.bodies)
        etag = asset.etag(encoding)
        headers = {"Cache-Control": "no-cache", "ETag": etag, "Vary": "Accept-Encoding"}
        if encoding != "identity":
            headers["Content-Encoding"] = encoding
        body = asset.bodies[encoding]
        if request.method == HttpMethod.HEAD:
            headers["Content-Length"] = str(len(body))
            body = b""
        return Response(body, media_type=asset.media_type, headers=headers)

    return serve


def static_files_module() -> HTTPRouteHandler:
    """:func:`assets` at their addresses (before the static files router, which serves the rest)."""
    return precompressed_files(assets(), name="pwa-assets")


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
