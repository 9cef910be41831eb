"""Celery tasks of the audit trail: thin, id-based, idempotent."""

import logging

from celery import shared_task
from django.utils import timezone

from audit.export import export_job_build, export_job_fail
from audit.models import BulkReplay
from tenants.models import Tenant

logger = logging.getLogger(__name__)

BULK_REPLAY_STALE = timezone.timedelta(minutes=2)  # a queued/running bulk replay untouched this long lost its task
RETENTION_SOFT_TIME_LIMIT = 600  # seconds: a tenant's purge run (RETENTION_MAX_BATCHES batches) fits easily
BULK_REPLAY_STOPPED = ("An unexpected error stopped this replay. What was replayed stays replayed; "
                       "start a new bulk replay for the rest.")


@shared_task(acks_late=True, ignore_result=True)
def bulk_replay(bulk_id: int) -> None:
    """One batch of a bulk replay, then the next batch as a new task (no task runs long)."""
    from audit.services import bulk_replay_fail, bulk_replay_run_batch

    try:
        more = bulk_replay_run_batch(bulk_id=bulk_id)
    except Exception:
        logger.exception("bulk_replay.error", extra={"bulk_replay_id": bulk_id})
        bulk_replay_fail(bulk_id=bulk_id, reason=BULK_REPLAY_STOPPED)
        return
    if more:
        bulk_replay.delay(bulk_id)


@shared_task(acks_late=True, ignore_result=True)
def bulk_replay_resume() -> None:
    """Beat: re-ring bulk replays whose task was lost (broker restart, worker killed)."""
    stale = timezone.now() - BULK_REPLAY_STALE
    for pk in (BulkReplay.objects.filter(status__in=[BulkReplay.Status.QUEUED, BulkReplay.Status.RUNNING],
                                         updated_at__lt=stale).values_list("id", flat=True)[:100]):
        bulk_replay.delay(pk)


@shared_task(acks_late=True, ignore_result=True)
def retention_purge() -> None:
    """Beat, daily: one purge task per tenant, so a big tenant never delays the others."""
    for tenant_id in Tenant.objects.order_by("id").values_list("id", flat=True):
        retention_purge_tenant.delay(tenant_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=RETENTION_SOFT_TIME_LIMIT,
             time_limit=RETENTION_SOFT_TIME_LIMIT + 60)
def retention_purge_tenant(tenant_id: int) -> None:
    from audit.retention import retention_purge_tenant as purge

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    if purge(tenant=tenant).more:
        retention_purge_tenant.delay(tenant_id)


EXPORT_SOFT_TIME_LIMIT = 900  # seconds: writing a few hundred thousand rows fits with room to spare


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=EXPORT_SOFT_TIME_LIMIT,
             time_limit=EXPORT_SOFT_TIME_LIMIT + 60)
def export_build(export_id: int) -> None:
    """A CSV export too large for one request (audit.export)."""
    try:
        export_job_build(job_id=export_id)
    except Exception:
        logger.exception("export.error", extra={"export_id": export_id})
        export_job_fail(job_id=export_id, reason="An unexpected error stopped this export. Start it again.")
