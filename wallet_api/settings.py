"""Settings from ``WALLET_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from payments.db import database_url_from_env
from payments.people.retention import Retention, years

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        # Named, so an operator knows which line of wallet.env to mend.
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


# (setting's name after retention_, least, most): a retention shorter than the least breaks
# something (a retried request must find its key, an SSE client its missed events, a rate
# window its counter); one longer than the most is a typo (days for years), not a policy.
RETENTION_LIMITS: tuple[tuple[str, str, int, int], ...] = (
    ("sessions_days", "WALLET_RETENTION_SESSIONS_DAYS", 1, 3650),
    ("invites_days", "WALLET_RETENTION_INVITES_DAYS", 1, 3650),
    ("challenges_days", "WALLET_RETENTION_CHALLENGES_DAYS", 1, 365),
    ("push_subscriptions_days", "WALLET_RETENTION_PUSH_SUBSCRIPTIONS_DAYS", 7, 3650),
    ("outbox_days", "WALLET_RETENTION_OUTBOX_DAYS", 1, 3650),
    ("idempotency_keys_days", "WALLET_RETENTION_IDEMPOTENCY_KEYS_DAYS", 1, 3650),
    ("rate_counters_days", "WALLET_RETENTION_RATE_COUNTERS_DAYS", 1, 365),
    ("webhook_deliveries_days", "WALLET_RETENTION_WEBHOOK_DELIVERIES_DAYS", 1, 3650),
    ("sms_messages_days", "WALLET_RETENTION_SMS_MESSAGES_DAYS", 1, 3650),
    ("audit_events_years", "WALLET_RETENTION_AUDIT_EVENTS_YEARS", 1, 50),
    ("closed_clients_years", "WALLET_RETENTION_CLOSED_CLIENTS_YEARS", 1, 50),
)


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    scheduler: bool
    scheduler_interval_s: int
    max_body_bytes: int
    # Passkeys: the relying party is the site people see; the origin is its exact URL.
    rp_id: str = "localhost"
    rp_name: str = "Henkilökohtainen budjetti"
    origin: str = "http://localhost:8000"
    session_idle_timeout_s: int = 30 * 60
    session_max_age_s: int = 12 * 60 * 60
    challenge_ttl_s: int = 5 * 60
    invite_validity_s: int = 7 * 24 * 60 * 60
    # Abuse limits per client address and window: failed sign-ins, failed invite codes, and
    # ceremonies started (each writes a challenge).
    rate_window_s: int = 5 * 60
    rate_signin_failures: int = 10
    rate_invite_failures: int = 10
    rate_ceremonies: int = 60
    # Every call of a public route (no sign-in needed: sign-in, invite redemption, provider
    # applications) per client address and window; applications have a stricter one of their
    # own, since each writes a provider for a case manager to review.
    rate_anonymous: int = 120
    rate_applications: int = 10
    # Live events (issue 5). Web Push is off until both VAPID keys are set
    # (``wallet vapid generate`` prints a pair).
    vapid_private_key: str | None = None
    vapid_public_key: str | None = None
    vapid_subject: str = "mailto:tuki@example.invalid"
    sse_heartbeat_s: float = 15.0
    # Requests the server sends out (``notifications.outbound``) may go to loopback (and
    # over plain http there): for tests and development only, never in production.
    outbound_allow_loopback: bool = False
    # Run the outbox dispatcher in this process (several may run on PostgreSQL).
    dispatcher: bool = True
    # Settlements (issue 7): the days of the month whose end the scheduler settles up to
    # ("last" = the month's last day), where it writes the bank file and CSV (none: not
    # written), and the organizer's own account the payouts are paid from.
    settlement_days: str = "15,last"
    settlement_dir: str | None = None
    settlement_debtor_name: str | None = None
    settlement_debtor_iban: str | None = None
    settlement_debtor_bic: str | None = None
    # A provider owed less than this (cents) is paid in a later settlement, with what it earns
    # by then; 0 pays every positive balance.
    settlement_minimum_payout_cents: int = 0
    # The PWA's "paste an API key" form, for development, tests and the demo only (issue 13):
    # off, the server does not deliver it at all. `wallet demo` turns it on.
    dev_api_key_form: bool = False
    # A page opened on another host than the origin's (127.0.0.1 for localhost) redirects to
    # the origin, where passkeys work. On by default when read from the environment
    # (WALLET_REDIRECT_TO_ORIGIN=0 turns it off, e.g. behind a proxy that rewrites Host and
    # sends no X-Forwarded-Host); off for a Settings built in code (the tests' own host).
    redirect_to_origin: bool = False
    # The edge (issue 16, wallet_api/edge.py, docs/security.md): proxies whose X-Forwarded-*
    # headers count (addresses or CIDRs, comma-separated; empty: none, the socket peer is the
    # client), Litestar's API documentation pages (off: only /schema/openapi.json, since the
    # pages load scripts from CDNs), and the log format (text or json).
    trusted_proxies: str = ""
    api_docs: bool = False
    log_format: str = "text"
    # Issue 16: the bearer token /metrics asks for (unset: /metrics answers 404).
    metrics_token: str | None = None
    # Issue 20 (docs/sms.md): the SMS gateway (46elks' API), its ``username:password``, the
    # sender name or number replies go to, the shared secret of the inbound webhook (Basic
    # auth password), the default monthly cap of texts per organizer, and replies per number
    # and hour. SMS is on when the token and the inbound secret are both set.
    sms_gateway_url: str = "https://api.46elks.com/a1"
    sms_gateway_token: str | None = None
    sms_sender: str = "Budjetti"
    sms_inbound_secret: str | None = None
    sms_monthly_cap: int = 2000
    sms_reply_limit: int = 10
    # Issue 19, docs/privacy.md: how long each kind of personal data is kept after it ended
    # (``WALLET_RETENTION_<KIND>_DAYS`` / ``_YEARS``); the daily prune deletes what is older.
    retention_sessions_days: int = 30
    retention_invites_days: int = 30
    retention_challenges_days: int = 1
    retention_push_subscriptions_days: int = 365
    retention_outbox_days: int = 30
    retention_idempotency_keys_days: int = 30
    retention_rate_counters_days: int = 1
    retention_webhook_deliveries_days: int = 30
    retention_sms_messages_days: int = 30
    retention_audit_events_years: int = 12
    retention_closed_clients_years: int = 7

    def __post_init__(self) -> None:
        for name, env, low, high in RETENTION_LIMITS:
            value = getattr(self, f"retention_{name}")
            if not low <= value <= high:
                raise ValueError(
                    f"{env} must be between {low} and {high}, not {value} (docs/privacy.md)"
                )
        if self.sms_inbound_secret is not None and len(self.sms_inbound_secret) < 16:
            # It is the whole of the inbound webhook's authentication, and it keys the reply
            # codes texts carry: a short one could be guessed.
            raise ValueError("WALLET_SMS_INBOUND_SECRET must be at least 16 characters long")
        if self.settlement_minimum_payout_cents < 0:
            raise ValueError("WALLET_SETTLEMENT_MINIMUM_PAYOUT_CENTS may not be negative")
        parts = urlsplit(self.origin)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError(
                f"WALLET_ORIGIN must be a URL like https://wallet.example.fi: {self.origin!r}"
            )
        if parts.scheme == "http" and host not in LOCAL_HOSTS:
            raise ValueError("WALLET_ORIGIN must use https (plain http only on localhost)")
        if host != self.rp_id and not host.endswith("." + self.rp_id):
            raise ValueError(f"WALLET_RP_ID {self.rp_id!r} must be the origin's host or a parent")

    def retention(self) -> Retention:
        """The retention periods for ``payments.people.retention.prune``."""
        d = self.__dict__

        def days(name: str) -> timedelta:
            return timedelta(days=d[f"retention_{name}_days"])

        return Retention(
            sessions=days("sessions"),
            invites=days("invites"),
            challenges=days("challenges"),
            push_subscriptions=days("push_subscriptions"),
            outbox=days("outbox"),
            idempotency_keys=days("idempotency_keys"),
            rate_counters=days("rate_counters"),
            webhook_deliveries=days("webhook_deliveries"),
            sms_messages=days("sms_messages"),
            sms_reply_codes=days("sms_messages"),
            audit_events=years(self.retention_audit_events_years),
            closed_clients=years(self.retention_closed_clients_years),
        )

    @property
    def sms_on(self) -> bool:
        return bool(self.sms_gateway_token and self.sms_inbound_secret)

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure except in development on http://localhost."""
        return urlsplit(self.origin).scheme == "https"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=database_url_from_env(),
            redis_url=os.environ.get("WALLET_REDIS_URL") or None,
            scheduler=_bool("WALLET_SCHEDULER", True),
            scheduler_interval_s=_int("WALLET_SCHEDULER_INTERVAL", 300),
            max_body_bytes=_int("WALLET_MAX_BODY_BYTES", 64 * 1024),
            vapid_private_key=os.environ.get("WALLET_VAPID_PRIVATE_KEY") or None,
            vapid_public_key=os.environ.get("WALLET_VAPID_PUBLIC_KEY") or None,
            vapid_subject=os.environ.get("WALLET_VAPID_SUBJECT", "mailto:tuki@example.invalid"),
            sse_heartbeat_s=float(os.environ.get("WALLET_SSE_HEARTBEAT", "15")),
            outbound_allow_loopback=_bool("WALLET_OUTBOUND_ALLOW_LOOPBACK", False),
            dispatcher=_bool("WALLET_DISPATCHER", True),
            settlement_days=os.environ.get("WALLET_SETTLEMENT_DAYS", "15,last"),
            settlement_dir=os.environ.get("WALLET_SETTLEMENT_DIR") or None,
            settlement_debtor_name=os.environ.get("WALLET_SETTLEMENT_DEBTOR_NAME") or None,
            settlement_debtor_iban=os.environ.get("WALLET_SETTLEMENT_DEBTOR_IBAN") or None,
            settlement_debtor_bic=os.environ.get("WALLET_SETTLEMENT_DEBTOR_BIC") or None,
            settlement_minimum_payout_cents=_int("WALLET_SETTLEMENT_MINIMUM_PAYOUT_CENTS", 0),
            rp_id=os.environ.get("WALLET_RP_ID", "localhost"),
            rp_name=os.environ.get("WALLET_RP_NAME", "Henkilökohtainen budjetti"),
            origin=os.environ.get("WALLET_ORIGIN", "http://localhost:8000").rstrip("/"),
            session_idle_timeout_s=_int("WALLET_SESSION_IDLE_TIMEOUT", 30 * 60),
            session_max_age_s=_int("WALLET_SESSION_MAX_AGE", 12 * 60 * 60),
            invite_validity_s=_int("WALLET_INVITE_VALIDITY", 7 * 24 * 60 * 60),
            rate_window_s=_int("WALLET_RATE_WINDOW", 5 * 60),
            rate_signin_failures=_int("WALLET_RATE_SIGNIN_FAILURES", 10),
            rate_invite_failures=_int("WALLET_RATE_INVITE_FAILURES", 10),
            rate_ceremonies=_int("WALLET_RATE_CEREMONIES", 60),
            rate_anonymous=_int("WALLET_RATE_ANONYMOUS", 120),
            rate_applications=_int("WALLET_RATE_APPLICATIONS", 10),
            dev_api_key_form=_bool("WALLET_DEV_API_KEY_FORM", False),
            redirect_to_origin=_bool("WALLET_REDIRECT_TO_ORIGIN", True),
            trusted_proxies=os.environ.get("WALLET_TRUSTED_PROXIES", ""),
            api_docs=_bool("WALLET_API_DOCS", False),
            log_format=os.environ.get("WALLET_LOG_FORMAT", "text").strip().lower(),
            metrics_token=os.environ.get("WALLET_METRICS_TOKEN") or None,
            sms_gateway_url=os.environ.get("WALLET_SMS_GATEWAY_URL", "https://api.46elks.com/a1"),
            sms_gateway_token=os.environ.get("WALLET_SMS_GATEWAY_TOKEN") or None,
            sms_sender=os.environ.get("WALLET_SMS_SENDER", "Budjetti"),
            sms_inbound_secret=os.environ.get("WALLET_SMS_INBOUND_SECRET") or None,
            sms_monthly_cap=_int("WALLET_SMS_MONTHLY_CAP", 2000),
            sms_reply_limit=_int("WALLET_SMS_REPLY_LIMIT", 10),
            **{
                f"retention_{name}": _int(env, getattr(cls, f"retention_{name}"))
                for name, env, _, _ in RETENTION_LIMITS
            },
        )
