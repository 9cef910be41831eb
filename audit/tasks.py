"""Celery tasks of the audit trail (retention, large CSV exports): thin, id-based, idempotent."""

import logging

from celery import shared_task

from audit import retention
from audit.export import export_job_build, export_job_fail
from tenants.models import Tenant
from tenants.signup import signups_purge

logger = logging.getLogger(__name__)

RETENTION_SOFT_TIME_LIMIT = 600  # seconds: a tenant's purge run (RETENTION_MAX_BATCHES batches) fits easily


@shared_task(acks_late=True, ignore_result=True)
def retention_purge() -> None:
    """Beat, daily: one purge task per tenant, so a big tenant never delays the others; and the sign-ups
    whose links expired long ago, which belong to no tenant (here, so they go even when nobody signs up)."""
    signups_purge()
    for tenant_id in Tenant.objects.order_by("id").values_list("id", flat=True):
        retention_purge_tenant.delay(tenant_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=RETENTION_SOFT_TIME_LIMIT,
             time_limit=RETENTION_SOFT_TIME_LIMIT + 60)
def retention_purge_tenant(tenant_id: int) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    if retention.retention_purge_tenant(tenant=tenant).more:
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
