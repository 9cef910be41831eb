"""Retention: each tenant's ledger keeps `Tenant.retention_days` of history; older, finished events go.

What is deleted: inbound events received before the cutoff whose processing is over (processed, ignored,
duplicate, failed), with their deliveries and attempts, unless one of those deliveries is still open
(pending, retrying, held): work in flight is never removed, whatever its age.

How: in batches of RETENTION_BATCH inbound events, each in its own short transaction, so no lock is held
for long and the web and the workers carry on.

The activity log is NOT purged: it is small (people's actions, not events) and it is the evidence, so its
hash chain stays whole from the tenant's first entry and `verify_audit` keeps working unchanged. It goes
only with the tenant itself. Entries name deliveries by id; after a purge those ids simply lead nowhere.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from audit.activity import activity_record
from audit.models import Delivery, DeliveryAttempt, InboundEvent
from tenants.models import Tenant

logger = logging.getLogger(__name__)

RETENTION_BATCH = 1000  # inbound events per delete transaction: bounded lock time and WAL per statement
RETENTION_MAX_BATCHES = 200  # per task run; the task re-enqueues itself when more remain (no giant runs)

OPEN_INBOUND = (InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING, InboundEvent.Status.HELD)
OPEN_DELIVERY = (Delivery.Status.PENDING, Delivery.Status.RETRYING, Delivery.Status.HELD)


@dataclass
class PurgeReport:
    inbound_events: int = 0
    deliveries: int = 0
    attempts: int = 0
    more: bool = False  # stopped at RETENTION_MAX_BATCHES with more to delete


def retention_cutoff(*, tenant: Tenant, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=tenant.retention_days)


def retention_candidates(*, tenant: Tenant, cutoff: datetime):
    """Ids of the tenant's inbound events that retention may delete, oldest first."""
    open_delivery = Delivery.objects.filter(inbound_event_id=OuterRef("pk"), status__in=OPEN_DELIVERY)
    return (InboundEvent.objects.for_tenant(tenant).filter(received_at__lt=cutoff)
            .exclude(status__in=OPEN_INBOUND).exclude(Exists(open_delivery))
            .order_by("id").values_list("id", flat=True))


def _delete_batch(*, tenant: Tenant, ids: list[int]) -> tuple[int, int, int]:
    # Django's collector follows every relation (other apps' too); `only("id")` keeps it from loading and
    # decrypting payloads it is about to delete, and it loads only keys for the related rows.
    with transaction.atomic():
        _, counts = InboundEvent.objects.for_tenant(tenant).filter(id__in=ids).only("id").delete()
    return (counts.get(InboundEvent._meta.label, 0), counts.get(Delivery._meta.label, 0),
            counts.get(DeliveryAttempt._meta.label, 0))


def retention_purge_tenant(*, tenant: Tenant, now: datetime | None = None, batch_size: int = RETENTION_BATCH,
                           max_batches: int = RETENTION_MAX_BATCHES) -> PurgeReport:
    """Delete the tenant's ledger older than its retention, in batches. Safe to run again at any time."""
    cutoff = retention_cutoff(tenant=tenant, now=now)
    report = PurgeReport()
    for _ in range(max_batches):
        ids = list(retention_candidates(tenant=tenant, cutoff=cutoff)[:batch_size])
        if not ids:
            break
        events, deliveries, attempts = _delete_batch(tenant=tenant, ids=ids)
        report.inbound_events += events
        report.deliveries += deliveries
        report.attempts += attempts
    else:
        report.more = retention_candidates(tenant=tenant, cutoff=cutoff).exists()
    if report.inbound_events:
        activity_record(tenant=tenant, actor=None, action="audit.retention_purged",
                        details={"before": cutoff, "retention_days": tenant.retention_days,
                                 "inbound_events": report.inbound_events, "deliveries": report.deliveries,
                                 "attempts": report.attempts})
        logger.info("retention.purged", extra={"tenant_id": tenant.pk, "inbound_events": report.inbound_events,
                                               "deliveries": report.deliveries})
    return report
