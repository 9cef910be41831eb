"""FinancialEvent: what one FreshBooks event means, independent of FreshBooks' payload shapes.

Made by the FreshBooks normalisers, read by the routing rules and the Slack message builders, stored
(encrypted) with the inbound event so the audit trail and rule previews can reuse it.
"""

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum


class Kind(StrEnum):
    INVOICE = "invoice"
    PAYMENT = "payment"
    BILL = "bill"
    EXPENSE = "expense"
    DIGEST = "digest"  # a scheduled summary (connector.pipeline.digests), never a FreshBooks object


class Action(StrEnum):
    CREATED = "created"
    SENT = "sent"
    UPDATED = "updated"
    DELETED = "deleted"
    OVERDUE = "overdue"  # found by the daily scan: FreshBooks sends no webhook for it
    SUMMARISED = "summarised"  # a digest


# Documents that get a living card in a channel whose rule says updates "thread" (payments go to their
# invoice's card).
CARD_KINDS = (Kind.INVOICE, Kind.BILL)

# FreshBooks event name -> (kind, action). The product's supported events; everything else is ignored.
SUPPORTED_EVENTS: dict[str, tuple[Kind, Action]] = {
    "invoice.create": (Kind.INVOICE, Action.CREATED),
    "invoice.sendByEmail": (Kind.INVOICE, Action.SENT),
    "invoice.update": (Kind.INVOICE, Action.UPDATED),
    "invoice.delete": (Kind.INVOICE, Action.DELETED),
    "payment.create": (Kind.PAYMENT, Action.CREATED),
    "payment.update": (Kind.PAYMENT, Action.UPDATED),
    "payment.delete": (Kind.PAYMENT, Action.DELETED),
    "bill.create": (Kind.BILL, Action.CREATED),
    "bill.update": (Kind.BILL, Action.UPDATED),
    "bill.delete": (Kind.BILL, Action.DELETED),
    "expense.create": (Kind.EXPENSE, Action.CREATED),
    "expense.update": (Kind.EXPENSE, Action.UPDATED),
    "expense.delete": (Kind.EXPENSE, Action.DELETED),
    "invoice.overdue": (Kind.INVOICE, Action.OVERDUE),
}
# Produced by the product itself (the overdue scan), not sent by FreshBooks: no callback is registered for
# them and a webhook claiming one of these names is not handled.
PRODUCED_EVENTS = frozenset({"invoice.overdue"})
# The events FreshBooks sends as webhooks (callbacks are registered for these).
WEBHOOK_EVENTS: dict[str, tuple[Kind, Action]] = {
    name: pair for name, pair in SUPPORTED_EVENTS.items() if name not in PRODUCED_EVENTS
}
DIGEST_EVENT = "digest"  # the ledger's event name for a digest message (not routable: a digest names its channel)

# How people say each event: "invoice created", "payment received", "bill posted", "expense submitted".
EVENT_LABELS: dict[str, str] = {
    "invoice.create": "Invoice created",
    "invoice.sendByEmail": "Invoice sent",
    "invoice.update": "Invoice updated",
    "invoice.delete": "Invoice deleted",
    "payment.create": "Payment received",
    "payment.update": "Payment updated",
    "payment.delete": "Payment deleted",
    "bill.create": "Bill posted",
    "bill.update": "Bill updated",
    "bill.delete": "Bill deleted",
    "expense.create": "Expense submitted",
    "expense.update": "Expense updated",
    "expense.delete": "Expense deleted",
    "invoice.overdue": "Invoice overdue",
    DIGEST_EVENT: "Digest",
}


@dataclass(frozen=True)
class FinancialEvent:
    event_name: str  # the FreshBooks event name, e.g. "invoice.update"
    kind: Kind
    action: Action
    object_id: str
    amount: Decimal | None = None
    currency: str | None = None  # ISO 4217
    counterparty: str = ""  # client organisation or name; bill vendor; expense vendor
    document_number: str = ""  # invoice / bill number; for a payment, its invoice's number
    status: str = ""
    issue_date: str | None = None  # YYYY-MM-DD
    due_date: str | None = None
    link: str = ""  # the object in FreshBooks' web app
    updated: str = ""  # FreshBooks' `updated` stamp of the fetched object (dedupes updates)
    changes: dict[str, list] = field(default_factory=dict)  # field -> [old, new], for updates
    category: str = ""  # expenses
    has_client: bool | None = None  # expenses: billable to a client
    client_name: str = ""  # expenses billed to a client
    payment_method: str = ""  # payments
    notes: str = ""
    days_overdue: int | None = None  # invoice.overdue: whole days past the due date, tenant-local

    @property
    def label(self) -> str:
        return EVENT_LABELS.get(self.event_name, self.event_name)

    @property
    def status_changed(self) -> bool:
        return "status" in self.changes

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kind"] = str(self.kind)
        data["action"] = str(self.action)
        data["amount"] = None if self.amount is None else str(self.amount)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FinancialEvent":
        data = dict(data)
        data["kind"] = Kind(data["kind"])
        data["action"] = Action(data["action"])
        data["amount"] = None if data.get("amount") in (None, "") else Decimal(str(data["amount"]))
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class DocumentState:
    """What a card shows of one invoice or bill: its state as last read from FreshBooks."""

    kind: Kind  # a CARD_KINDS member
    document_id: str
    number: str = ""
    counterparty: str = ""
    currency: str = ""
    total: Decimal | None = None
    paid: Decimal | None = None
    outstanding: Decimal | None = None
    status: str = ""  # FreshBooks' status word: draft, sent, partial, paid ...
    due_date: str | None = None  # YYYY-MM-DD
    deleted: bool = False
    link: str = ""
    updated: str = ""  # FreshBooks' `updated` stamp: an older state never replaces a newer one
    last_change: str = ""  # one line on the latest change, shown at the bottom of the card

    # What a person sees on the card, apart from the last change line.
    SHOWN = ("number", "counterparty", "currency", "total", "paid", "outstanding", "status", "due_date", "deleted")

    def shown(self) -> tuple:
        return tuple(getattr(self, name) for name in self.SHOWN)

    @property
    def settled(self) -> bool:
        """Paid in full: nothing outstanding on a document that had something to pay."""
        return (self.outstanding is not None and self.outstanding <= 0 and bool(self.total)
                and not self.deleted)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kind"] = str(self.kind)
        for name in ("total", "paid", "outstanding"):
            data[name] = None if data[name] is None else str(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "DocumentState":
        data = {k: v for k, v in dict(data).items() if k in cls.__dataclass_fields__}
        data["kind"] = Kind(data["kind"])
        for name in ("total", "paid", "outstanding"):
            data[name] = None if data.get(name) in (None, "") else Decimal(str(data[name]))
        return cls(**data)
