"""The overdue check: FreshBooks sends no webhook when an invoice passes its due date, so every day from
09:00 on each tenant's clock (beat) or on demand (`scan_overdue`), read the open invoices from FreshBooks
and put one `invoice.overdue` event per invoice and due date into the ledger. From there it is an event like
any other: normalised (re-read, so one paid meanwhile says nothing), routed by the rules, delivered."""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import InboundEvent
from connector.core.errors import ApplicationError
from connector.freshbooks.client import FreshBooksClient
from connector.freshbooks.errors import FreshBooksError
from connector.freshbooks.invoices import invoices_overdue
from connector.freshbooks.models import FreshBooksConnection
from connector.freshbooks.normalise import overdue_dedupe_key
from connector.freshbooks.selectors import connection_live
from connector.pipeline.inbox import inbox_push
from digests.models import OverdueScan
from tenants.models import Tenant
from tenants.zones import tenant_today, tenant_zone

logger = logging.getLogger(__name__)

OVERDUE_EVENT = "invoice.overdue"
DAILY_CHECK_AT = time(9, 0)  # tenant-local: the morning's news, before people start chasing payments


@dataclass(frozen=True)
class ScanResult:
    today: date
    found: int  # overdue invoices FreshBooks listed
    new: int  # of which never alerted for this due date: one new ledger event each


def _connection(tenant: Tenant) -> FreshBooksConnection:
    connection = connection_live(tenant=tenant)
    if connection is None or not connection.is_active:
        raise ApplicationError("FreshBooks is not connected (or needs reconnecting) for this business.")
    return connection


def overdue_scan(*, tenant: Tenant, today: date | None = None) -> ScanResult:
    """Record an invoice.overdue event for each invoice overdue on `today` (default: the tenant's local
    date) not recorded before for its due date, and queue its processing.

    Raises ApplicationError when FreshBooks is not connected, FreshBooksError when it cannot be read."""
    connection = _connection(tenant)
    today = today or tenant_today(tenant)
    found = new = 0
    for invoice in invoices_overdue(FreshBooksClient(connection), today=today):
        found += 1
        # Shaped like a webhook's form body, so the activity pages show it the same way.
        body = urlencode({"name": OVERDUE_EVENT, "object_id": invoice.invoice_id,
                          "account_id": connection.account_id, "source": "overdue_scan",
                          "due_date": invoice.due_date.isoformat(), "today": today.isoformat()})
        try:
            with transaction.atomic():
                event = InboundEvent.objects.create(
                    tenant=tenant, name=OVERDUE_EVENT, object_id=invoice.invoice_id,
                    account_id=connection.account_id, business_id=connection.business_id, raw_body=body,
                    dedupe_key=overdue_dedupe_key(invoice.invoice_id, invoice.due_date),
                )
        except IntegrityError:  # alerted before for this due date
            continue
        new += 1
        transaction.on_commit(lambda pk=event.pk: inbox_push(tenant.pk, pk))
    logger.info("overdue.scanned", extra={"tenant_id": tenant.pk, "today": today.isoformat(), "found": found,
                                          "new": new})
    return ScanResult(today=today, found=found, new=new)


def overdue_scan_if_due(*, tenant: Tenant, now: datetime | None = None) -> ScanResult | None:
    """The daily check: once the tenant's local clock has passed DAILY_CHECK_AT, scan once for that local day
    (claimed by an OverdueScan row, so concurrent or repeated ticks scan once). A scan FreshBooks refused
    is released, to be tried again on the next tick."""
    local = (now or timezone.now()).astimezone(tenant_zone(tenant))
    if local.time() < DAILY_CHECK_AT:
        return None
    try:
        with transaction.atomic():
            claim = OverdueScan.objects.create(tenant=tenant, day=local.date())
    except IntegrityError:
        return None  # done (or being done) today
    try:
        result = overdue_scan(tenant=tenant, today=local.date())
    except (FreshBooksError, ApplicationError) as exc:
        claim.delete()
        logger.warning("overdue.scan_failed", extra={"tenant_id": tenant.pk, "error": type(exc).__name__})
        return None
    OverdueScan.objects.filter(pk=claim.pk).update(found=result.found, new=result.new,
                                                   finished_at=timezone.now())
    return result


def overdue_tenants_due(*, now: datetime | None = None) -> list[int]:
    """Tenants with FreshBooks connected whose local clock has passed DAILY_CHECK_AT and that have no scan
    for that local day yet (beat's tick asks, then one task per tenant scans)."""
    now = now or timezone.now()
    tenant_ids = (FreshBooksConnection.objects.filter(status=FreshBooksConnection.Status.ACTIVE)
                  .values_list("tenant_id", flat=True))
    due = []
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids)).only("pk", "time_zone").order_by("pk"):
        local = now.astimezone(tenant_zone(tenant))
        if local.time() >= DAILY_CHECK_AT and \
                not OverdueScan.objects.for_tenant(tenant).filter(day=local.date()).exists():
            due.append(tenant.pk)
    return due


def overdue_scans_due(*, now: datetime | None = None) -> int:
    """Every due tenant's daily check, here and now, one after the other. Returns how many were scanned."""
    scanned = 0
    for tenant in Tenant.objects.filter(pk__in=overdue_tenants_due(now=now)).order_by("pk"):
        if overdue_scan_if_due(tenant=tenant, now=now) is not None:
            scanned += 1
    return scanned
