"""The PWA: static files served from ``pwa/static`` at ``/``. The app's code and stylesheet are
minified and compressed in memory when the server starts (:func:`assets`). One file is built
ahead, by developers, and committed: the shell's modules in one (``make bundle``), served in
their place only while it is built from them as they are (:func:`shell_bundle`)."""

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
# index.html's inline scripts: the early start, and the import map the server puts before it.
INLINE_SCRIPT = re.compile(r'<script(?: type="importmap")?>(.*?)</script>', re.DOTALL)
# The developer setting's API-key form, outside static/ so that only dev_key_module serves it.
DEV_KEY_FORM = Path(__file__).parent / "dev" / "dev-key.js"
DEV_KEY_STUB = (
    "// The API-key form is for development and the demo only (WALLET_DEV_API_KEY_FORM).\n"
    "export const devKeyForm = null;\n"
)


def inline_script_sources() -> tuple[str, ...]:
    """The Content-Security-Policy sources (``'sha256-…'``) of the app shell's inline scripts
    (index.html's early start and the bundle's import map), read from the very page this
    process serves (:func:`shell_page_asset`, made once), so the hash never lags behind it, even
    when the bundle is built again while the server runs."""
    page = shell_page_asset().bodies["identity"].decode()
    return tuple(
        f"'sha256-{b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in INLINE_SCRIPT.findall(page)
    )


# ------------------------------------------------------------------ the shell's bundle
# On a phone's slow network every answer of the first screen's second wave costs its headers
# and some of the slowed processor's time; the shell's eight modules as one file saved 0.08 to
# 0.15 s of the first screen (docs/performance.md, B7 round 8). Built by pwa/bundle.mjs with
# esbuild (a developer's tool, like vendor.sh: nothing of Node runs on a server).
SHELL_BUNDLE = "js/shell.bundle.js"
BUNDLE_SOURCES = re.compile(
    r"^// sources: (?P<names>[\w./ -]+) sha256:(?P<digest>[0-9a-f]{64})$", re.M
)
SHELL_PRELOAD = re.compile(r'<link rel="modulepreload" href="/(js/[\w-]+\.js)">\n')


def sources_digest(static_dir: Path, names: Iterable[str]) -> str:
    """pwa/bundle.mjs's hash of the bundle's sources: each name, a NUL, its bytes, a NUL."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((static_dir / name).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def shell_bundle(static_dir: Path = STATIC_DIR) -> tuple[str, ...]:
    """The modules (``js/….js``) that the committed bundle holds, when it was built from them
    as they are now; none when it is missing or any of them changed since (then the page loads
    the modules themselves, and ``tests/wallet_api/test_shell_bundle.py`` fails until
    ``make bundle`` is run)."""
    try:
        head = (static_dir / SHELL_BUNDLE).read_text(encoding="utf-8")[:2000]
        found = BUNDLE_SOURCES.search(head)
        if found is None:
            return ()
        names = tuple(found["names"].split())
        fresh = sources_digest(static_dir, names) == found["digest"]
    except FileNotFoundError:
        return ()
    return names if fresh else ()


def shell_page(static_dir: Path = STATIC_DIR) -> str:
    """index.html as served. With a fresh bundle (:func:`shell_bundle`): an import map before
    the early start sends each bundled module's address to the bundle (the views import them
    by their own addresses, and the early start imports ``/js/app.js``), and the bundle is
    preloaded in the place of the modules it holds. Without one: the file as it is."""
    html = (static_dir / "index.html").read_text(encoding="utf-8")
    bundled = shell_bundle(static_dir)
    if not bundled:
        return html
    imports = {f"/{name}": f"/{SHELL_BUNDLE}" for name in bundled}
    import_map = json.dumps({"imports": imports}, separators=(",", ":"))
    html = html.replace("<script>", f'<script type="importmap">{import_map}</script>\n<script>', 1)
    first = True

    def preload(link: re.Match[str]) -> str:
        nonlocal first
        if link[1] not in bundled:
            return link[0]
        keep, first = first, False
        return f'<link rel="modulepreload" href="/{SHELL_BUNDLE}">\n' if keep else ""

    return SHELL_PRELOAD.sub(preload, html)


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
        return asset_response(request, files[request.url.path])

    return serve


def asset_response(request: Request[Any, Any, Any], asset: Asset) -> Response[bytes]:
    """``asset`` in the encoding the request accepts, with its ETag (see precompressed_files)."""
    encoding = encoding_for(request.headers.get("accept-encoding", ""), asset.bodies)
    headers = {"Cache-Control": "no-cache", "ETag": asset.etag(encoding), "Vary": "Accept-Encoding"}
    if encoding != "identity":
        headers["Content-Encoding"] = encoding
    body = asset.bodies[encoding]
    if request.method == HttpMethod.HEAD:
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, media_type=asset.media_type, headers=headers)


@functools.cache
def shell_page_asset() -> Asset:
    """:func:`shell_page` as served, compressed; made once per process, like :func:`assets`."""
    return Asset.of(shell_page().encode(), "text/html")


# Compressed here: the app's gzip middleware leaves these addresses alone (wallet_api/app.py).
SHELL_PAGE_PATHS = ("/", "/index.html")


async def serve_shell_page(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """``/`` and ``/index.html`` are :func:`shell_page`, from memory and compressed; None for
    every other address. Called by the app's ``before_request`` (wallet_api/app.py) after its
    checks, in the place of the static files router, which serves the rest as it is on disk."""
    if request.url.path in SHELL_PAGE_PATHS and request.method in ("GET", "HEAD"):
        return asset_response(request, shell_page_asset())
    return None


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
