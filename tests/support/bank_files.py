"""Bank files as a bank writes them (ISO 20022 camt.054 and pain.002), for the bank loop's
tests: each helper writes one message with the payments given, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Booked:
    """One transaction of a camt.054 entry."""

    reference: str
    cents: int
    debit: bool = True  # DBIT: a payout left the account; CRDT: money came in
    returned: tuple[str, str] | None = None  # (reason code, text) of a returned payout
    status: str = "BOOK"
    in_end_to_end_id: bool = False  # the reference only as the end-to-end id


def _eur(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def camt054(*booked: Booked, version: str = "02") -> bytes:
    """A debit/credit notification (camt.054.001.<version>): one entry per transaction.
    Versions 08 and later write the entry status as ``<Sts><Cd>``."""
    entries = []
    for b in booked:
        status = (
            f"<Sts><Cd>{b.status}</Cd></Sts>" if int(version) >= 8 else f"<Sts>{b.status}</Sts>"
        )
        if b.in_end_to_end_id:
            refs, remittance = f"<Refs><EndToEndId>{escape(b.reference)}</EndToEndId></Refs>", ""
        else:
            refs = "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            remittance = (
                "<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry>"
                f"<Issr>ISO</Issr></Tp><Ref>{escape(b.reference)}</Ref></CdtrRefInf></Strd></RmtInf>"
            )
        returned = ""
        if b.returned:
            code, text = b.returned
            returned = (
                f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn><AddtlInf>{escape(text)}</AddtlInf></RtrInf>"
            )
        indicator = "DBIT" if b.debit else "CRDT"
        entries.append(
            f'<Ntry><Amt Ccy="EUR">{_eur(b.cents)}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>{status}'
            "<BookgDt><Dt>2024-01-12</Dt></BookgDt><BkTxCd/>"
            "<NtryDtls><TxDtls>"
            f'{refs}<AmtDtls><TxAmt><Amt Ccy="EUR">{_eur(b.cents)}</Amt></TxAmt></AmtDtls>'
            f"{remittance}{returned}</TxDtls></NtryDtls></Ntry>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.{version}">'
        "<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>NTF-1</MsgId>"
        "<CreDtTm>2024-01-12T18:00:00</CreDtTm></GrpHdr>"
        "<Ntfctn><Id>N1</Id><CreDtTm>2024-01-12T18:00:00</CreDtTm>"
        "<Acct><Id><IBAN>FI4950009420028730</IBAN></Id></Acct>"
        + "".join(entries)
        + "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    ).encode()


@dataclass(frozen=True)
class Status:
    """One payment of a pain.002 status report."""

    reference: str
    status: str  # RJCT, ACSC, ACCC, ACCP, PDNG, ...
    cents: int | None = None
    reason: tuple[str, str] | None = None


def pain002(
    *payments: Status, group_status: str | None = None, batch_status: str | None = None
) -> bytes:
    """A customer payment status report (pain.002.001.03) on the pain.001 ``MSG-1``."""
    txs = []
    for p in payments:
        reason = ""
        if p.reason:
            code, text = p.reason
            reason = (
                f"<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn>"
                f"<AddtlInf>{escape(text)}</AddtlInf></StsRsnInf>"
            )
        amount = (
            f'<Amt><InstdAmt Ccy="EUR">{_eur(p.cents)}</InstdAmt></Amt>'
            if p.cents is not None
            else ""
        )
        txs.append(
            f"<TxInfAndSts><OrgnlEndToEndId>{escape(p.reference)}</OrgnlEndToEndId>"
            f"<TxSts>{p.status}</TxSts>{reason}<OrgnlTxRef>{amount}</OrgnlTxRef></TxInfAndSts>"
        )
    group = f"<GrpSts>{group_status}</GrpSts>" if group_status else ""
    batch = ""
    if payments or batch_status:
        pmt_status = f"<PmtInfSts>{batch_status}</PmtInfSts>" if batch_status else ""
        batch = (
            f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>BATCH-1</OrgnlPmtInfId>{pmt_status}"
            + "".join(txs)
            + "</OrgnlPmtInfAndSts>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>'
        "<GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2024-01-12T18:00:00</CreDtTm></GrpHdr>"
        "<OrgnlGrpInfAndSts><OrgnlMsgId>MSG-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>"
        f"{group}</OrgnlGrpInfAndSts>{batch}</CstmrPmtStsRpt></Document>"
    ).encode()
