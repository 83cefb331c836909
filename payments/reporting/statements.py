"""Client statements (issue 7): a month of a wallet, per envelope, computed from the ledger.

A statement sees an envelope together with its hold account: money moved into a hold is still
the client's, so holds and their releases are internal; a charge captured from a hold is spent
and a hold that expires after its month closed is expired. Every figure is a sum of transfers
whose ``period`` is the month (the month the money belongs to, as ``wallet check`` reads it):

    opening + funded - spent + refunded - expired (+ other, normally 0) = closing

``opening`` is the sum of all earlier months' transfers and ``closing`` that of all months up
to this one, so the last closing is the envelope's stored balance plus its hold account's.
``held`` is the part of the closing still reserved by open holds.

``issue_statements`` writes one ``statement.ready`` outbox event per wallet and closed month,
exactly once (a ``statement_notices`` row per wallet and month is the proof).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from payments.clock import utcnow
from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.ledger.periods import current_period, parse_period
from payments.models import (
    Account,
    Charge,
    ChargeLine,
    Correction,
    DecisionLine,
    DecisionLineCategory,
    OutboxEvent,
    Provider,
    ServiceCategory,
    StatementNotice,
    Transfer,
    Wallet,
)
from payments.outbox import STATEMENT_READY
from payments.reporting.wallet_views import wallet_with_client
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, CorrectionStatus, TransferKind

# Transfer kinds as a statement reads them. Holds and their releases move money between an
# envelope and its own hold account, so on the pair they sum to zero.
FUNDED_KINDS = frozenset({TransferKind.FUNDING})
SPENT_KINDS = frozenset({TransferKind.CHARGE})
REFUNDED_KINDS = frozenset({TransferKind.REFUND})
EXPIRED_KINDS = frozenset({TransferKind.EXPIRY, TransferKind.HOLD_EXPIRED})
INTERNAL_KINDS = frozenset({TransferKind.HOLD, TransferKind.HOLD_RELEASE})
NOTICE_BATCH = 500


@dataclass
class Flow:
    """One month of one envelope (with its hold account): signed sums by meaning."""

    funded: int = 0
    spent: int = 0
    refunded: int = 0
    expired: int = 0
    other: int = 0
    held: int = 0  # the net change of the hold account in the month

    @property
    def net(self) -> int:
        return self.funded - self.spent + self.refunded - self.expired + self.other


def add_flow(flow: Flow, kind: str, signed: int, *, on_hold: bool) -> None:
    """Book one signed sum of a transfer kind on an envelope-and-hold pair."""
    if on_hold:
        flow.held += signed
    if kind in FUNDED_KINDS:
        flow.funded += signed
    elif kind in SPENT_KINDS:
        flow.spent -= signed
    elif kind in REFUNDED_KINDS:
        flow.refunded += signed
    elif kind in EXPIRED_KINDS:
        flow.expired -= signed
    elif kind not in INTERNAL_KINDS:
        flow.other += signed


def client_accounts(wallet_id: uuid.UUID | None = None) -> Any:
    """(account id, its envelope id, is hold) for every envelope and hold account (of one
    wallet if given)."""
    acc, env = aliased(Account), aliased(Account)
    stmt = (
        select(
            acc.id.label("acc"),
            env.id.label("env"),
            (acc.kind == AccountKind.HOLD).label("on_hold"),
            env.wallet_id.label("wallet_id"),
            env.organizer_id.label("organizer_id"),
        )
        .join(
            env,
            and_(env.decision_line_id == acc.decision_line_id, env.kind == AccountKind.ENVELOPE),
        )
        .where(acc.kind.in_((AccountKind.ENVELOPE, AccountKind.HOLD)))
    )
    return stmt if wallet_id is None else stmt.where(env.wallet_id == wallet_id)


def flow_rows(where: Callable[[Any], Iterable[Any]]) -> Select[Any]:
    """Signed sums per (envelope, on hold, period, kind), credits minus debits, over the
    envelope and hold accounts that ``where(accounts)`` selects."""
    accounts = client_accounts().subquery()
    conds = list(where(accounts.c))
    credits = (
        select(
            accounts.c.env,
            accounts.c.on_hold,
            Transfer.period,
            Transfer.kind,
            Transfer.amount_cents.label("amt"),
        )
        .join(Transfer, Transfer.credit_account_id == accounts.c.acc)
        .where(*conds)
    )
    debits = (
        select(
            accounts.c.env,
            accounts.c.on_hold,
            Transfer.period,
            Transfer.kind,
            (-Transfer.amount_cents).label("amt"),
        )
        .join(Transfer, Transfer.debit_account_id == accounts.c.acc)
        .where(*conds)
    )
    moves = credits.union_all(debits).subquery()
    return select(
        moves.c.env, moves.c.on_hold, moves.c.period, moves.c.kind, func.sum(moves.c.amt)
    ).group_by(moves.c.env, moves.c.on_hold, moves.c.period, moves.c.kind)


async def client_flows(
    session: AsyncSession, where: Callable[[Any], Iterable[Any]]
) -> dict[int, dict[str, Flow]]:
    """Per envelope and period, its :class:`Flow` (see :func:`flow_rows`)."""
    out: dict[int, dict[str, Flow]] = defaultdict(dict)
    for env_id, on_hold, period, kind, amount in (await session.execute(flow_rows(where))).all():
        flow = out[int(env_id)].setdefault(str(period), Flow())
        add_flow(flow, str(kind), int(amount), on_hold=bool(on_hold))
    return out


async def wallet_totals(db: Database, wallet_id: uuid.UUID) -> dict[str, Flow]:
    """A wallet's flows per period, over all its envelopes (for its chart)."""
    async with UnitOfWork(db, readonly=True) as uow:
        return await wallet_flows(uow.session, wallet_id)


async def wallet_flows(s: AsyncSession, wallet_id: uuid.UUID) -> dict[str, Flow]:
    """``wallet_totals`` inside a caller's transaction (the access export's one snapshot)."""
    flows = await client_flows(s, lambda c: [c.wallet_id == wallet_id])
    out: dict[str, Flow] = defaultdict(Flow)
    for per_period in flows.values():
        for period, f in per_period.items():
            t = out[period]
            t.funded += f.funded
            t.spent += f.spent
            t.refunded += f.refunded
            t.expired += f.expired
            t.other += f.other
            t.held += f.held
    return dict(out)


# --- the statement ---------------------------------------------------------------------------


@dataclass
class ChargeItem:
    date: str
    charge_id: str
    provider: str
    service: str
    service_name: str
    quantity: str
    unit_price_cents: int
    amount_cents: int
    client_share_cents: int


@dataclass
class RefundItem:
    date: str
    charge_id: str
    provider: str
    services: str
    amount_cents: int


@dataclass
class CorrectionItem:
    """A case manager's correction of one of the month's charges (issue 18): the amount went
    back to the county's budget, not to the envelope (the month had closed)."""

    date: str
    charge_id: str
    provider: str
    amount_cents: int
    reason: str


@dataclass
class EnvelopeStatement:
    envelope_id: int
    label: str
    services: list[str]
    opening_cents: int = 0
    funded_cents: int = 0
    spent_cents: int = 0
    refunded_cents: int = 0
    expired_cents: int = 0
    other_cents: int = 0
    closing_cents: int = 0
    held_cents: int = 0
    charges: list[ChargeItem] = field(default_factory=list)
    refunds: list[RefundItem] = field(default_factory=list)


@dataclass
class Statement:
    wallet_id: str
    client_id: str
    organizer_id: str
    client_name: str
    period: str
    closed: bool
    language: str
    envelopes: list[EnvelopeStatement]
    opening_cents: int = 0
    funded_cents: int = 0
    spent_cents: int = 0
    refunded_cents: int = 0
    expired_cents: int = 0
    other_cents: int = 0
    closing_cents: int = 0
    held_cents: int = 0
    client_share_cents: int = 0
    corrections: list[CorrectionItem] = field(default_factory=list)


def check_period(period: str) -> None:
    try:
        parse_period(period)
    except ValueError as exc:
        raise InvalidInput(str(exc), slug="invalid-period") from exc


async def statement_months(db: Database, wallet_id: uuid.UUID) -> list[dict[str, Any]]:
    """The months a wallet has a statement for (any movement), newest first, and whether
    each is closed (before the current Helsinki month)."""
    now = current_period()
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        if await s.get(Wallet, wallet_id) is None:
            raise NotFound("No such wallet")
        accounts = client_accounts(wallet_id).subquery()
        rows = (
            await s.execute(
                select(Transfer.period)
                .join(
                    accounts,
                    or_(
                        Transfer.credit_account_id == accounts.c.acc,
                        Transfer.debit_account_id == accounts.c.acc,
                    ),
                )
                .distinct()
            )
        ).all()
    periods = sorted({str(p) for (p,) in rows}, reverse=True)
    return [{"period": p, "closed": p < now} for p in periods]


async def statement(
    db: Database, wallet_id: uuid.UUID, period: str, *, language: str = "fi"
) -> Statement:
    """A wallet's statement for one month, per envelope, from the ledger (see module doc).

    The caller decides who may see it (``wallet_api.auth.ensure_wallet_visible``) and audits
    staff reads."""
    check_period(period)
    if period > current_period():
        raise NotFound("There is no statement for a month that has not begun")
    lang = language if language in ("fi", "sv", "en") else "fi"
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        wallet, client = await wallet_with_client(s, wallet_id)
        envs = (
            await s.execute(
                select(Account.id, DecisionLine.id, DecisionLine.label)
                .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
                .where(Account.wallet_id == wallet_id, Account.kind == AccountKind.ENVELOPE)
                .order_by(Account.id)
            )
        ).all()
        services: dict[uuid.UUID, list[str]] = defaultdict(list)
        if envs:
            for line_id, code in (
                await s.execute(
                    select(DecisionLineCategory.line_id, ServiceCategory.code)
                    .join(ServiceCategory, ServiceCategory.id == DecisionLineCategory.category_id)
                    .where(DecisionLineCategory.line_id.in_([e[1] for e in envs]))
                )
            ).all():
                services[line_id].append(str(code))
        flows = await client_flows(
            s, lambda c: [c.wallet_id == wallet_id, Transfer.period <= period]
        )
        items = await _items(s, wallet_id, period, lang)
        corrected = await _corrections(s, wallet_id, period)
    out = Statement(
        wallet_id=str(wallet.id),
        client_id=str(client.id),
        organizer_id=str(wallet.organizer_id),
        client_name=f"{client.first_name} {client.last_name}",
        period=period,
        closed=period < current_period(),
        language=lang,
        envelopes=[],
        corrections=corrected,
    )
    charges, refunds = items
    for env_id, line_id, label in envs:
        e = EnvelopeStatement(int(env_id), str(label), sorted(services.get(line_id, [])))
        before = flows.get(int(env_id), {})
        for p, f in before.items():
            if p < period:
                e.opening_cents += f.net
            e.held_cents += f.held
        now = before.get(period, Flow())
        e.funded_cents, e.spent_cents = now.funded, now.spent
        e.refunded_cents, e.expired_cents, e.other_cents = now.refunded, now.expired, now.other
        e.closing_cents = e.opening_cents + now.net
        e.charges = charges.get(e.envelope_id, [])
        e.refunds = refunds.get(e.envelope_id, [])
        out.envelopes.append(e)
        for name in (
            "opening_cents",
            "funded_cents",
            "spent_cents",
            "refunded_cents",
            "expired_cents",
            "other_cents",
            "closing_cents",
            "held_cents",
        ):
            setattr(out, name, getattr(out, name) + getattr(e, name))
        out.client_share_cents += sum(c.client_share_cents for c in e.charges)
    return out


async def _items(
    s: AsyncSession, wallet_id: uuid.UUID, period: str, lang: str
) -> tuple[dict[int, list[ChargeItem]], dict[int, list[RefundItem]]]:
    """The month's charge lines and refunds per envelope: those whose money (the transfer's
    period) is this month's."""
    accounts = client_accounts(wallet_id).subquery()
    # (charge, envelope) pairs whose charge transfer took this month's money.
    charged = (
        await s.execute(
            select(Transfer.charge_id, accounts.c.env)
            .join(accounts, Transfer.debit_account_id == accounts.c.acc)
            .where(Transfer.kind.in_(SPENT_KINDS), Transfer.period == period)
            .distinct()
        )
    ).all()
    refunded = (
        await s.execute(
            select(Transfer.charge_id, accounts.c.env, Transfer.amount_cents, Transfer.created_at)
            .join(accounts, Transfer.credit_account_id == accounts.c.acc)
            .where(Transfer.kind.in_(REFUNDED_KINDS), Transfer.period == period)
            .order_by(Transfer.id)
        )
    ).all()
    charge_ids = {c for c, _ in charged} | {r[0] for r in refunded}
    name_col = {
        "fi": ServiceCategory.name_fi,
        "sv": ServiceCategory.name_sv,
        "en": ServiceCategory.name_en,
    }[lang]
    lines: dict[tuple[uuid.UUID, int], list[Any]] = defaultdict(list)
    if charge_ids:
        for row in (
            await s.execute(
                select(
                    ChargeLine.charge_id,
                    ChargeLine.envelope_id,
                    Charge.created_at,
                    Provider.name,
                    ServiceCategory.code,
                    name_col,
                    ChargeLine.quantity,
                    ChargeLine.unit_price_cents,
                    ChargeLine.amount_cents,
                    ChargeLine.client_share_cents,
                )
                .join(Charge, Charge.id == ChargeLine.charge_id)
                .join(Provider, Provider.id == Charge.provider_id)
                .join(ServiceCategory, ServiceCategory.id == ChargeLine.category_id)
                .where(ChargeLine.charge_id.in_(charge_ids))
                .order_by(Charge.created_at, Charge.id, ChargeLine.position)
            )
        ).all():
            lines[(row[0], int(row[1]))].append(row)
    wanted = {(c, int(e)) for c, e in charged}
    charges: dict[int, list[ChargeItem]] = defaultdict(list)
    for key, rows in sorted(lines.items(), key=lambda kv: (kv[1][0][2], str(kv[0][0]))):
        if key not in wanted:
            continue
        for r in rows:
            charges[key[1]].append(
                ChargeItem(
                    date=r[2].isoformat(),
                    charge_id=str(r[0]),
                    provider=str(r[3]),
                    service=str(r[4]),
                    service_name=str(r[5]),
                    quantity=str(r[6]),
                    unit_price_cents=int(r[7]),
                    amount_cents=int(r[8]),
                    client_share_cents=int(r[9] or 0),
                )
            )
    refunds: dict[int, list[RefundItem]] = defaultdict(list)
    for charge_id, env_id, amount, created_at in refunded:
        rows = lines.get((charge_id, int(env_id)), [])
        refunds[int(env_id)].append(
            RefundItem(
                date=created_at.isoformat(),
                charge_id=str(charge_id),
                provider=str(rows[0][3]) if rows else "",
                services="+".join(sorted({str(r[4]) for r in rows})),
                amount_cents=int(amount),
            )
        )
    return charges, refunds


async def _corrections(s: AsyncSession, wallet_id: uuid.UUID, period: str) -> list[CorrectionItem]:
    """The approved corrections of the wallet's charges whose money is this month's."""
    rows = (
        await s.execute(
            select(
                Transfer.created_at,
                Correction.charge_id,
                Provider.name,
                Correction.amount_cents,
                Correction.reason,
            )
            .join(Transfer, Transfer.id == Correction.transfer_id)
            .join(Charge, Charge.id == Correction.charge_id)
            .join(Provider, Provider.id == Charge.provider_id)
            .where(
                Charge.wallet_id == wallet_id,
                Correction.status == CorrectionStatus.APPROVED,
                Transfer.period == period,
            )
            .order_by(Transfer.id)
        )
    ).all()
    return [
        CorrectionItem(
            date=at.isoformat(),
            charge_id=str(cid),
            provider=str(name),
            amount_cents=int(amount),
            reason=str(reason),
        )
        for at, cid, name, amount, reason in rows
    ]


# --- statement-ready notices ------------------------------------------------------------------


@dataclass
class NoticeRun:
    period: str
    wallets_seen: int = 0
    issued: int = 0


def _closed_for(env: Any, period: str) -> Any:
    """An envelope whose month ``period`` is over: never funded, funded for a later month,
    or its last funded month already expired."""
    return or_(
        env.funded_period.is_(None),
        env.funded_period > period,
        and_(env.expired_period.is_not(None), env.expired_period >= env.funded_period),
    )


async def ready_wallets(db: Database, period: str) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(wallet, organizer) of wallets with money in ``period`` whose every envelope has closed
    that month and who have not had the notice yet."""
    accounts = client_accounts().subquery()
    open_env = aliased(Account)
    stmt = (
        select(accounts.c.wallet_id, accounts.c.organizer_id)
        .join(
            Transfer,
            or_(
                Transfer.credit_account_id == accounts.c.acc,
                Transfer.debit_account_id == accounts.c.acc,
            ),
        )
        .where(Transfer.period == period)
        .where(
            ~select(open_env.id)
            .where(
                open_env.wallet_id == accounts.c.wallet_id,
                open_env.kind == AccountKind.ENVELOPE,
                ~_closed_for(open_env, period),
            )
            .exists()
        )
        .where(
            ~select(StatementNotice.wallet_id)
            .where(
                StatementNotice.wallet_id == accounts.c.wallet_id,
                StatementNotice.period == period,
            )
            .exists()
        )
        .distinct()
    )
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(stmt)).all()
    return sorted((w, o) for w, o in rows)


async def issue_statements(
    db: Database,
    period: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> NoticeRun:
    """Emit ``statement.ready`` once per wallet whose month ``period`` has closed.

    Batches of wallets, each in one transaction: the notice rows are inserted with ON
    CONFLICT DO NOTHING and only the rows this transaction really inserted get an event, so
    a rerun, or two runs at once, never announce a month twice.
    """
    check_period(period)
    if period >= current_period():
        raise InvalidInput("Only a month that has ended can have its statements issued")
    run = NoticeRun(period=period)
    wallets = await ready_wallets(db, period)
    run.wallets_seen = len(wallets)
    if progress:
        progress(0, len(wallets))
    for start in range(0, len(wallets), NOTICE_BATCH):
        batch = wallets[start : start + NOTICE_BATCH]
        at = now or utcnow()
        async with UnitOfWork(db) as uow:
            s = uow.session
            ins = pg_insert if db.is_postgres else sqlite_insert
            inserted = (
                await s.execute(
                    ins(StatementNotice)
                    .values(
                        [
                            {"wallet_id": w, "period": period, "organizer_id": o, "created_at": at}
                            for w, o in batch
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["wallet_id", "period"])
                    .returning(StatementNotice.wallet_id, StatementNotice.organizer_id)
                )
            ).all()
            if inserted:
                await s.execute(
                    insert(OutboxEvent),
                    [
                        {
                            "type": STATEMENT_READY,
                            "organizer_id": o,
                            "wallet_id": w,
                            "provider_id": None,
                            "transfer_id": None,
                            "payload": {
                                "period": period,
                                "url": f"/api/wallets/{w}/statements/{period}",
                            },
                            "created_at": at,
                        }
                        for w, o in inserted
                    ],
                )
            await uow.commit()
        run.issued += len(inserted)
        if progress:
            progress(min(start + NOTICE_BATCH, len(wallets)), len(wallets))
    return run


__all__ = [
    "ChargeItem",
    "CorrectionItem",
    "EnvelopeStatement",
    "Flow",
    "NoticeRun",
    "RefundItem",
    "Statement",
    "client_flows",
    "issue_statements",
    "ready_wallets",
    "statement",
    "statement_months",
    "wallet_totals",
]
