"""Prometheus metrics at ``/metrics``, for the operator's scraper only.

Served only when ``WALLET_METRICS_TOKEN`` is set, to a request that sends it as a bearer token
(``Authorization: Bearer <token>``, compared in constant time): no token configured, 404, as if
the route did not exist; a missing or wrong token, 401. The body is Prometheus text.

What is there:

* Litestar's HTTP metrics (``litestar.plugins.prometheus``): ``wallet_requests_total``,
  ``wallet_request_duration_seconds``, ``wallet_requests_in_progress``, labelled by the route's
  path template (not the raw path, so ids do not multiply the series).
* ``wallet_charges_total{outcome}``: captured, pending_approval (a payment request), declined,
  replayed (an idempotent retry); counted in the web layer after the use case committed.
* ``wallet_charge_declines_total{type}``: why charges were declined (the problem type slug, or
  ``declined-by-client`` when a client declines a payment request).
* ``wallet_lookups_refused_total{kind}``: client lookups (phone, code, card) refused by the
  lookup gate's limits.
* ``wallet_sse_streams_open``: live event streams held open by this process.
* ``wallet_pushes_total{result}``: Web Push deliveries of this process: sent, failed, gone
  (the subscription had expired: deleted), refused (by the outbound policy).
* ``wallet_charge_batches_total``, ``wallet_charge_batch_charges_total``,
  ``wallet_charge_batch_retried_total`` and ``wallet_charge_batch_seconds_total``: the charge
  pipeline's transactions in this process, the charges they carried (the ratio is the charges
  per transaction), the charges run again alone after their batch failed as a whole, and the
  seconds it had a transaction open (its rate is the share of time the pipeline was busy;
  near 1, charges queue behind it) (payments.checkout.pipeline).
* ``wallet_outbox_lag_seconds``: age of the oldest undelivered outbox event (0 when none).
* ``wallet_webhook_deliveries{status}``: webhook deliveries waiting (``pending``) and given up
  (``failed``, kept 30 days): read from the database, so every process reports the same.
* ``wallet_last_funding_run_timestamp_seconds`` and
  ``wallet_last_settlement_run_timestamp_seconds``: Unix time of the newest funding transfer
  and the newest settlement (0: never).

The last three are read from the database at scrape time, so every process reports the same.
The counters and gauges before them live in each process: with several processes
(``--workers``, several hosts, ``wallet worker``), each exposes its own, and the scraper should
scrape each (Prometheus sums them). prometheus_client's multiprocess mode is not used.

Pushes are counted where they are sent, i.e. in the processes that run the dispatcher: in a
deployment that is ``wallet worker`` alone, which has no HTTP app. It serves the same metrics
itself when ``WALLET_WORKER_METRICS_PORT`` is set (:func:`serve_worker_metrics`: ``GET
/metrics`` on 127.0.0.1 and that port, under the same token rule; off by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from notifications import sms
from notifications.models import WebhookDelivery
from payments.checkout import pipeline
from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError
from payments.ledger.periods import period_of
from payments.marketplace import listings_cache
from payments.models import OutboxEvent, Settlement, Transfer
from payments.results import Happened, Outcome
from payments.vocabulary import TransferKind

log = logging.getLogger("wallet.metrics")
T = TypeVar("T")
CHARGES = Counter("wallet_charges", "Charges attempted, by outcome", ["outcome"])
DECLINES = Counter("wallet_charge_declines", "Declined charges, by problem type", ["type"])
LOOKUPS_REFUSED = Counter(
    "wallet_lookups_refused", "Client lookups refused by the lookup limits", ["kind"]
)
PRUNED = Counter(
    "wallet_pruned_rows",
    "Rows deleted (closed clients: pseudonymised) by the retention prune, by kind",
    ["kind"],
)
SSE_OPEN = Gauge("wallet_sse_streams_open", "Live event streams open in this process")
OUTBOX_LAG = Gauge(
    "wallet_outbox_lag_seconds", "Age of the oldest undelivered outbox event (0: none)"
)
WEBHOOKS = Gauge(
    "wallet_webhook_deliveries",
    "Webhook deliveries waiting (pending) and given up (failed, kept for their retention period)",
    ["status"],
)
LAST_FUNDING = Gauge(
    "wallet_last_funding_run_timestamp_seconds", "Unix time of the newest funding transfer"
)
LAST_SETTLEMENT = Gauge(
    "wallet_last_settlement_run_timestamp_seconds", "Unix time of the newest settlement"
)


def prometheus_config() -> PrometheusConfig:
    """Litestar's HTTP metrics: per route template, never for the system routes."""
    return PrometheusConfig(
        app_name="wallet",
        prefix="wallet",
        group_path=True,
        exclude_unhandled_paths=True,
        exclude=["^/metrics$", "^/health$", "^/ready$"],
    )


# --- counted in the web layer ---------------------------------------------------------------


async def counted(charge: Awaitable[Outcome]) -> Outcome:
    """Run a charge use case and count what it did (after its commit) or why it declined."""
    try:
        outcome = await charge
    except DomainError as exc:
        CHARGES.labels("declined").inc()
        DECLINES.labels(exc.slug).inc()
        raise
    if outcome.replayed or outcome.what is Happened.ALREADY_DONE:
        CHARGES.labels("replayed").inc()
    elif outcome.what is Happened.PENDING_APPROVAL:
        CHARGES.labels("pending_approval").inc()
    elif outcome.body.get("outcome") == "pending":
        CHARGES.labels("pending_approval").inc()
    else:
        CHARGES.labels("captured").inc()
    return outcome


def declined_by_client(outcome: Outcome) -> Outcome:
    """A client declined a payment request (not a retry of an earlier decline)."""
    if outcome.what is Happened.DONE and not outcome.replayed:
        CHARGES.labels("declined").inc()
        DECLINES.labels("declined-by-client").inc()
    return outcome


async def counted_stream(stream: AsyncIterator[T]) -> AsyncIterator[T]:
    """A live event stream, counted in ``wallet_sse_streams_open`` while it is open."""
    SSE_OPEN.inc()
    try:
        async for item in stream:
            yield item
    finally:
        SSE_OPEN.dec()
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()  # its subscription ends now, not when it is collected


class PushCollector(Collector):
    """The Web Push sender's own counts, read at scrape time from the running apps."""

    def __init__(self) -> None:
        self.senders: list[Any] = []

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "wallet_pushes", "Web Push deliveries of this process, by result", labels=["result"]
        )
        totals = {"sent": 0, "failed": 0, "gone": 0, "refused": 0}
        for sender in self.senders:
            totals["sent"] += sender.sent
            totals["failed"] += sender.failed
            totals["gone"] += sender.removed
            totals["refused"] += sender.refused
        for result, value in totals.items():
            family.add_metric([result], value)
        yield family


PUSHES = PushCollector()
REGISTRY.register(PUSHES)


class PipelineCollector(Collector):
    """The charge pipeline's group commits (payments.checkout.pipeline), read at scrape time
    from the running apps' databases: ``wallet_charge_batch_charges_total`` divided by
    ``wallet_charge_batches_total`` is how many charges a transaction carried."""

    def __init__(self) -> None:
        self.databases: list[Database] = []

    def collect(self) -> Iterator[CounterMetricFamily]:
        totals: dict[str, float] = {"batches": 0, "charges": 0, "retried_alone": 0, "busy_s": 0}
        listings = {"kept": 0, "read": 0, "read_again": 0}
        # Each database once: apps that share an engine (tests) share its pipeline too.
        for db in {id(db): db for db in self.databases}.values():
            stats = pipeline.stats_of(db)
            totals["batches"] += stats.batches
            totals["charges"] += stats.charges
            totals["retried_alone"] += stats.retried_alone
            totals["busy_s"] += stats.busy_s
            cache = listings_cache.stats_of(db)
            listings["kept"] += cache.hits
            listings["read"] += cache.misses
            listings["read_again"] += cache.stale
        by_source = CounterMetricFamily(
            "wallet_charge_batch_listings",
            "Batches by where their providers' listings came from: kept in the process (the "
            "catalogue unchanged), read (not kept), read again (the catalogue had changed)",
            labels=["source"],
        )
        for source, count in listings.items():
            by_source.add_metric([source], count)
        yield by_source
        for name, key, text in (
            ("wallet_charge_batches", "batches", "Transactions of this process's charge pipeline"),
            ("wallet_charge_batch_charges", "charges", "Charges those transactions carried"),
            (
                "wallet_charge_batch_retried",
                "retried_alone",
                "Charges run again alone because their batch failed as a whole",
            ),
            (
                "wallet_charge_batch_seconds",
                "busy_s",
                "Seconds this process's charge pipeline had a transaction open (its busy time)",
            ),
        ):
            family = CounterMetricFamily(name, text)
            family.add_metric([], totals[key])
            yield family


PIPELINES = PipelineCollector()
REGISTRY.register(PIPELINES)


class SmsCollector(Collector):
    """``wallet_sms_sent_total``: texts of this process's SMS sender, by result (``refused``:
    over the organizer's monthly cap); ``wallet_sms_replies_total``: replies by outcome."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "wallet_sms_sent", "SMS texts of this process, by result", labels=["result"]
        )
        for result, value in sms.sender_counts().items():
            family.add_metric([result], value)
        yield family
        replies = CounterMetricFamily(
            "wallet_sms_replies",
            "Texts people sent to the SMS webhook, by what they came to (approved, declined, "
            "balance, wrong-code, replayed-code, expired, unknown-number, forged, ...)",
            labels=["result"],
        )
        for result, value in sorted(sms.REPLIES.items()):
            replies.add_metric([result], value)
        yield replies


REGISTRY.register(SmsCollector())
SMS_CAP_USED = Gauge(
    "wallet_sms_cap_used_ratio",
    "Texts an organizer sent this Helsinki month, as a share of its monthly SMS cap",
    ["organizer"],
)
SMS_MONTH = Gauge(
    "wallet_sms_month_texts",
    "Texts an organizer sent and had refused by its cap this Helsinki month",
    ["organizer", "result"],
)


# --- read at scrape time ------------------------------------------------------------------


def _unix(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


async def refresh_from_database(db: Database, sms_default_cap: int | None = None) -> None:
    """Set the gauges that the database knows: outbox lag, webhook deliveries waiting and
    failed, the last runs, and each organizer's SMS use of its monthly cap."""
    async with db.engine.connect() as conn:
        oldest = (
            await conn.execute(
                select(OutboxEvent.created_at)
                .where(OutboxEvent.delivered_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        # Transfers only grow: the newest funding transfer is found walking ids backwards.
        funded = (
            await conn.execute(
                select(Transfer.created_at)
                .where(Transfer.kind == TransferKind.FUNDING)
                .order_by(Transfer.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        settled = (
            await conn.execute(
                select(Settlement.created_at).order_by(Settlement.created_at.desc()).limit(1)
            )
        ).scalar_one_or_none()
        hooks = dict(
            (
                await conn.execute(
                    select(WebhookDelivery.status, func.count())
                    .where(WebhookDelivery.status.in_(("pending", "failed")))
                    .group_by(WebhookDelivery.status)
                )
            ).all()
        )
    for status in ("pending", "failed"):
        WEBHOOKS.labels(status).set(float(hooks.get(status, 0)))
    OUTBOX_LAG.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
    LAST_FUNDING.set(_unix(funded))
    LAST_SETTLEMENT.set(_unix(settled))
    if sms_default_cap is None:
        return  # the worker's scrape: the web process's has the settings' default cap
    for organizer, sent, refused, cap in await sms.usage(db, period_of(utcnow()), sms_default_cap):
        SMS_CAP_USED.labels(str(organizer)).set(sent / cap if cap else 1.0)
        SMS_MONTH.labels(str(organizer), "sent").set(sent)
        SMS_MONTH.labels(str(organizer), "refused").set(refused)


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def require_metrics_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """404 unless WALLET_METRICS_TOKEN is set; 401 unless the request sends it."""
    expected: str | None = connection.app.state.settings.metrics_token
    if not expected:
        raise NotFoundException()
    given = _bearer(connection)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException(
            "Send the metrics token as a bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )


async def _refresh(request: Request[Any, Any, Any]) -> None:
    """Read the database's gauges before the scrape is answered. If the database does not
    answer, the scrape still answers (these gauges keep their last values, /ready says why)."""
    try:
        settings = request.app.state.settings
        await asyncio.wait_for(
            refresh_from_database(request.app.state.db, settings.sms_monthly_cap), 5
        )
    except Exception:
        log.warning("metrics: the database gauges could not be read", exc_info=True)


class MetricsController(PrometheusController):
    path = "/metrics"
    guards = [require_metrics_token]
    before_request = staticmethod(_refresh)
    include_in_schema = False
    opt = {"public": True, "per_address_limit": None}


def watch_pipeline(db: Database) -> None:
    """Count the group commits of this app's charge pipeline."""
    PIPELINES.databases.append(db)


def forget_pipeline(db: Database) -> None:
    if db in PIPELINES.databases:
        PIPELINES.databases.remove(db)


def watch_senders(senders: Iterable[Any]) -> None:
    """Count the pushes of these senders (the app's live push sender, when it has one)."""
    PUSHES.senders.extend(s for s in senders if s is not None)


def forget_senders(senders: Iterable[Any]) -> None:
    for s in senders:
        if s in PUSHES.senders:
            PUSHES.senders.remove(s)


# --- the worker's own endpoint ----------------------------------------------------------------

_REQUEST_LIMIT = 16 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
}


def _answer(status: int, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        f"{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _scrape(reader: asyncio.StreamReader, token: str | None, db: Database | None) -> bytes:
    """The answer to one request: the same rule as the web's /metrics."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        return _answer(400, b"bad request\n", "text/plain; charset=utf-8")
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    path = rest.partition(" ")[0].partition("?")[0]
    if path != "/metrics" or not token:
        return _answer(404, b"not found\n", "text/plain; charset=utf-8")
    if method != "GET":
        return _answer(405, b"GET only\n", "text/plain; charset=utf-8", "Allow: GET\r\n")
    given = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "authorization":
            scheme, _, credentials = value.strip().partition(" ")
            given = credentials.strip() if scheme.lower() == "bearer" else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _answer(
            401,
            b"Send the metrics token as a bearer token\n",
            "text/plain; charset=utf-8",
            'WWW-Authenticate: Bearer realm="metrics"\r\n',
        )
    if db is not None:
        try:
            await asyncio.wait_for(refresh_from_database(db), 5)
        except Exception:
            log.warning("metrics: the database gauges could not be read", exc_info=True)
    return _answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)


async def serve_worker_metrics(
    port: int, token: str | None, db: Database | None, host: str = "127.0.0.1"
) -> asyncio.Server:
    """``GET /metrics`` for a process without an HTTP app (``wallet worker``): this process's
    registry (its pushes above all) and the database gauges, one request per connection.
    No token configured: 404, as the web's; a missing or wrong one: 401. Close the returned
    server to stop it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await _scrape(reader, token, db))
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, limit=_REQUEST_LIMIT)
