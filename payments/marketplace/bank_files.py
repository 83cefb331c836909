"""The bank loop: what the bank says of the payouts in a settlement's pain.001.

Two kinds of file come back from the bank (ISO 20022, any message version: elements are
matched by name, whatever the namespace):

* **camt.054** (``BkToCstmrDbtCdtNtfctn``), the booking notice of the paying account. A booked
  debit with a settlement's reference is its payout, paid. A booked credit with return
  information (``RtrInf``) is a payout that the provider's bank sent back: rejected.
* **pain.002** (``CstmrPmtStsRpt``), the status report of the pain.001 itself. ``RJCT`` is a
  rejected payment, ``ACSC``/``ACCC`` one that was settled; other statuses are not final.

Each line is matched to a settlement by its RF creditor reference: the structured creditor
reference (``CdtrRefInf/Ref``) or the end-to-end id, which ``pain001`` writes from the same
value. :func:`import_bank_file` marks the settlements paid or rejected in ONE transaction; a
rejected payout goes back to the provider's payable account by a ``settlement_returned``
transfer (settlement -> provider payable), so the next settlement run pays it again. Reading
the same file twice changes nothing the second time (each line is "already recorded"), and a
line nobody can match is reported, never guessed.

Files come from outside: they are parsed by defusedxml (no DTD, no entities, no external
references) and at most :data:`MAX_BYTES` long.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Literal
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payments import outbox
from payments.clock import utcnow
from payments.db import Database
from payments.errors import Conflict, InvalidInput
from payments.ledger import transfers
from payments.models import Provider, Settlement, Transfer
from payments.people import audit
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, SettlementStatus, TransferKind

MAX_BYTES = 20 * 1024 * 1024  # a month of a county's bank notices is far smaller

Outcome = Literal["paid", "rejected", "not final", "credit", "batch rejected"]


@dataclass(frozen=True)
class BankLine:
    """One payment the bank reports on, as read from the file."""

    outcome: Outcome
    reference: str | None
    amount_cents: int | None  # None when the line gives no amount (or not in euros: see note)
    reason: str | None = None  # the bank's reason code and text for a rejection
    note: str | None = None  # what else a person should know about this line


class Result(StrEnum):
    """What importing a line did."""

    PAID = "paid"
    REJECTED = "rejected: back to the provider, paid in the next settlement"
    ALREADY = "already recorded"
    NOT_FINAL = "not final yet: nothing changed"
    NOT_A_PAYOUT = "not a payout: nothing changed"
    # Each of these needs a person; nothing was changed for the line.
    UNMATCHED = "no settlement has this reference"
    AMOUNT_DIFFERS = "the amount differs from the settlement's"
    RETURNED_BEFORE = "paid, but the payout was already returned"
    CREDIT = "a credit with a settlement's reference, not marked as a return"
    BATCH_REJECTED = "a whole batch rejected, without its payments"


NEEDS_A_PERSON = frozenset(
    {
        Result.UNMATCHED,
        Result.AMOUNT_DIFFERS,
        Result.RETURNED_BEFORE,
        Result.CREDIT,
        Result.BATCH_REJECTED,
    }
)


@dataclass(frozen=True)
class ImportedLine:
    line: BankLine
    result: Result
    settlement_id: uuid.UUID | None = None
    provider_name: str | None = None
    settlement_cents: int | None = None

    @property
    def needs_a_person(self) -> bool:
        return self.result in NEEDS_A_PERSON


@dataclass
class BankImport:
    """What a bank file said and what was done with each of its lines."""

    kind: str  # "camt.054" or "pain.002"
    dry_run: bool
    lines: list[ImportedLine] = field(default_factory=list)

    @property
    def needs_a_person(self) -> list[ImportedLine]:
        return [x for x in self.lines if x.needs_a_person]

    def count(self, result: Result) -> int:
        return sum(1 for x in self.lines if x.result == result)


# ---------------------------------------------------------------------------------------------
# Reading the file


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: Element | None, *path: str) -> Element | None:
    """The first element along ``path`` of local names (any namespace), or None."""
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if _local(c.tag) == name), None)
    return el


def _children(el: Element | None, name: str) -> Iterator[Element]:
    if el is not None:
        yield from (c for c in el if _local(c.tag) == name)


def _first(*found: Element | None) -> Element | None:
    # Not ``a or b``: an element without children is false.
    return next((el for el in found if el is not None), None)


def _text(el: Element | None, *path: str) -> str | None:
    found = _child(el, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _amount(el: Element | None) -> tuple[int | None, str | None]:
    """An ``Amt`` element in cents; a note instead when it is not a whole number of euro cents."""
    if el is None or not el.text:
        return None, None
    currency = el.get("Ccy", "EUR")
    try:
        value = Decimal(el.text.strip())
    except InvalidOperation:
        return None, f"the amount {el.text.strip()!r} is not a number"
    cents = value * 100
    if currency != "EUR" or cents != cents.to_integral_value():
        return None, f"the amount is {el.text.strip()} {currency}"
    return int(cents), None


def _reference(tx: Element, *remittance_path: str) -> str | None:
    """The structured creditor reference of a transaction, else its end-to-end id."""
    for strd in _children(_child(tx, *remittance_path), "Strd"):
        ref = _text(strd, "CdtrRefInf", "Ref")
        if ref:
            return _normal(ref)
    return None


def _normal(reference: str) -> str:
    return "".join(reference.split()).upper()


def _reason(info: Element | None) -> str | None:
    """A status or return reason as "CODE: text" (ISO code, then the bank's words)."""
    if info is None:
        return None
    code = _text(info, "Rsn", "Cd") or _text(info, "Rsn", "Prtry")
    text = " ".join(t for t in (x.text for x in _children(info, "AddtlInf")) if t and t.strip())
    reason = ": ".join(p for p in (code, text.strip()) if p)
    return reason[:140] or None


def read_bank_file(data: bytes) -> tuple[str, list[BankLine]]:
    """The kind of the file ("camt.054" or "pain.002") and its payment lines, in file order.

    Raises :class:`InvalidInput` for anything else: too large, not XML, a DTD or entities
    (which no bank file has), or another kind of message."""
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise InvalidInput("The file declares a DTD or entities; a bank file has none") from e
    except ParseError as e:
        raise InvalidInput(f"The file is not well-formed XML ({e})") from e
    message = next(iter(root), None) if _local(root.tag) == "Document" else None
    name = _local(message.tag) if message is not None else _local(root.tag)
    if message is not None and name == "BkToCstmrDbtCdtNtfctn":
        return "camt.054", list(_camt054(message))
    if message is not None and name == "CstmrPmtStsRpt":
        return "pain.002", list(_pain002(message))
    raise InvalidInput(f"Not a camt.054 or pain.002 file (its message is {name})")


def _camt054(message: Element) -> Iterator[BankLine]:
    for notification in _children(message, "Ntfctn"):
        for entry in _children(notification, "Ntry"):
            # camt.054.001.02-07 write <Sts>BOOK</Sts>, .08 and later <Sts><Cd>BOOK</Cd></Sts>.
            status = _text(entry, "Sts", "Cd") or _text(entry, "Sts")
            debit = _text(entry, "CdtDbtInd") == "DBIT"
            details = [tx for d in _children(entry, "NtryDtls") for tx in _children(d, "TxDtls")]
            for tx in details or [entry]:
                amount, note = _amount(
                    _first(
                        _child(tx, "Amt"),
                        _child(tx, "AmtDtls", "TxAmt", "Amt"),
                        _child(entry, "Amt") if len(details) <= 1 else None,
                    )
                )
                reference = _reference(tx, "RmtInf") or _end_to_end(_text(tx, "Refs", "EndToEndId"))
                returned = _child(tx, "RtrInf")
                outcome: Outcome
                if status != "BOOK":
                    outcome = "not final"
                elif returned is not None:
                    outcome = "rejected"
                elif debit:
                    outcome = "paid"
                else:
                    outcome = "credit"
                yield BankLine(outcome, reference, amount, _reason(returned), note)


def _end_to_end(value: str | None) -> str | None:
    return None if value is None or value == "NOTPROVIDED" else _normal(value)


# The final statuses of a payment; the others (ACCP, ACTC, ACSP, PDNG, ...) are on their way.
PAIN002_FINAL: dict[str, Outcome] = {"RJCT": "rejected", "ACSC": "paid", "ACCC": "paid"}


def _pain002(message: Element) -> Iterator[BankLine]:
    group = _child(message, "OrgnlGrpInfAndSts")
    group_status = _text(group, "GrpSts")
    batches = list(_children(message, "OrgnlPmtInfAndSts"))
    if not batches and group_status == "RJCT":
        reason = _reason(_child(group, "StsRsnInf"))
        what = f"the whole file was rejected (message {_text(group, 'OrgnlMsgId')})"
        yield BankLine("batch rejected", None, None, reason, what)
    for batch in batches:
        batch_status = _text(batch, "PmtInfSts") or group_status
        payments = list(_children(batch, "TxInfAndSts"))
        if not payments and batch_status == "RJCT":
            reason = _reason(_child(batch, "StsRsnInf"))
            batch_id = _text(batch, "OrgnlPmtInfId")
            what = f"the whole batch was rejected (payment information {batch_id})"
            yield BankLine("batch rejected", None, None, reason, what)
        for tx in payments:
            status = _text(tx, "TxSts") or batch_status or ""
            amount, note = _amount(_child(tx, "OrgnlTxRef", "Amt", "InstdAmt"))
            reference = _reference(tx, "OrgnlTxRef", "RmtInf") or _end_to_end(
                _text(tx, "OrgnlEndToEndId")
            )
            outcome: Outcome = PAIN002_FINAL.get(status, "not final")
            yield BankLine(outcome, reference, amount, _reason(_child(tx, "StsRsnInf")), note)


# ---------------------------------------------------------------------------------------------
# Recording it


async def import_bank_file(
    db: Database, data: bytes, *, dry_run: bool = False, now: datetime | None = None
) -> BankImport:
    """Read a camt.054 or pain.002 file and mark its settlements paid or rejected.

    ONE transaction for the whole file: every line is recorded, or (on an error, or with
    ``dry_run``) none is, and the report says what each line did or would do. A rejected
    payout is returned to its provider's payable account (``settlement_returned``, with the
    dedupe key ``settle-return:<settlement>``, so it can never be returned twice); the
    settlement's status moves only from the status this import read (a second import at the
    same time fails with :class:`Conflict` and changes nothing; run it again).
    """
    kind, lines = read_bank_file(data)
    now = now or utcnow()
    report = BankImport(kind=kind, dry_run=dry_run)
    try:
        async with UnitOfWork(db) as uow:
            for line in lines:
                report.lines.append(await _record(uow.session, line, now))
            if dry_run:
                return report  # leaving without commit rolls back
            await uow.commit()
    except IntegrityError as e:
        # The return transfer's dedupe key: another import returned the same payout first.
        raise Conflict(
            "Another import recorded these payouts at the same time; import again"
        ) from e
    return report


async def _record(s: AsyncSession, line: BankLine, now: datetime) -> ImportedLine:
    if line.outcome == "batch rejected":
        return ImportedLine(line, Result.BATCH_REJECTED)
    found = None
    if line.reference is not None:
        found = (
            await s.execute(
                select(Settlement, Provider.name)
                .join(Provider, Provider.id == Settlement.provider_id)
                .where(Settlement.reference == line.reference)
            )
        ).first()
    if found is None:
        if line.outcome in ("not final", "credit"):
            # Another payment on the same account, or one the bank has not finished with.
            result = Result.NOT_FINAL if line.outcome == "not final" else Result.NOT_A_PAYOUT
            return ImportedLine(line, result)
        return ImportedLine(line, Result.UNMATCHED)
    settlement, name = found
    seen = ImportedLine(line, Result.ALREADY, settlement.id, name, settlement.amount_cents)

    def done(result: Result) -> ImportedLine:
        return ImportedLine(line, result, settlement.id, name, settlement.amount_cents)

    if line.outcome == "not final":
        return done(Result.NOT_FINAL)
    if line.outcome == "credit":
        return done(Result.CREDIT)
    if line.amount_cents is not None and line.amount_cents != settlement.amount_cents:
        return done(Result.AMOUNT_DIFFERS)
    if line.amount_cents is None and line.note is not None:
        return done(Result.AMOUNT_DIFFERS)  # another currency, or not a number of cents
    status = settlement.status
    if line.outcome == "paid":
        if status == SettlementStatus.PAID:
            return seen
        if status == SettlementStatus.REJECTED:
            return done(Result.RETURNED_BEFORE)
        await _set_status(s, settlement, SettlementStatus.PAID, None, None, now)
        return done(Result.PAID)
    if status == SettlementStatus.REJECTED:
        return seen
    returned = await _return_payout(s, settlement, now)
    await _set_status(s, settlement, SettlementStatus.REJECTED, line.reason, returned, now)
    return done(Result.REJECTED)


async def _return_payout(s: AsyncSession, settlement: Settlement, now: datetime) -> int:
    """Book the payout back: settlement -> the provider's payable account, its own month."""
    dedupe = f"settle-return:{settlement.id}"
    source = await transfers.organizer_account(s, settlement.organizer_id, AccountKind.SETTLEMENT)
    payable = await transfers.provider_payable_account(s, settlement.provider_id)
    await transfers.move(
        s,
        source,
        transfers.Leg(
            payable,
            settlement.amount_cents,
            TransferKind.SETTLEMENT_RETURNED,
            dedupe_key=dedupe,
        ),
        organizer_id=settlement.organizer_id,
        period=f"{settlement.until:%Y-%m}",
        now=now,
    )
    return int(
        (await s.execute(select(Transfer.id).where(Transfer.dedupe_key == dedupe))).scalar_one()
    )


async def _set_status(
    s: AsyncSession,
    settlement: Settlement,
    status: SettlementStatus,
    reason: str | None,
    returned_transfer_id: int | None,
    now: datetime,
) -> None:
    """Move the settlement from the status read to ``status``, or fail if it moved meanwhile."""
    changed = await s.execute(
        update(Settlement)
        .where(Settlement.id == settlement.id, Settlement.status == settlement.status)
        .values(
            status=status,
            bank_status_at=now,
            bank_reason=reason,
            returned_transfer_id=returned_transfer_id,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        raise Conflict("Another import recorded this payout at the same time; import again")
    await s.refresh(settlement)
    action = f"settlement.{status}"
    detail = f"{settlement.reference} {settlement.amount_cents} cents"
    audit.add(s, action, actor_id=None, organizer_id=settlement.organizer_id, detail=detail)
    await outbox.emit(
        s,
        type=outbox.SETTLEMENT_PAID
        if status == SettlementStatus.PAID
        else outbox.SETTLEMENT_REJECTED,
        organizer_id=settlement.organizer_id,
        provider_id=settlement.provider_id,
        now=now,
        payload={
            "settlement_id": str(settlement.id),
            "reference": settlement.reference,
            "amount_cents": settlement.amount_cents,
            "status": str(status),
            "reason": reason,
        },
    )
