"""From an InboundEvent to one FinancialEvent: a table maps each FreshBooks event name to a reader that
fetches what it needs; the changes since the last stored snapshot are added for updates."""

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from audit.models import InboundEvent
from connector.core.events import SUPPORTED_EVENTS, Action, DocumentState, FinancialEvent, Kind
from connector.freshbooks.client import FreshBooksClient
from connector.freshbooks.connection_cache import connection_live_cached
from connector.freshbooks.errors import AuthorizationLost, FreshBooksBug, NoLongerTrue, NotFound
from connector.freshbooks.invoices import invoice_overdue
from connector.freshbooks.models import ObjectSnapshot
from tenants.zones import tenant_today

# FreshBooks' web app, where a person opens an object. Derived from the API URL: api.<domain> ->
# my.<domain> (https://my.freshbooks.com for the real service); a stand-in on another host serves both.
WEB_HOST_PREFIXES = ("api.", "my.")
# Object pages in the web app. The invoice route is FreshBooks' documented one; bills and expenses follow it.
WEB_PATHS = {Kind.INVOICE: "/#/invoice/{id}", Kind.BILL: "/#/bill/{id}", Kind.EXPENSE: "/#/expense/{id}"}
VIS_STATE_DELETED = 1  # 0 active, 1 deleted, 2 archived
# Invoice `status` integers, used when v3_status / display_status are absent.
INVOICE_STATUS = {0: "disputed", 1: "draft", 2: "sent", 3: "viewed", 4: "paid", 5: "autopaid", 6: "retry",
                  7: "failed", 8: "partial"}
# Expense `status` integers in FreshBooks' expense docs; unknown values are kept as they come.
EXPENSE_STATUS = {0: "internal", 1: "outstanding", 2: "invoiced", 4: "recouped"}
# The fields an update is compared on, to say e.g. "status sent -> paid".
TRACKED_FIELDS = ("amount", "currency", "counterparty", "document_number", "status", "issue_date", "due_date",
                  "category", "has_client", "client_name", "payment_method")


@dataclass(frozen=True)
class Normalised:
    event: FinancialEvent
    fetched: dict
    dedupe_key: str


@dataclass
class _Context:
    client: FreshBooksClient
    fetched: dict

    def related(self, kind: str, object_id) -> dict | None:
        """A related object (a payment's invoice, a bill's vendor); None when absent or gone."""
        if object_id in (None, "", 0, "0"):
            return None
        try:
            found = self.client.object_get(kind, str(object_id))
        except NotFound:
            return None
        self.fetched[kind] = found
        return found


def web_base_url() -> str:
    configured = settings.FRESHBOOKS_WEB_URL
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(settings.FRESHBOOKS_API_URL)
    host = parts.netloc
    api_prefix, web_prefix = WEB_HOST_PREFIXES
    if host.startswith(api_prefix):
        host = web_prefix + host[len(api_prefix):]
    return f"{parts.scheme}://{host}"


def _link(kind: Kind, object_id) -> str:
    return web_base_url() + WEB_PATHS[kind].format(id=object_id) if object_id not in (None, "") else ""


def _money(value, fallback_code=None) -> tuple[Decimal | None, str | None]:
    if not isinstance(value, dict):
        return None, fallback_code or None
    try:
        amount = Decimal(str(value.get("amount")))
    except (InvalidOperation, TypeError, ValueError):
        amount = None
    if amount is not None and not amount.is_finite():
        amount = None
    return amount, (value.get("code") or fallback_code or None)


def _party(obj: dict | None) -> str:
    """A client's organisation, else "first last"."""
    if not obj:
        return ""
    organisation = (obj.get("organization") or obj.get("current_organization") or "").strip()
    if organisation:
        return organisation
    return " ".join(p for p in (str(obj.get("fname") or "").strip(), str(obj.get("lname") or "").strip()) if p)


def _text(value) -> str:
    return "" if value is None else str(value)


def _date(value) -> str | None:
    return str(value)[:10] if value else None


# --- Readers: the FreshBooks object (and what it names) -> FinancialEvent fields -------------------------

def _read_invoice(ctx: _Context, invoice: dict) -> dict:
    amount, currency = _money(invoice.get("amount"), invoice.get("currency_code"))
    status = invoice.get("v3_status") or invoice.get("display_status") or INVOICE_STATUS.get(invoice.get("status"))
    return {"amount": amount, "currency": currency, "counterparty": _party(invoice),
            "document_number": _text(invoice.get("invoice_number")), "status": _text(status),
            "issue_date": _date(invoice.get("create_date")), "due_date": _date(invoice.get("due_date")),
            "link": _link(Kind.INVOICE, invoice.get("invoiceid") or invoice.get("id"))}


def _read_payment(ctx: _Context, payment: dict) -> dict:
    invoice = ctx.related("invoice", payment.get("invoiceid"))
    client = ctx.related("client", payment.get("clientid") or (invoice or {}).get("customerid"))
    amount, currency = _money(payment.get("amount"), (invoice or {}).get("currency_code"))
    invoice_id = payment.get("invoiceid")
    return {"amount": amount, "currency": currency, "counterparty": _party(client) or _party(invoice),
            "document_number": _text((invoice or {}).get("invoice_number")), "status": "",
            "issue_date": _date(payment.get("date")), "payment_method": _text(payment.get("type")),
            "link": _link(Kind.INVOICE, invoice_id) if invoice_id else "", "notes": _text(payment.get("note"))}


def _read_bill(ctx: _Context, bill: dict) -> dict:
    vendor = bill.get("vendor") if isinstance(bill.get("vendor"), dict) else None
    if not (vendor or {}).get("vendor_name"):
        vendor = ctx.related("bill_vendor", bill.get("vendorid")) or vendor
    amount, currency = _money(bill.get("total_amount") or bill.get("amount"), bill.get("currency_code"))
    return {"amount": amount, "currency": currency, "counterparty": _text((vendor or {}).get("vendor_name")),
            "document_number": _text(bill.get("bill_number")), "status": _text(bill.get("status")),
            "issue_date": _date(bill.get("issue_date")), "due_date": _date(bill.get("due_date")),
            "category": _text(bill.get("overall_category")), "link": _link(Kind.BILL, bill.get("id"))}


def _read_expense(ctx: _Context, expense: dict) -> dict:
    amount, currency = _money(expense.get("amount"))
    category = expense.get("category") if isinstance(expense.get("category"), dict) else {}
    client_id = expense.get("clientid")
    has_client = client_id not in (None, "", 0, "0")
    client = ctx.related("client", client_id) if has_client else None
    status = expense.get("status")
    return {"amount": amount, "currency": currency, "counterparty": _text(expense.get("vendor")),
            "status": _text(EXPENSE_STATUS.get(status, status)), "issue_date": _date(expense.get("date")),
            "category": _text(category.get("category") or category.get("name")), "has_client": has_client,
            "client_name": _party(client), "notes": _text(expense.get("notes")),
            "link": _link(Kind.EXPENSE, expense.get("expenseid") or expense.get("id"))}


Reader = Callable[[_Context, dict], dict]
_READERS: dict[Kind, Reader] = {Kind.INVOICE: _read_invoice, Kind.PAYMENT: _read_payment,
                                Kind.BILL: _read_bill, Kind.EXPENSE: _read_expense}
# The table: event name -> (kind, action, reader). Supported events come from connector.core.events.
NORMALISERS: dict[str, tuple[Kind, Action, Reader]] = {
    name: (kind, action, _READERS[kind]) for name, (kind, action) in SUPPORTED_EVENTS.items()
}


# --- Snapshots and changes ------------------------------------------------------------------------------

def _comparable(fields: dict) -> dict:
    return {k: (None if fields.get(k) is None else str(fields[k])) for k in TRACKED_FIELDS if k in fields}


def _changes(before: dict | None, after: dict) -> dict[str, list]:
    if before is None:
        return {}
    return {k: [before.get(k), v] for k, v in after.items() if k in before and before.get(k) != v}


def _own_statement():
    """Around one statement that may fail: a savepoint inside a transaction (so the failure does not break
    it), nothing in autocommit (the worker's case), where the statement is its own transaction already and a
    BEGIN and COMMIT around it would be two more round trips."""
    return transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()


def _snapshot_store(*, tenant_id: int, kind: Kind, object_id: str, data: dict, updated: str,
                    likely_new: bool = False) -> dict | None:
    """Saves the new state and returns the one to compare it with. Seeing the same `updated` stamp
    again compares with the state before it, so normalising one update twice gives the same changes.
    `likely_new` (a create): try the insert first, one statement instead of a locked read and an insert."""
    if likely_new:
        try:
            with _own_statement():
                ObjectSnapshot.objects.create(tenant_id=tenant_id, kind=kind, object_id=object_id, data=data,
                                              updated=updated)
            return None
        except IntegrityError:
            pass  # known already (a create seen again, or an update came first): compare as below
    with transaction.atomic():
        snapshot = (ObjectSnapshot.objects.select_for_update()
                    .filter(tenant_id=tenant_id, kind=kind, object_id=object_id).first())
        if snapshot is None:
            try:
                with transaction.atomic():
                    ObjectSnapshot.objects.create(tenant_id=tenant_id, kind=kind, object_id=object_id,
                                                  data=data, updated=updated)
                return None
            except IntegrityError:  # a concurrent worker stored it first
                snapshot = (ObjectSnapshot.objects.select_for_update()
                            .get(tenant_id=tenant_id, kind=kind, object_id=object_id))
        same_stamp = bool(updated) and snapshot.updated == updated
        if same_stamp and snapshot.data == data:
            return snapshot.previous
        # Same stamp, other content: a change made within the same second as the stored one (the stamps
        # have whole seconds), so a newer state.
        baseline = snapshot.data
        if not same_stamp and updated and snapshot.updated and updated < snapshot.updated:
            return baseline  # an older state than the one stored: compare, but keep the newer snapshot
        snapshot.previous, snapshot.data, snapshot.updated = snapshot.data, data, updated
        snapshot.save(update_fields=["previous", "data", "updated", "updated_at"])
        return baseline


def _known(tenant_id: int, kind: Kind, object_id: str) -> dict:
    """The last stored state, turned back from its stored strings into FinancialEvent values."""
    snapshot = ObjectSnapshot.objects.filter(tenant_id=tenant_id, kind=kind, object_id=object_id).first()
    known = {k: v for k, v in (snapshot.data if snapshot else {}).items() if v is not None}
    if "amount" in known:
        try:
            known["amount"] = Decimal(known["amount"])
        except InvalidOperation:
            del known["amount"]
    if "has_client" in known:
        known["has_client"] = known["has_client"] == "True"
    return known


# --- What makes two pieces of news the same ---------------------------------------------------------------

def object_stamp(obj: dict) -> str:
    """FreshBooks' last-change stamp of an object: `updated` (US/Eastern), or `updated_at` (UTC) on bills."""
    return _text(obj.get("updated") or obj.get("updated_at"))


def creation_dedupe_key(name: str, object_id: str) -> str:
    """A create (or delete) is news once per object, whoever brings it first: webhook or catch-up read."""
    return f"{name}:{object_id}"


def change_dedupe_key(*, name: str, object_id: str, updated: str, comparable: dict) -> str:
    """An update is the same news when it has the same stamp and the same content: two changes within one
    second share a stamp but are two pieces of news."""
    digest = hashlib.sha256(json.dumps(comparable, sort_keys=True).encode()).hexdigest()[:16]
    return f"{name}:{object_id}:{updated}:{digest}" if updated else f"{name}:{object_id}:{digest}"


def _reported_by_create(*, tenant_id: int, kind: Kind, object_id: str, updated: str, comparable: dict) -> bool:
    """Whether this state is the first one the product saw of the object and a create reported it: an
    update showing nothing newer than the create's message (e.g. both delivered late) is no news."""
    snapshot = ObjectSnapshot.objects.filter(tenant_id=tenant_id, kind=kind, object_id=object_id).first()
    if snapshot is None or snapshot.previous is not None or snapshot.updated != updated or snapshot.data != comparable:
        return False
    return InboundEvent.objects.filter(tenant_id=tenant_id,
                                       dedupe_key=creation_dedupe_key(f"{kind}.create", object_id)).exists()


# --- Entry point -----------------------------------------------------------------------------------------

def normalise_inbound(*, inbound_event: InboundEvent) -> Normalised:
    """One FinancialEvent for the inbound event, fetching the object with the tenant's token.

    Raises AuthorizationLost, RateLimited, Transient, FreshBooksBug. An object gone (404 or vis_state 1)
    yields a deletion event from what is known, deduped as `<kind>.delete:<object_id>` so that the
    webhook of the deletion itself is recognised as the same news."""
    name = inbound_event.name
    if name not in NORMALISERS:
        raise FreshBooksBug(f"No normaliser for the FreshBooks event {name!r}")
    kind, action, reader = NORMALISERS[name]
    connection = connection_live_cached(tenant=inbound_event.tenant)
    if connection is None or not connection.is_active:
        raise AuthorizationLost("FreshBooks is not connected (or needs reconnecting) for this business")
    if inbound_event.account_id and inbound_event.account_id != connection.account_id:
        raise FreshBooksBug("The event is for a FreshBooks account this business is not connected to")
    object_id = inbound_event.object_id
    ctx = _Context(client=FreshBooksClient(connection), fetched={})
    # A catch-up read brings the object as listed: report that state, the one it judged new.
    primary = (inbound_event.fetched_object or {}).get(kind) if inbound_event.source == InboundEvent.Source.POLL \
        else None
    if primary is None:
        try:
            primary = ctx.client.object_get(kind, object_id)
        except NotFound:
            primary = None
    if primary is not None:
        ctx.fetched[kind] = primary

    if action == Action.OVERDUE and (primary is None or primary.get("vis_state") == VIS_STATE_DELETED):
        raise NoLongerTrue("The invoice found overdue has been deleted since")
    if primary is None or primary.get("vis_state") == VIS_STATE_DELETED or action == Action.DELETED:
        fields = reader(ctx, primary) if primary is not None else _known(inbound_event.tenant_id, kind, object_id)
        fields = {k: v for k, v in fields.items() if k in FinancialEvent.__dataclass_fields__}
        fields.setdefault("link", _link(kind, object_id) if kind != Kind.PAYMENT else "")
        event = FinancialEvent(event_name=f"{kind}.delete", kind=kind, action=Action.DELETED, object_id=object_id,
                               updated=_text((primary or {}).get("updated") or (primary or {}).get("updated_at")),
                               **fields)
        return Normalised(event=event, fetched=ctx.fetched,
                          dedupe_key=creation_dedupe_key(f"{kind}.delete", object_id))

    if action == Action.OVERDUE:
        return _overdue(ctx, inbound_event, primary, reader)
    fields = reader(ctx, primary)
    updated = object_stamp(primary)
    comparable = _comparable(fields)
    already_reported = action == Action.UPDATED and _reported_by_create(
        tenant_id=inbound_event.tenant_id, kind=kind, object_id=object_id, updated=updated, comparable=comparable)
    baseline = _snapshot_store(tenant_id=inbound_event.tenant_id, kind=kind, object_id=object_id,
                               data=comparable, updated=updated, likely_new=action == Action.CREATED)
    changes = _changes(baseline, comparable) if action in (Action.UPDATED, Action.SENT) else {}
    event = FinancialEvent(event_name=name, kind=kind, action=action, object_id=object_id, updated=updated,
                           changes=changes, **fields)
    if action == Action.CREATED:
        dedupe_key = creation_dedupe_key(name, object_id)
    elif already_reported:
        dedupe_key = creation_dedupe_key(f"{kind}.create", object_id)  # the create's key: a duplicate
    else:
        dedupe_key = change_dedupe_key(name=name, object_id=object_id, updated=updated, comparable=comparable)
    return Normalised(event=event, fetched=ctx.fetched, dedupe_key=dedupe_key)


# --- One invoice as the Slack answers need it (ledger of invoice states) -------------------------------

@dataclass(frozen=True)
class InvoiceSummary:
    invoice_id: str
    number: str
    client_name: str
    client_id: str
    email: str  # the client's address as the invoice carries it ("" when absent)
    amount: Decimal
    outstanding: Decimal
    currency: str
    status: str  # v3_status word: draft, sent, viewed, partial, paid, overdue ...
    due_date: date | None
    deleted: bool
    link: str

    @property
    def owed(self) -> bool:
        """Money is outstanding on a live invoice that went out (a draft is not owed yet)."""
        return self.outstanding > 0 and not self.deleted and self.status not in ("draft", "created")


def invoice_summary(invoice: dict) -> InvoiceSummary:
    amount, currency = _money(invoice.get("amount"), invoice.get("currency_code"))
    outstanding, _ = _money(invoice.get("outstanding"), currency)
    status = invoice.get("v3_status") or invoice.get("display_status") or INVOICE_STATUS.get(invoice.get("status"))
    try:
        due = date.fromisoformat(str(invoice.get("due_date") or "")[:10])
    except ValueError:
        due = None
    invoice_id = _text(invoice.get("invoiceid") or invoice.get("id"))
    return InvoiceSummary(
        invoice_id=invoice_id, number=_text(invoice.get("invoice_number")), client_name=_party(invoice),
        client_id=_text(invoice.get("customerid") or invoice.get("clientid")),
        email=_text(invoice.get("email")).strip(), amount=amount or Decimal(0), outstanding=outstanding or Decimal(0),
        currency=(currency or "").upper()[:3], status=_text(status).lower()[:32], due_date=due,
        deleted=invoice.get("vis_state") == 1, link=_link(Kind.INVOICE, invoice_id))


# --- The document a card shows ----------------------------------------------------------------------------

def _money_amount(value) -> Decimal | None:
    return _money(value)[0]


def document_state(event: FinancialEvent, fetched: dict) -> DocumentState | None:
    """The invoice or bill an event is about, as its card shows it: the document itself for invoice and bill
    events, the paid invoice for payments (as fetched with the payment, after it). None when the event is
    about no such document (an expense, a payment without its invoice)."""
    if event.kind == Kind.PAYMENT:
        invoice = fetched.get(Kind.INVOICE)
        if not isinstance(invoice, dict) or not invoice:
            return None
        return _invoice_state(invoice)
    if event.kind not in (Kind.INVOICE, Kind.BILL):
        return None
    document = fetched.get(event.kind)
    if event.action == Action.DELETED or not isinstance(document, dict):
        # Gone from FreshBooks: what the event knows, marked deleted (the card keeps its last figures).
        return DocumentState(kind=event.kind, document_id=event.object_id, number=event.document_number,
                             counterparty=event.counterparty, currency=(event.currency or "").upper(),
                             total=event.amount, status=event.status, due_date=event.due_date, deleted=True,
                             link=event.link, updated=event.updated)
    if event.kind == Kind.INVOICE:
        return _invoice_state(document)
    total = event.amount
    outstanding = _money_amount(document.get("outstanding"))
    paid = _money_amount(document.get("paid"))
    return DocumentState(kind=Kind.BILL, document_id=event.object_id, number=event.document_number,
                         counterparty=event.counterparty, currency=(event.currency or "").upper(), total=total,
                         paid=paid, outstanding=outstanding, status=event.status, due_date=event.due_date,
                         link=event.link, updated=event.updated)


def _invoice_state(invoice: dict) -> DocumentState:
    summary = invoice_summary(invoice)
    paid = _money_amount(invoice.get("paid"))
    if paid is None and invoice.get("outstanding"):
        paid = summary.amount - summary.outstanding
    outstanding = summary.outstanding if invoice.get("outstanding") else None
    return DocumentState(kind=Kind.INVOICE, document_id=summary.invoice_id, number=summary.number,
                         counterparty=summary.client_name, currency=summary.currency, total=summary.amount,
                         paid=paid, outstanding=outstanding, status=summary.status,
                         due_date=summary.due_date.isoformat() if summary.due_date else None,
                         deleted=summary.deleted, link=summary.link, updated=object_stamp(invoice))


def _overdue(ctx: _Context, inbound_event: InboundEvent, invoice: dict, reader: Reader) -> Normalised:
    """invoice.overdue, made by the overdue scan: re-read now, so an invoice paid (or moved to a later due date)
    since the scan says nothing. The amount is what is still outstanding; deduped per invoice and due date."""
    found = invoice_overdue(invoice, today=tenant_today(inbound_event.tenant))
    if found is None:
        raise NoLongerTrue("The invoice is no longer overdue (paid, a draft, or due later) since the scan found it")
    fields = reader(ctx, invoice)
    fields.update(amount=found.outstanding, currency=found.currency or fields.get("currency"))
    event = FinancialEvent(event_name=inbound_event.name, kind=Kind.INVOICE, action=Action.OVERDUE,
                           object_id=inbound_event.object_id, days_overdue=found.days_overdue,
                           updated=_text(invoice.get("updated")), **fields)
    return Normalised(event=event, fetched=ctx.fetched,
                      dedupe_key=overdue_dedupe_key(inbound_event.object_id, found.due_date))


def overdue_dedupe_key(invoice_id: str, due_date: date) -> str:
    """One overdue alert per invoice and due date: a due date moved later makes a new alert possible."""
    return f"invoice.overdue:{invoice_id}:{due_date.isoformat()}"
