"""Celery tasks of the audit trail (retention): thin, id-based, idempotent."""

import logging

from celery import shared_task

from audit import retention
from tenants.models import Tenant

logger = logging.getLogger(__name__)

RETENTION_SOFT_TIME_LIMIT = 600  # seconds: a tenant's purge run (RETENTION_MAX_BATCHES batches) fits easily


@shared_task(acks_late=True, ignore_result=True)
def retention_purge() -> None:
    """Beat, daily: one purge task per tenant, so a big tenant never delays the others."""
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
