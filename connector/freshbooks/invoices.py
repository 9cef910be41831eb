"""Which FreshBooks invoices are overdue: money outstanding, neither a draft nor paid nor deleted, and a due
date before the business's local today. FreshBooks sends no webhook for it."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from connector.freshbooks.client import FreshBooksClient

logger = logging.getLogger(__name__)

VIS_STATE_DELETED = 1  # FreshBooks vis_state: 0 active, 1 deleted, 2 archived
DRAFT_STATUS = 1
PAID_STATUSES = {4, 5}  # paid, auto-paid
NOT_OVERDUE_WORDS = {"draft", "created", "paid", "autopaid", "auto-paid", "success"}
# The `status` numbers that can carry money owed: disputed, sent, viewed, retry, failed, partial. Sent as the
# list's "in" filter so FreshBooks returns fewer pages; statuses are checked on each object all the same, in
# case FreshBooks ignores the filter.
OPEN_STATUS_IDS = (0, 2, 3, 6, 7, 8)
MAX_PAGES = 100  # 10,000 open invoices at 100 a page: a scan stays bounded whatever FreshBooks answers


@dataclass(frozen=True)
class OverdueInvoice:
    invoice_id: str
    invoice_number: str
    counterparty: str
    outstanding: Decimal
    currency: str
    due_date: date
    days_overdue: int


def _outstanding(invoice: dict) -> tuple[Decimal | None, str]:
    money = invoice.get("outstanding")
    code = str((money or {}).get("code") or invoice.get("currency_code") or "") if isinstance(money, dict) else ""
    try:
        amount = Decimal(str(money.get("amount"))) if isinstance(money, dict) else None
    except (InvalidOperation, TypeError, ValueError):
        amount = None
    if amount is not None and not amount.is_finite():
        amount = None
    return amount, code.upper()


def _due(invoice: dict) -> date | None:
    try:
        return date.fromisoformat(str(invoice.get("due_date") or "")[:10])
    except ValueError:
        return None


def _party(invoice: dict) -> str:
    organisation = str(invoice.get("organization") or invoice.get("current_organization") or "").strip()
    if organisation:
        return organisation
    return " ".join(p for p in (str(invoice.get("fname") or "").strip(), str(invoice.get("lname") or "").strip())
                    if p)


def invoice_overdue(invoice: dict, *, today: date) -> OverdueInvoice | None:
    """The invoice as overdue on `today` (the business's local date), or None when it is not."""
    if invoice.get("vis_state") == VIS_STATE_DELETED:
        return None
    if invoice.get("status") == DRAFT_STATUS or invoice.get("status") in PAID_STATUSES:
        return None
    words = {str(invoice.get(k) or "").lower() for k in ("v3_status", "payment_status")}
    if words & NOT_OVERDUE_WORDS:
        return None
    amount, currency = _outstanding(invoice)
    due = _due(invoice)
    if amount is None or amount <= 0 or due is None or due >= today:
        return None
    invoice_id = invoice.get("invoiceid") or invoice.get("id")
    if invoice_id in (None, ""):
        return None
    return OverdueInvoice(invoice_id=str(invoice_id), invoice_number=str(invoice.get("invoice_number") or ""),
                          counterparty=_party(invoice), outstanding=amount, currency=currency, due_date=due,
                          days_overdue=(today - due).days)


def invoices_overdue(client: FreshBooksClient, *, today: date) -> Iterator[OverdueInvoice]:
    """Every overdue invoice of the connection's business, read page by page from FreshBooks."""
    page = 1
    while True:
        listed = client.objects_list("invoice", search={"statusids": list(OPEN_STATUS_IDS)}, page=page)
        for invoice in listed.items:
            found = invoice_overdue(invoice, today=today)
            if found is not None:
                yield found
        if page >= listed.pages or not listed.items:
            return
        if page >= MAX_PAGES:
            logger.warning("freshbooks.overdue_list_truncated",
                           extra={"account_id": client.connection.account_id, "pages": listed.pages})
            return
        page += 1
