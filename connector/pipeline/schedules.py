"""Beat's scheduled work, as thin tasks. Each tick only asks the database what is due and rings one task
per tenant (overdue check) or per digest, so one slow FreshBooks account never holds up the others and no
task outlives its time limit; each of those tasks claims its work, so repeated rings do it once."""

from celery import shared_task

from connector.pipeline.digests import digest_send_if_due, digests_due
from connector.pipeline.overdue import overdue_scan_if_due, overdue_tenants_due
from tenants.models import Tenant


@shared_task(acks_late=True, ignore_result=True)
def overdue_scans_due() -> None:
    for tenant_id in overdue_tenants_due():
        overdue_scan_tenant.delay(tenant_id)


@shared_task(acks_late=True, ignore_result=True)
def overdue_scan_tenant(tenant_id: int) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is not None:
        overdue_scan_if_due(tenant=tenant)


@shared_task(acks_late=True, ignore_result=True)
def digests_send_due() -> None:
    for digest_id in digests_due():
        digest_send.delay(digest_id)


@shared_task(acks_late=True, ignore_result=True)
def digest_send(digest_id: int) -> None:
    digest_send_if_due(digest_id=digest_id)
