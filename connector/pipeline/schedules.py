"""Beat's scheduled work, as thin tasks: the daily overdue check and the digests that are due."""

from celery import shared_task

from connector.pipeline.digests import digests_send_due as send_due
from connector.pipeline.overdue import overdue_scans_due as scans_due


@shared_task(acks_late=True, ignore_result=True)
def overdue_scans_due() -> None:
    scans_due()


@shared_task(acks_late=True, ignore_result=True)
def digests_send_due() -> None:
    send_due()
