"""The Litestar application: routes, auth, problem+json, OpenAPI and lifecycle."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect

from payments.db import Database, create_database
from payments.people import ratelimits
from pwa import (
    SHELL_PAGE_PATHS,
    dev_key_module,
    first_strings_module,
    serve_shell_page,
    static_files_module,
    static_router,
)
from wallet_api import edge, health, logs, metrics
from wallet_api.auth import ApiKeyAuthentication
from wallet_api.charges import routes as charges
from wallet_api.checkout import routes as checkout
from wallet_api.corrections import routes as corrections
from wallet_api.deps import StrictBodies, provide_actor, provide_db
from wallet_api.edge import client_address
from wallet_api.live import lifecycle
from wallet_api.live import routes as live
from wallet_api.marketplace import routes as marketplace
from wallet_api.migrate import schema_state, upgrade
from wallet_api.people import routes as people
from wallet_api.privacy import routes as privacy
from wallet_api.problems import EXCEPTION_HANDLERS, problem
from wallet_api.reporting import routes as reporting
from wallet_api.scheduler import Scheduler
from wallet_api.settings import Settings
from wallet_api.signin import routes as signin
from wallet_api.sms import routes as sms
from wallet_api.sms.routes import INBOUND_PATH
from wallet_api.staff import routes as staff
from wallet_api.wallets import routes as wallets
from wallet_api.webhooks import routes as webhooks

log = logging.getLogger("wallet")
JSON_TYPES = ("application/json", "application/problem+json")
# The writes that are not JSON: a county's client list (text/csv is not a type a cross-site
# form can send, so, like JSON, it needs CORS, which the app never grants), and the SMS
# gateway's inbound webhook, a form as 46elks sends it: a cross-site form could send that type,
# but not the shared secret in its Authorization header, which the route requires.
FILE_TYPES = {"/api/clients/import": "text/csv", INBOUND_PATH: "application/x-www-form-urlencoded"}
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


async def require_json(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Writes under /api/ must send JSON (or the file of :data:`FILE_TYPES`); anything else is
    415 before any handler runs.

    A control character in a query parameter is refused too, as in any text a body carries
    (wallet_api.types): PostgreSQL text cannot hold a NUL, and the driver would fail with a 500
    instead of a 400 (found by tests/reliability/test_fuzz.py).
    """
    if any(CONTROL.search(value) for _, value in request.query_params.multi_items()):
        return problem(
            request, 400, "invalid-input", "Query parameters may not contain control characters"
        )
    if request.method in ("POST", "PUT", "PATCH") and request.url.path.startswith("/api/"):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == FILE_TYPES.get(request.url.path):
            return None  # its reader names the line of any byte that is not UTF-8
        if ctype not in JSON_TYPES:
            return problem(
                request, 415, "unsupported-media-type", "Content-Type must be application/json"
            )
        try:
            # JSON is UTF-8 (RFC 8259); other bytes would fail in the decoder as a 500.
            (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            return problem(request, 400, "invalid-input", "The body must be UTF-8 JSON")
    return None


async def limit_anonymous(request: Request[Any, Any, Any]) -> None:
    """Every public API route is limited per client address (429 with Retry-After), so no one
    can flood sign-in, invite redemption or provider applications, each of which writes rows.

    A route names its limit with ``opt={"per_address_limit": "<Settings attribute>"}``
    (default ``rate_anonymous``); ``None`` exempts it (``/health``, which touches nothing).
    Applied here, for every public route at once, so a new public route cannot escape it.
    """
    opt = request.route_handler.opt
    if not opt.get("public") or not request.url.path.startswith("/api/"):
        return  # the app's own files are public too, and a page load fetches dozens
    limit_name = opt.get("per_address_limit", "rate_anonymous")
    if limit_name is None:
        return
    settings: Settings = request.app.state.settings
    await ratelimits.take_attempt(
        request.app.state.db,
        f"{limit_name}:{client_address(request)}",
        limit=int(getattr(settings, limit_name)),
        window_s=settings.rate_window_s,
    )


# What stays on whatever address it was asked on: the API (integrations and curl use any
# address), the health and readiness checks, the metrics and the API docs.
NOT_REDIRECTED = ("/api/", "/health", "/ready", "/metrics", "/schema")


def redirect_to_origin(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """A page opened on another host than the configured origin's (127.0.0.1 instead of
    localhost, a bare IP, an old name) moves to the same path on the origin (307), since a
    passkey made or used there would fail later with a vague browser error. Only GET and HEAD
    of the app's pages and files; the API, /health and /schema answer on any host. Behind a
    proxy the host is X-Forwarded-Host when it sends one (Settings.redirect_to_origin)."""
    settings: Settings = request.app.state.settings
    if not settings.redirect_to_origin or request.method not in ("GET", "HEAD"):
        return None
    path = request.url.path
    if path.startswith(NOT_REDIRECTED):
        return None
    origin = urlsplit(settings.origin)
    asked = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    asked = asked.split(",")[0].strip().lower()
    if not asked or asked == origin.netloc.lower():
        return None
    query = request.url.query
    target = f"{settings.origin}{path}" + (f"?{query}" if query else "")
    return Redirect(target, status_code=307)


async def before_request(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Checks every request passes before its handler runs (in this order)."""
    moved = redirect_to_origin(request)
    if moved is not None:
        return moved
    refused = await require_json(request)
    if refused is None:
        await limit_anonymous(request)
    # The app's page with its shell's bundle (pwa.shell_page), instead of index.html as it is.
    return refused or await serve_shell_page(request)


async def ensure_schema(db: Database) -> None:
    """Migrate an empty database; refuse to serve an outdated one."""
    current, head = await schema_state(db)
    if current is None:
        log.info("empty database: applying migrations")
        await upgrade(db)
    elif current != head:
        raise SystemExit(
            f"database schema is at {current}, the code needs {head}: run 'wallet db upgrade'"
        )


async def _bounded(step: Coroutine[Any, Any, None], what: str, seconds: float = 10) -> None:
    """Run one shutdown step, but never let it hold the process: a step that does not finish
    in time is cancelled and left behind. (asyncio.wait, unlike wait_for, does not wait for a
    cancelled task that ignores its cancellation.)"""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("shutdown: %s did not stop within %.0f s; left behind", what, seconds)


# New container objects (net of those freed) before the collector's youngest pass, in a server
# process (freeze_heap); Python's default is 700.
YOUNG_THRESHOLD = 10_000


def freeze_heap() -> None:
    """Take what the process holds once it has started (modules, routes, the engine) out of
    Python's cyclic garbage collector: a full collection walked all of it, some 200,000 objects,
    and stopped every request for 116-141 ms several times a minute under load: the charges' p99
    (docs/performance.md, "The collector's pauses"). Collected first, so that only what is in
    use is kept; later garbage is collected as always.

    Then the youngest generation's pass waits for :data:`YOUNG_THRESHOLD` new objects instead of
    Python's 700: a batch of charges in flight holds more than 700 at once, so the collector ran
    its young pass (0.9 ms, finding next to nothing) about every 20 charges, some 4 % of the
    server's CPU; at 10,000 it ran 4 times in 6,200 charges (docs/performance.md, "The young
    generation's passes")."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, served: bool = False
) -> Litestar:
    """Build the application. Pass ``db`` to share an engine (tests); otherwise settings decide.
    ``served``: the app is a server process's for its life (``wallet_api.asgi``), whose heap is
    frozen once started (:func:`freeze_heap`); never in a process that builds many apps (tests),
    whose frozen cycles would never be freed."""
    settings = settings or Settings.from_env()
    owns_db = db is None

    async def on_startup(app: Litestar) -> None:
        database = db or create_database(settings.database_url)
        app.state.db = database
        await ensure_schema(database)
        app.state.scheduler = Scheduler(
            database, interval_s=settings.scheduler_interval_s, retention=settings.retention()
        )
        if settings.scheduler:
            app.state.scheduler.start()
        await lifecycle.start(app)
        metrics.watch_senders([app.state.live.push])
        metrics.watch_pipeline(database)
        if served:
            freeze_heap()

    async def on_shutdown(app: Litestar) -> None:
        live = getattr(app.state, "live", None)
        if live is not None:
            metrics.forget_senders([live.push])
        database = getattr(app.state, "db", None)
        if database is not None:
            metrics.forget_pipeline(database)
        await _bounded(lifecycle.stop(app), "live events")
        scheduler: Scheduler | None = getattr(app.state, "scheduler", None)
        if scheduler is not None:
            await _bounded(scheduler.stop(), "scheduler")
        if owns_db and getattr(app.state, "db", None) is not None:
            await _bounded(app.state.db.dispose(), "database pool")

    openapi = OpenAPIConfig(
        title="Personal-budget wallet",
        version="0.1.0",
        description="Budgets granted by decision, charged at the door, proven by a ledger. "
        "Amounts are integer euro cents. Errors are RFC 9457 problem+json.",
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(type="http", scheme="bearer", description="API key")
            }
        ),
        security=[{"apiKey": []}],
        path="/schema",
        # Litestar's documentation pages load their scripts from CDNs: only with
        # WALLET_API_DOCS=1; otherwise /schema and /schema/openapi.json are the JSON document.
        render_plugins=() if settings.api_docs else (JsonRenderPlugin(),),
    )
    app = Litestar(
        route_handlers=[
            *health.ROUTES,
            metrics.MetricsController,
            *charges.ROUTES,
            *corrections.ROUTES,
            *checkout.ROUTES,
            *wallets.ROUTES,
            *people.ROUTES,
            *marketplace.ROUTES,
            *reporting.ROUTES,
            *privacy.ROUTES,
            *staff.ROUTES,
            *webhooks.ROUTES,
            *sms.ROUTES,
            *live.ROUTES,
            *signin.ROUTES,
            dev_key_module(settings.dev_api_key_form),
            first_strings_module(),
            static_files_module(),
            static_router(),
        ],
        dependencies={
            "db": Provide(provide_db, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
        },
        middleware=[
            metrics.prometheus_config().middleware,
            DefineMiddleware(
                ApiKeyAuthentication,
                exclude=["^/schema", "^/health$", "^/ready$", "^/metrics$", f"^{INBOUND_PATH}$"],
            ),
        ],
        plugins=[StrictBodies()],  # money bodies decoded once, strictly (wallet_api.types)
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=before_request,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=openapi,
        logging_config=logs.logging_config(settings.log_format),
        request_max_body_size=settings.max_body_bytes,
        # gzip what is worth it; never the SSE stream, whose events must leave at once, nor the
        # app's files, compressed once when it starts (pwa.precompressed_files, and the page
        # itself, pwa.serve_shell_page).
        compression_config=CompressionConfig(
            backend="gzip",
            gzip_compress_level=6,
            minimum_size=1024,
            exclude=["^/api/events", *(f"^{re.escape(p)}$" for p in SHELL_PAGE_PATHS)],
            exclude_opt_key="precompressed",
        ),
    )
    app.state.settings = settings
    edge.install(app, settings)  # proxies, request id, security headers, access log
    return app
