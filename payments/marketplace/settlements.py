"""Settlements: pay providers what they have earned, with a reference number and a bank file.

``settle_providers(db, until)`` looks, per provider, at every movement of the provider's payable
account (charges in, refunds out) that is booked before the cut-off (the end of ``until`` in
Helsinki time) and that no settlement covers yet. When they add up to more than zero it writes,
in ONE transaction per provider:

* one ``settlements`` row with an ISO 11649 (RF) creditor reference,
* one ``settlement_lines`` row per covered ledger transfer (``transfer_id`` is unique, so a
  transfer, and so a charge, is settled at most once; the database refuses a second time),
* ONE ledger transfer ``provider_payable -> settlement`` of exactly that amount.

A provider whose refunds exceed its new charges is not settled: its movements stay open and are
carried into the next settlement, so no settlement is ever negative and nothing is lost. A refund
made after a charge was settled is such an open movement, and the next settlement deducts it.

A rerun finds nothing open and moves nothing. A crash between providers leaves the settled ones
committed and the others untouched; the next run completes them. Two runs at once serialize per
provider on a row lock of the payable account (PostgreSQL; ``FOR NO KEY UPDATE`` so door-step
charges, which only reference that row, never wait) or on SQLite's single writer.

Instants are compared as stored: the code writes UTC (``utcnow``) on both engines.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from payments.clock import utcnow
from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.ledger import transfers
from payments.ledger.periods import HELSINKI
from payments.models import (
    Account,
    Organizer,
    Provider,
    ProviderProfile,
    Settlement,
    SettlementLine,
    Transfer,
)
from payments.reporting.csv_export import csv_document
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, SettlementStatus, TransferKind

log = logging.getLogger("wallet.settlements")

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------
# Reference numbers and the cut-off


def creditor_reference(settlement_id: uuid.UUID, until: date) -> str:
    """An ISO 11649 creditor reference (``RFkk`` + 20 digits) for a settlement.

    The body is the cut-off date and 12 digits of the settlement's random id, so it is readable
    by people and unique in practice; a unique index on ``settlements.reference`` makes sure.
    """
    body = f"{until:%Y%m%d}{settlement_id.int % 10**12:012d}"
    check = mod_97_10.calc_check_digits(body + "RF")
    reference = f"RF{check}{body}"
    return str(iso11649.validate(reference))


def cutoff_instant(until: date) -> datetime:
    """The end of ``until`` in Helsinki time (the next day's 00:00 there), in UTC."""
    return datetime.combine(until + timedelta(days=1), time(0), tzinfo=HELSINKI).astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Running a settlement


@dataclass(frozen=True)
class SettledProvider:
    settlement_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    reference: str
    amount_cents: int
    lines: int


@dataclass(frozen=True)
class CarriedProvider:
    """A provider with open movements that do not add up to a payment (refunds >= charges, or
    less than the minimum payout)."""

    provider_id: uuid.UUID
    provider_name: str
    net_cents: int


@dataclass
class SettlementRun:
    batch_id: uuid.UUID
    until: date
    cutoff_at: datetime
    providers_seen: int = 0
    settled: list[SettledProvider] = field(default_factory=list)
    carried: list[CarriedProvider] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(s.amount_cents for s in self.settled)


def _open_movements(payable_ids: Any, cutoff: datetime) -> Any:
    """Transfers into (+) or out of (-) the given payable accounts that no settlement covers
    yet, booked before ``cutoff``: (account, transfer, charge, kind, period, booked, signed)."""
    covered = exists().where(SettlementLine.transfer_id == Transfer.id)
    base = and_(Transfer.kind != TransferKind.SETTLEMENT, Transfer.created_at < cutoff, ~covered)
    ins = select(
        Transfer.credit_account_id.label("account_id"),
        Transfer.id.label("transfer_id"),
        Transfer.charge_id.label("charge_id"),
        Transfer.kind.label("kind"),
        Transfer.period.label("period"),
        Transfer.created_at.label("booked_at"),
        Transfer.amount_cents.label("signed"),
    ).where(base, Transfer.credit_account_id.in_(payable_ids))
    outs = select(
        Transfer.debit_account_id,
        Transfer.id,
        Transfer.charge_id,
        Transfer.kind,
        Transfer.period,
        Transfer.created_at,
        -Transfer.amount_cents,
    ).where(base, Transfer.debit_account_id.in_(payable_ids))
    return union_all(ins, outs).subquery()


async def settle_providers(
    db: Database,
    until: date,
    *,
    organizer_id: uuid.UUID | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    minimum_payout_cents: int = 0,
) -> SettlementRun:
    """Settle every provider (of one organizer, or all) up to the end of ``until`` (Helsinki).

    One transaction per provider; idempotent (a rerun moves nothing) and crash-safe. Returns
    what was settled and which providers carry their balance into the next run: a
    non-positive one, or one below ``minimum_payout_cents`` (a bank transfer that costs more
    to make than it pays); their movements stay open and are paid with the next run's.
    """
    if minimum_payout_cents < 0:
        raise InvalidInput("The minimum payout may not be negative")
    now = now or utcnow()
    cutoff = cutoff_instant(until)
    if cutoff > now + timedelta(days=1):
        # Settling the future would pay charges that may still be refunded today.
        raise InvalidInput("The settlement date may not be in the future")
    run = SettlementRun(batch_id=uuid.uuid4(), until=until, cutoff_at=cutoff)

    async with UnitOfWork(db, readonly=True) as uow:
        payables = select(Account.id).where(Account.kind == AccountKind.PROVIDER_PAYABLE)
        if organizer_id is not None:
            payables = payables.where(Account.organizer_id == organizer_id)
        moves = _open_movements(payables.scalar_subquery(), cutoff)
        candidates = (
            (
                await uow.session.execute(
                    select(Account.provider_id)
                    .where(Account.id.in_(select(moves.c.account_id).distinct()))
                    .order_by(Account.id)
                )
            )
            .scalars()
            .all()
        )
    total = len(candidates)
    if progress is not None:
        progress(0, total)
    for done, provider_id in enumerate(candidates, start=1):
        if provider_id is not None:
            run.providers_seen += 1
            await _settle_one(db, run, provider_id, now, minimum_payout_cents)
        if progress is not None:
            progress(done, total)
    return run


async def _settle_one(
    db: Database, run: SettlementRun, provider_id: uuid.UUID, now: datetime, minimum_cents: int
) -> None:
    async with UnitOfWork(db) as uow:
        s = uow.session
        stmt = (
            select(Account.id, Account.organizer_id, Provider.name)
            .join(Provider, Provider.id == Account.provider_id)
            .where(Account.provider_id == provider_id, Account.kind == AccountKind.PROVIDER_PAYABLE)
        )
        if db.is_postgres:
            # Serialize settlement runs of this provider; charges take only KEY SHARE on this
            # row (their transfers' foreign key), which NO KEY UPDATE does not block.
            stmt = stmt.with_for_update(of=Account, key_share=True)  # FOR NO KEY UPDATE
        payable_id, organizer_id, name = (await s.execute(stmt)).one()
        moves = _open_movements([payable_id], run.cutoff_at)
        rows = (await s.execute(select(moves).order_by(moves.c.transfer_id))).all()
        net = sum(int(r.signed) for r in rows)
        if not rows:
            return
        if net <= 0 or net < minimum_cents:
            run.carried.append(CarriedProvider(provider_id, name, net))
            return
        settlement_id = uuid.uuid4()
        reference = creditor_reference(settlement_id, run.until)
        settlement_account = await transfers.organizer_account(
            s, organizer_id, AccountKind.SETTLEMENT
        )
        dedupe = f"settle:{settlement_id}"
        await transfers.move(
            s,
            payable_id,
            transfers.Leg(settlement_account, net, TransferKind.SETTLEMENT, dedupe_key=dedupe),
            organizer_id=organizer_id,
            period=f"{run.until:%Y-%m}",
            now=now,
        )
        transfer_id = (
            await s.execute(select(Transfer.id).where(Transfer.dedupe_key == dedupe))
        ).scalar_one()
        await s.execute(
            insert(Settlement).values(
                id=settlement_id,
                organizer_id=organizer_id,
                provider_id=provider_id,
                batch_id=run.batch_id,
                reference=reference,
                until=run.until,
                cutoff_at=run.cutoff_at,
                amount_cents=net,
                transfer_id=transfer_id,
                created_at=now,
            )
        )
        await s.execute(
            insert(SettlementLine),
            [
                {
                    "settlement_id": settlement_id,
                    "transfer_id": int(r.transfer_id),
                    "charge_id": r.charge_id,
                    "kind": r.kind,
                    "period": r.period,
                    "amount_cents": int(r.signed),
                    "booked_at": r.booked_at,
                }
                for r in rows
            ],
        )
        try:
            await uow.commit()
        except IntegrityError:
            # Another run settled some of these transfers first; nothing of ours was kept.
            log.warning("settlement of provider %s lost a race; the next run completes it", name)
            return
        run.settled.append(
            SettledProvider(settlement_id, provider_id, name, reference, net, len(rows))
        )


# ---------------------------------------------------------------------------------------------
# Reading settlements (API) and the bank and book-keeping files


@dataclass(frozen=True)
class SettlementView:
    id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    reference: str
    until: date
    amount_cents: int
    created_at: datetime
    lines: int
    status: str  # SettlementStatus: what the bank said of the payout
    bank_reason: str | None  # the bank's reason for a rejection


@dataclass(frozen=True)
class SettlementLineView:
    transfer_id: int
    charge_id: uuid.UUID | None
    kind: str
    period: str
    amount_cents: int
    booked_at: datetime


async def list_settlements(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    provider_id: uuid.UUID | None,
    settlement_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[SettlementView]:
    """Settlements of an organizer, newest first; only one provider's when ``provider_id``."""
    line_count = (
        select(func.count(SettlementLine.id))
        .where(SettlementLine.settlement_id == Settlement.id)
        .scalar_subquery()
    )
    stmt = (
        select(
            Settlement.id,
            Settlement.provider_id,
            Provider.name,
            Settlement.reference,
            Settlement.until,
            Settlement.amount_cents,
            Settlement.created_at,
            line_count,
            Settlement.status,
            Settlement.bank_reason,
        )
        .join(Provider, Provider.id == Settlement.provider_id)
        .where(Settlement.organizer_id == organizer_id)
        .order_by(Settlement.created_at.desc(), Settlement.id)
        .limit(max(1, min(limit, 500)))
    )
    if provider_id is not None:
        stmt = stmt.where(Settlement.provider_id == provider_id)
    if settlement_id is not None:
        stmt = stmt.where(Settlement.id == settlement_id)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(stmt)).all()
    return [SettlementView(*tuple(row)) for row in rows]


async def get_settlement(
    db: Database,
    settlement_id: uuid.UUID,
    *,
    organizer_id: uuid.UUID,
    provider_id: uuid.UUID | None,
) -> tuple[SettlementView, list[SettlementLineView]]:
    """One settlement and its lines. Someone else's settlement is ``not-found``: whether it
    exists does not leak."""
    found = await list_settlements(
        db, organizer_id=organizer_id, provider_id=provider_id, settlement_id=settlement_id
    )
    if not found:
        raise NotFound("No such settlement")
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(
                    SettlementLine.transfer_id,
                    SettlementLine.charge_id,
                    SettlementLine.kind,
                    SettlementLine.period,
                    SettlementLine.amount_cents,
                    SettlementLine.booked_at,
                )
                .where(SettlementLine.settlement_id == settlement_id)
                .order_by(SettlementLine.transfer_id)
            )
        ).all()
    lines = [SettlementLineView(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]
    return found[0], lines


@dataclass(frozen=True)
class Payout:
    """One line of the bank file: a settlement with the provider's bank account (if known)."""

    settlement_id: uuid.UUID
    organizer_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    business_id: str
    iban: str | None
    bic: str | None
    reference: str
    until: date
    amount_cents: int


async def payouts(db: Database, settlement_ids: Sequence[uuid.UUID]) -> list[Payout]:
    """The settlements with the providers' bank accounts, in the order of ``settlement_ids``."""
    if not settlement_ids:
        return []
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(
                    Settlement.id,
                    Settlement.organizer_id,
                    Settlement.provider_id,
                    Provider.name,
                    Provider.business_id,
                    ProviderProfile.iban,
                    ProviderProfile.bic,
                    Settlement.reference,
                    Settlement.until,
                    Settlement.amount_cents,
                )
                .join(Provider, Provider.id == Settlement.provider_id)
                .outerjoin(ProviderProfile, ProviderProfile.provider_id == Settlement.provider_id)
                .where(Settlement.id.in_(list(settlement_ids)))
            )
        ).all()
    by_id = {row[0]: Payout(*tuple(row)) for row in rows}
    return [by_id[i] for i in settlement_ids if i in by_id]


async def settlement_ids_until(
    db: Database, *, organizer_id: uuid.UUID, until: date
) -> list[uuid.UUID]:
    """The organizer's settlements that settled up to ``until``, in reference order: what one
    bank file pays (several runs up to the same day are paid together)."""
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(Settlement.id)
                .where(Settlement.organizer_id == organizer_id, Settlement.until == until)
                .order_by(Settlement.reference)
            )
        ).all()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class Debtor:
    """The organizer's own bank account that the payouts are paid from."""

    name: str
    iban: str
    bic: str


def pain001(debtor: Debtor, items: Sequence[Payout], execution_date: date) -> bytes:
    """A SEPA credit transfer initiation (pain.001.001.03) paying ``items``, validated against
    the schema that sepaxml ships. Payouts without a bank account are refused, not skipped.

    Each payment carries its RF reference as a structured creditor reference
    (``RmtInf/Strd/CdtrRefInf``, type ``SCOR``, issuer ``ISO``), where the provider's bank and
    bookkeeping match incoming payments by reference; the EPC rules allow the structured or the
    unstructured remittance field, not both, so there is no free text beside it."""
    from sepaxml import SepaTransfer
    from sepaxml.validation import try_valid_xml

    missing = [p.provider_name for p in items if not p.iban]
    if missing:
        raise InvalidInput(f"No bank account for: {', '.join(missing)}")
    if not items:
        raise InvalidInput("Nothing to pay")
    config = {
        "name": debtor.name,
        "IBAN": debtor.iban,
        "BIC": debtor.bic,
        "batch": True,
        "currency": "EUR",
    }
    sepa = SepaTransfer(config, schema=_PAIN001, clean=True)
    for p in items:
        payment: dict[str, Any] = {
            "name": p.provider_name,
            "IBAN": p.iban,
            "amount": p.amount_cents,
            "execution_date": execution_date,
            "description": p.reference,  # replaced by the structured reference below
            "endtoend_id": p.reference,
        }
        if p.bic:
            payment["BIC"] = p.bic
        sepa.add_payment(payment)
    out = _structured_references(sepa.export(validate=False))
    try_valid_xml(out, _PAIN001)
    return out


_PAIN001 = "pain.001.001.03"  # the message version sepaxml builds and validates against
_PAIN001_NS = f"urn:iso:std:iso:20022:tech:xsd:{_PAIN001}"


def _structured_references(document: bytes) -> bytes:
    """Move each payment's RF reference from the free-text ``Ustrd`` (all that sepaxml writes)
    into ``Strd/CdtrRefInf`` with the ISO 11649 type ``SCOR``. The reference is the payment's
    end-to-end id, which sepaxml writes from the same value."""
    from xml.etree import ElementTree as ET

    ET.register_namespace("", _PAIN001_NS)  # written back as the default namespace
    # Our own document, just built by sepaxml from validated values: nothing untrusted to parse.
    root = ET.fromstring(document)  # noqa: S314
    q = f"{{{_PAIN001_NS}}}"
    for tx in root.iter(f"{q}CdtTrfTxInf"):
        reference = tx.findtext(f"{q}PmtId/{q}EndToEndId")
        remittance = tx.find(f"{q}RmtInf")
        if reference is None or remittance is None:
            raise RuntimeError("a payment without its reference")  # sepaxml always writes both
        for free_text in remittance.findall(f"{q}Ustrd"):
            remittance.remove(free_text)
        structured = ET.SubElement(remittance, f"{q}Strd")
        creditor_ref = ET.SubElement(structured, f"{q}CdtrRefInf")
        kind = ET.SubElement(creditor_ref, f"{q}Tp")
        code = ET.SubElement(kind, f"{q}CdOrPrtry")
        ET.SubElement(code, f"{q}Cd").text = "SCOR"
        ET.SubElement(kind, f"{q}Issr").text = "ISO"
        ET.SubElement(creditor_ref, f"{q}Ref").text = reference
    out: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return out


CSV_COLUMNS = (
    "settlement_id",
    "reference",
    "provider_id",
    "provider",
    "business_id",
    "iban",
    "bic",
    "until",
    "amount_cents",
    "amount_eur",
)


def payouts_csv(items: Sequence[Payout]) -> bytes:
    """The settlements for the books: one row each, amounts in cents and in euros (numbers;
    the provider's self-chosen name is text, neutralised by ``csv_export``)."""
    return csv_document(
        CSV_COLUMNS,
        (
            [
                p.settlement_id,
                p.reference,
                p.provider_id,
                p.provider_name,
                p.business_id,
                p.iban,
                p.bic,
                p.until,
                p.amount_cents,
                Decimal(p.amount_cents).scaleb(-2),
            ]
            for p in items
        ),
    )


# ---------------------------------------------------------------------------------------------
# Invariants for ``wallet check``


async def check_settlements(s: AsyncSession, add: Callable[[str], None]) -> int:
    """Prove the settlements against the ledger; report each violation through ``add``.

    * every settlement's amount equals the sum of its lines and its own transfer, which is a
      ``settlement`` transfer from the provider's payable account to the organizer's settlement
      account;
    * every line's amount is its transfer's, signed by direction through that payable account;
    * no transfer is in two settlements, and no settlement transfer lacks its settlement;
    * a payout the bank returned is booked back exactly once (:func:`_check_returned`).

    Returns how many settlements were checked.
    """
    debit, credit = aliased(Account), aliased(Account)
    line_sums = (
        select(
            SettlementLine.settlement_id.label("sid"),
            func.sum(SettlementLine.amount_cents).label("total"),
        )
        .group_by(SettlementLine.settlement_id)
        .subquery()
    )
    rows = (
        await s.execute(
            select(
                Settlement.id,
                Settlement.amount_cents,
                line_sums.c.total,
                Transfer.amount_cents,
                Transfer.kind,
                debit.kind,
                debit.provider_id,
                credit.kind,
                credit.organizer_id,
                Settlement.provider_id,
                Settlement.organizer_id,
            )
            .outerjoin(line_sums, line_sums.c.sid == Settlement.id)
            .outerjoin(Transfer, Transfer.id == Settlement.transfer_id)
            .outerjoin(debit, debit.id == Transfer.debit_account_id)
            .outerjoin(credit, credit.id == Transfer.credit_account_id)
        )
    ).all()
    for sid, amount, lines, t_amount, t_kind, d_kind, d_prov, c_kind, c_org, prov, org in rows:
        if lines is None or int(lines) != amount:
            add(f"settlement {sid}: amount {amount} != its lines {lines}")
        if t_amount is None or int(t_amount) != amount or t_kind != TransferKind.SETTLEMENT:
            add(f"settlement {sid}: amount {amount} != its transfer {t_amount} ({t_kind})")
        if (
            d_kind != AccountKind.PROVIDER_PAYABLE
            or d_prov != prov
            or c_kind != AccountKind.SETTLEMENT
            or c_org != org
        ):
            add(f"settlement {sid}: its transfer is not provider payable -> settlement")

    twice = (
        await s.execute(
            select(
                SettlementLine.transfer_id, func.count(func.distinct(SettlementLine.settlement_id))
            )
            .group_by(SettlementLine.transfer_id)
            .having(func.count(SettlementLine.id) > 1)
        )
    ).all()
    for tid, n in twice:
        add(f"transfer {tid} is in {n} settlements")

    payable = aliased(Account)
    wrong = (
        await s.execute(
            select(SettlementLine.id, SettlementLine.transfer_id)
            .join(Settlement, Settlement.id == SettlementLine.settlement_id)
            .join(Transfer, Transfer.id == SettlementLine.transfer_id)
            .join(
                payable,
                and_(
                    payable.provider_id == Settlement.provider_id,
                    payable.kind == AccountKind.PROVIDER_PAYABLE,
                ),
            )
            .where(
                (Transfer.kind == TransferKind.SETTLEMENT)
                | ~(
                    (
                        (Transfer.credit_account_id == payable.id)
                        & (SettlementLine.amount_cents == Transfer.amount_cents)
                    )
                    | (
                        (Transfer.debit_account_id == payable.id)
                        & (SettlementLine.amount_cents == -Transfer.amount_cents)
                    )
                )
            )
            .limit(50)
        )
    ).all()
    for line_id, tid in wrong:
        add(f"settlement line {line_id}: transfer {tid} is not its provider's movement as booked")

    orphans = (
        (
            await s.execute(
                select(Transfer.id)
                .where(
                    Transfer.kind == TransferKind.SETTLEMENT,
                    ~exists().where(Settlement.transfer_id == Transfer.id),
                )
                .limit(50)
            )
        )
        .scalars()
        .all()
    )
    for tid in orphans:
        add(f"settlement transfer {tid} has no settlement")
    await _check_returned(s, add)
    return len(rows)


async def _check_returned(s: AsyncSession, add: Callable[[str], None]) -> None:
    """The bank loop's invariants (``payments.marketplace.bank_files``): a rejected payout, and
    only a rejected one, has its return transfer, ``settlement_returned`` of exactly its amount
    from its organizer's settlement account back to its provider's payable account; and every
    such transfer returns a settlement."""
    debit, credit = aliased(Account), aliased(Account)
    rows = (
        await s.execute(
            select(
                Settlement.id,
                Settlement.status,
                Settlement.returned_transfer_id,
                Settlement.amount_cents,
                Transfer.amount_cents,
                Transfer.kind,
                debit.kind,
                debit.organizer_id,
                credit.kind,
                credit.provider_id,
                Settlement.organizer_id,
                Settlement.provider_id,
            )
            .outerjoin(Transfer, Transfer.id == Settlement.returned_transfer_id)
            .outerjoin(debit, debit.id == Transfer.debit_account_id)
            .outerjoin(credit, credit.id == Transfer.credit_account_id)
            .where(
                (Settlement.status == SettlementStatus.REJECTED)
                | Settlement.returned_transfer_id.is_not(None)
            )
        )
    ).all()
    for (
        sid,
        status,
        tid,
        amount,
        t_amount,
        t_kind,
        d_kind,
        d_org,
        c_kind,
        c_prov,
        org,
        prov,
    ) in rows:
        if status != SettlementStatus.REJECTED:
            add(f"settlement {sid}: {status}, yet returned by transfer {tid}")
        elif tid is None or t_amount is None:
            add(f"settlement {sid}: rejected, but its payout was not returned")
        elif (
            t_kind != TransferKind.SETTLEMENT_RETURNED
            or int(t_amount) != amount
            or d_kind != AccountKind.SETTLEMENT
            or d_org != org
            or c_kind != AccountKind.PROVIDER_PAYABLE
            or c_prov != prov
        ):
            add(
                f"settlement {sid}: its return transfer {tid} is not {amount} cents "
                "settlement -> its provider's payable"
            )
    unclaimed = (
        (
            await s.execute(
                select(Transfer.id)
                .where(
                    Transfer.kind == TransferKind.SETTLEMENT_RETURNED,
                    ~exists().where(Settlement.returned_transfer_id == Transfer.id),
                )
                .limit(50)
            )
        )
        .scalars()
        .all()
    )
    for tid in unclaimed:
        add(f"returned payout transfer {tid} returns no settlement")


# ---------------------------------------------------------------------------------------------
# Files of a run, and the schedule


@dataclass(frozen=True)
class BatchFiles:
    """The files of one run: name -> content, plus payouts left out of the bank file."""

    files: dict[str, bytes]
    without_account: list[Payout]


async def batch_files(
    db: Database, run: SettlementRun, debtor: Debtor | None, execution_date: date
) -> BatchFiles:
    """A CSV per organizer for the books (every settlement of the run) and, when the paying
    account is known, a pain.001 bank file per organizer with every payout whose provider has
    a bank account. Payouts without one are listed in the CSV and returned for a warning."""
    items = await payouts(db, [s.settlement_id for s in run.settled])
    async with UnitOfWork(db, readonly=True) as uow:
        slugs = dict(
            (
                await uow.session.execute(
                    select(Organizer.id, Organizer.slug).where(
                        Organizer.id.in_({p.organizer_id for p in items})
                    )
                )
            ).all()
        )
    by_org: dict[uuid.UUID, list[Payout]] = {}
    for p in items:
        by_org.setdefault(p.organizer_id, []).append(p)
    files: dict[str, bytes] = {}
    missing: list[Payout] = []
    for org_id, org_items in by_org.items():
        org = slugs.get(org_id, str(org_id))
        stem = f"settlement-{run.until.isoformat()}-{org}-{str(run.batch_id)[:8]}"
        files[f"{stem}.csv"] = payouts_csv(org_items)
        payable = [p for p in org_items if p.iban]
        missing.extend(p for p in org_items if not p.iban)
        if debtor is not None and payable:
            files[f"{stem}.pain001.xml"] = pain001(debtor, payable, execution_date)
    return BatchFiles(files, missing)


def scheduled_until(today: date, days: str) -> date | None:
    """The latest scheduled settlement day that has ended before ``today`` (Helsinki), or None.

    ``days`` lists days of the month, "last" meaning the month's last day, e.g. "15,last".
    Settling up to that day again later moves nothing new, so the scheduler can simply run
    this on every tick.
    """
    wanted: list[int | str] = []
    for part in days.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == "last":
            wanted.append("last")
        elif part.isdigit() and 1 <= int(part) <= 31:
            wanted.append(int(part))
        else:
            raise ValueError(f"not a day of the month or 'last': {part!r}")
    best: date | None = None
    for back in range(1, 63):
        d = today - timedelta(days=back)
        month_end = (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        if d.day in wanted or ("last" in wanted and d == month_end):
            best = d
            break
    return best
