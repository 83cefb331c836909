"""Every table, in one package: one module per feature, all re-exported here.

One package rather than models beside each feature: the tables refer to each other across
features (a charge names a wallet, a provider and its transfers; a mandate a client and a
principal), migrations and ``wallet check`` need all of them at once, and a feature package
can import any table without importing another feature's code. ``from payments.models import
Charge`` works for every table; the module a table lives in says which feature owns it.
"""

from payments.models.base import (
    NAMING,
    Base,
    BigId,
    UtcDateTime,
    new_id,
)
from payments.models.budgets import (
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Organizer,
    ServiceCategory,
    Wallet,
)
from payments.models.checkout import (
    Charge,
    ChargeLine,
    Correction,
    Hold,
    HoldLine,
    PaymentRequest,
    PaymentToken,
    QrCard,
    Refund,
    TrustedProvider,
)
from payments.models.ledger import (
    STORED_BALANCE_KINDS,
    Account,
    Transfer,
)
from payments.models.marketplace import (
    APPLIED,
    APPROVED,
    PROVIDER_STATUSES,
    REJECTED,
    SUSPENDED,
    CatalogueVersion,
    Provider,
    ProviderPrice,
    ProviderPriceVersion,
    ProviderProfile,
    Settlement,
    SettlementLine,
)
from payments.models.people import (
    ApiKey,
    AuditEvent,
    Challenge,
    Invite,
    Mandate,
    Passkey,
    Principal,
    ProviderOwner,
    RateCounter,
    WebSession,
)
from payments.models.platform import (
    IdempotencyRecord,
    OutboxEvent,
)
from payments.models.reporting import (
    StatementNotice,
)

__all__ = [
    "APPLIED",
    "APPROVED",
    "NAMING",
    "PROVIDER_STATUSES",
    "REJECTED",
    "STORED_BALANCE_KINDS",
    "SUSPENDED",
    "Account",
    "ApiKey",
    "AuditEvent",
    "Base",
    "BigId",
    "CatalogueVersion",
    "Challenge",
    "Charge",
    "ChargeLine",
    "Client",
    "Correction",
    "Decision",
    "DecisionLine",
    "DecisionLineCategory",
    "Hold",
    "HoldLine",
    "IdempotencyRecord",
    "Invite",
    "Mandate",
    "Organizer",
    "OutboxEvent",
    "Passkey",
    "PaymentRequest",
    "PaymentToken",
    "Principal",
    "Provider",
    "ProviderOwner",
    "ProviderPrice",
    "ProviderPriceVersion",
    "ProviderProfile",
    "QrCard",
    "RateCounter",
    "Refund",
    "ServiceCategory",
    "Settlement",
    "SettlementLine",
    "StatementNotice",
    "Transfer",
    "TrustedProvider",
    "UtcDateTime",
    "Wallet",
    "WebSession",
    "new_id",
]
