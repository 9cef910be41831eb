"""Per-tenant inbox between the webhook intake and the workers: the intake pushes a persisted event's id
and rings the tenant's doorbell in one Redis round trip; only the ring that finds the doorbell silent
sends a Celery task (`drain_inbox`), which hands every id waiting in the inbox to `process_event`.

So a burst of webhooks costs one Celery message, not one each. Nothing is lost if Redis or the broker
fails: the database is the truth, and the sweep re-enqueues every event still `received` after its grace
(connector/pipeline/sweep.py). The doorbell expires after RING_TTL, so a lost drain task delays the
tenant's events by that much at most (sooner than the sweep).
"""

import contextlib
import logging

import redis
from celery import shared_task

from connector.celery import app
from connector.core.redis_client import redis_quick
from connector.pipeline.doorbell import inbound_ring_many

logger = logging.getLogger(__name__)

DRAIN_INBOX = "connector.pipeline.inbox.drain_inbox"
RING_TTL = 30  # seconds; a doorbell whose drain task was lost rings again after this
DRAIN_BATCH = 500  # ids popped per round trip by the drain task


def _inbox_key(tenant_id: int) -> str:
    return f"mlc:inbox:{tenant_id}"


def _ring_key(tenant_id: int) -> str:
    return f"mlc:inbox:ring:{tenant_id}"


def inbox_push(tenant_id: int, inbound_event_id: int) -> None:
    """Queues a persisted event for processing. Never raises: a failure is logged and left to the sweep."""
    try:
        # Not a MULTI: the two run in this order, and a drain in between only means one more drain.
        pipe = redis_quick().pipeline(transaction=False)
        pipe.rpush(_inbox_key(tenant_id), inbound_event_id)
        pipe.set(_ring_key(tenant_id), "1", nx=True, ex=RING_TTL)
        _, rang = pipe.execute()
    except redis.RedisError:
        logger.warning("pipeline.inbox.push_failed", extra={"tenant_id": tenant_id,
                                                            "inbound_event_id": inbound_event_id})
        return
    if rang:
        _drain_send(tenant_id)


def _drain_send(tenant_id: int) -> None:
    try:
        app.send_task(DRAIN_INBOX, args=(tenant_id,))
    except Exception:  # broker down: let the next push ring again; the sweep covers what is waiting
        logger.exception("pipeline.inbox.ring_failed", extra={"tenant_id": tenant_id})
        with contextlib.suppress(redis.RedisError):
            redis_quick().delete(_ring_key(tenant_id))


@shared_task(acks_late=True, ignore_result=True)
def drain_inbox(tenant_id: int) -> int:
    """Hands every id waiting in the tenant's inbox to process_event. The doorbell is silenced first, so
    an id pushed while this runs either is popped here or rings for another drain."""
    client = redis_quick()
    client.delete(_ring_key(tenant_id))
    handed = 0
    while True:
        ids = client.lpop(_inbox_key(tenant_id), DRAIN_BATCH) or []
        inbound_ring_many(int(raw) for raw in ids)
        handed += len(ids)
        if len(ids) < DRAIN_BATCH:
            return handed
