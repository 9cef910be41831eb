"""Bulk replay: every delivery one activity search selected, replayed in batches by a Celery task.

The selection is frozen when the user confirms (audit.models.BulkReplay); each batch replays through
connector.pipeline.replay.delivery_replay, the same paced, deduplicated path as a single replay.
"""

import logging

from django.db import transaction
from django.utils import timezone

from audit.activity import activity_record
from audit.models import BulkReplay
from audit.selectors import delivery_search, search_filters_for_storage
from connector.core.errors import ApplicationError
from connector.pipeline.doorbell import bulk_replay_ring
from connector.pipeline.replay import delivery_replay, replay_mode_check

logger = logging.getLogger(__name__)

BULK_REPLAY_BATCH = 50  # replays per task run and transaction: a run stays far below the task time limit


def bulk_replay_create(*, tenant, actor, filters: dict, max_delivery_id: int, mode: str,
                       to_channel_id: str = "", to_channel_name: str = "") -> BulkReplay:
    """Freeze the selection, record who asked, and start the background replay."""
    replay_mode_check(mode)
    stored = search_filters_for_storage(filters)
    total = delivery_search(tenant=tenant, filters={**stored, "max_id": max_delivery_id}).count()
    if not total:
        raise ApplicationError("This search selects no deliveries: nothing to replay.")
    with transaction.atomic():
        bulk = BulkReplay.objects.create(
            tenant=tenant, requested_by=actor if getattr(actor, "pk", None) else None, filters=stored,
            mode=mode, to_channel_id=to_channel_id, to_channel_name=to_channel_name,
            max_delivery_id=max_delivery_id, total=total)
        activity_record(tenant=tenant, actor=actor, action="delivery.bulk_replay_requested",
                        target=f"bulk replay {bulk.pk}",
                        details={"bulk_replay": bulk.pk, "total": total, "mode": mode,
                                 "to_channel_id": to_channel_id, "filters": stored})
        # robust: a broker outage must not turn the confirmation into an error page; the bulk stays queued
        # and the bulk-replay-resume beat rings it again.
        transaction.on_commit(lambda: bulk_replay_ring(bulk.pk), robust=True)
    logger.info("bulk_replay.created", extra={"bulk_replay_id": bulk.pk, "total": total})
    return bulk


def bulk_replay_run_batch(*, bulk_id: int, batch_size: int = BULK_REPLAY_BATCH) -> bool:
    """Replay the next batch of a bulk replay. True when more remain.

    The batch's replays and the cursor move in one transaction under a row lock on the BulkReplay, so
    concurrent or repeated runs never replay a delivery twice, and a crash loses nothing.
    """
    with transaction.atomic():
        bulk = (BulkReplay.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("tenant", "requested_by").filter(pk=bulk_id).first())
        if bulk is None or bulk.finished:
            return False  # gone, finished, or another worker is on it (and will carry on)
        bulk.status = BulkReplay.Status.RUNNING
        selection = delivery_search(tenant=bulk.tenant, filters={**bulk.filters, "max_id": bulk.max_delivery_id})
        batch = list(selection.filter(id__gt=bulk.last_delivery_id).select_related("inbound_event")
                     .order_by("id")[:batch_size])
        for delivery in batch:
            try:
                with transaction.atomic():
                    delivery_replay(tenant=bulk.tenant, delivery=delivery, actor=bulk.requested_by, mode=bulk.mode,
                                    channel_id=bulk.to_channel_id or None)
                bulk.done += 1
            except ApplicationError as exc:
                bulk.skipped += 1
                bulk.last_error = f"Delivery {delivery.pk}: {exc.message}"[:300]
            bulk.last_delivery_id = delivery.pk
        more = len(batch) == batch_size
        if not more:
            bulk.status = BulkReplay.Status.DONE
            bulk.finished_at = timezone.now()
        bulk.save()
        if not more:
            activity_record(tenant=bulk.tenant, actor=bulk.requested_by, action="delivery.bulk_replay_finished",
                            target=f"bulk replay {bulk.pk}",
                            details={"bulk_replay": bulk.pk, "replayed": bulk.done, "skipped": bulk.skipped})
    logger.info("bulk_replay.batch", extra={"bulk_replay_id": bulk_id, "replayed": bulk.done,
                                            "skipped": bulk.skipped, "more": more})
    return more


def bulk_replay_fail(*, bulk_id: int, reason: str) -> None:
    """Stop a bulk replay that hit an unexpected error (what was replayed stays replayed)."""
    BulkReplay.objects.filter(pk=bulk_id).exclude(status=BulkReplay.Status.DONE).update(
        status=BulkReplay.Status.FAILED, last_error=reason[:300], finished_at=timezone.now())
