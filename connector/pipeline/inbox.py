"""Per-tenant inbox between the webhook intake (and catch-up reads, the sweep, released holds) and the
workers: a producer pushes persisted events' ids and rings the tenant's doorbell in one Redis round trip;
only the ring that finds the doorbell silent sends a Celery task (`drain_inbox`), which hands the next
INBOX_SLICE ids to `process_event` and, if more wait, queues itself again behind them.

So a burst of webhooks costs one Celery message per slice, not one per webhook to ring; and one tenant's
burst (an import, a catch-up after an outage) never stands in the broker's queue ahead of the others'
news: the queue holds at most a slice of each busy tenant's events at a time, so the tenants take turns.

Nothing is lost if Redis or the broker fails: the database is the truth, and the sweep re-enqueues every
event still `received` after its grace (connector/pipeline/sweep.py). The doorbell expires after RING_TTL,
so a lost drain task delays the tenant's events by that much at most (sooner than the sweep).
"""

import contextlib
import logging

import redis
from celery import shared_task

from connector.celery import app
from connector.core.redis_client import redis_quick
from connector.pipeline import local_pool
from connector.pipeline.doorbell import inbound_ring_many

logger = logging.getLogger(__name__)

DRAIN_INBOX = "connector.pipeline.inbox.drain_inbox"
RING_TTL = 30  # seconds; a doorbell whose drain task was lost rings again after this
# Ids handed to process_event per drain: with N tenants busy, another tenant's news waits behind at most
# N x (INBOX_SLICE + 1) messages. Small enough for that to be well under a second at a worker's rate; the
# drain that hands it costs about a twentieth of one event's processing, shared by the slice.
INBOX_SLICE = 20


def _inbox_key(tenant_id: int) -> str:
    return f"mlc:inbox:{tenant_id}"


def _ring_key(tenant_id: int) -> str:
    return f"mlc:inbox:ring:{tenant_id}"


def inbox_push(tenant_id: int, inbound_event_id: int) -> None:
    """Queues a persisted event for processing. Never raises: a failure is logged and left to the sweep."""
    inbox_push_many(tenant_id, [inbound_event_id])


def inbox_push_many(tenant_id: int, inbound_event_ids) -> None:
    """Queues persisted events of one tenant for processing, in this order. Never raises (as inbox_push)."""
    ids = list(inbound_event_ids)
    if not ids:
        return
    try:
        # Not a MULTI: the two run in this order, and a drain in between only means one more drain.
        pipe = redis_quick().pipeline(transaction=False)
        pipe.rpush(_inbox_key(tenant_id), *ids)
        pipe.set(_ring_key(tenant_id), "1", nx=True, ex=RING_TTL)
        _, rang = pipe.execute()
    except redis.RedisError:
        logger.warning("pipeline.inbox.push_failed", extra={"tenant_id": tenant_id, "inbound_events": len(ids)})
        return
    if rang:
        _drain_send(tenant_id)


def inbox_requeue(tenant_id: int, inbound_event_ids) -> int:
    """The sweep's push: of these events found unprocessed, those not still waiting in the tenant's inbox (a
    long backlog holds events past the sweep's grace; queued twice, each would be claimed once and the second
    wasted), and a ring either way, so that a drain chain whose message was lost starts again. Returns how
    many were queued. Never raises (as inbox_push)."""
    try:
        waiting = {int(raw) for raw in redis_quick().lrange(_inbox_key(tenant_id), 0, -1)}
    except redis.RedisError:
        waiting = set()  # queue them all: a duplicate is only a wasted claim
    lost = [pk for pk in inbound_event_ids if pk not in waiting]
    if lost:
        inbox_push_many(tenant_id, lost)
    elif waiting:
        with contextlib.suppress(redis.RedisError):
            _ring(tenant_id)
    return len(lost)


def _ring(tenant_id: int) -> None:
    """Send a drain, unless the doorbell has rung already (a drain is queued or running)."""
    if redis_quick().set(_ring_key(tenant_id), "1", nx=True, ex=RING_TTL):
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
    """Hands the next ids waiting in the tenant's inbox to processing, then, if more wait, rings again: the
    next drain joins the broker's queue behind every other tenant's messages sent meanwhile. Returns how
    many ids it handed.

    A worker with room on its local pool (connector/pipeline/local_pool.py) processes there as many as its
    threads would start now (at most INBOX_SLICE), and the doorbell stays rung until the last of them has
    started: a push meanwhile sends no drain, so the next slice goes to whichever worker has room then.
    Elsewhere, or when it has no room, INBOX_SLICE ids go to the broker as `process_event` tasks for any
    worker, and the next drain is queued behind them; the doorbell is silenced first, so an id pushed while
    this runs either is popped here or rings for another drain."""
    client = redis_quick()
    room = min(INBOX_SLICE, local_pool.events_room())
    if room:
        ids = [int(raw) for raw in client.lpop(_inbox_key(tenant_id), room) or []]
        if ids and local_pool.events_here(tenant_id, ids, last_started=lambda: _ring_again(tenant_id)):
            return len(ids)
        inbound_ring_many(ids)  # none, or the worker is stopping: to the broker
        _ring_again(tenant_id)
        return len(ids)
    pipe = client.pipeline(transaction=False)  # in this order, in one round trip
    pipe.delete(_ring_key(tenant_id))
    pipe.lpop(_inbox_key(tenant_id), INBOX_SLICE)
    pipe.llen(_inbox_key(tenant_id))
    _, ids, waiting = pipe.execute()
    ids = ids or []
    inbound_ring_many(int(raw) for raw in ids)
    if waiting:
        _ring(tenant_id)
    return len(ids)


def _ring_again(tenant_id: int) -> None:
    """Silence the doorbell, then ring it if ids wait (one pushed in between rang it itself). Never raises."""
    try:
        pipe = redis_quick().pipeline(transaction=False)
        pipe.delete(_ring_key(tenant_id))
        pipe.llen(_inbox_key(tenant_id))
        _, waiting = pipe.execute()
        if waiting:
            _ring(tenant_id)
    except redis.RedisError:  # the doorbell expires after RING_TTL; the sweep covers what is waiting
        logger.warning("pipeline.inbox.ring_failed", extra={"tenant_id": tenant_id})


def inbox_give_back(tenant_id: int, inbound_event_ids: list[int]) -> None:
    """Events a stopping worker had taken but not started: back at the front of their inbox, in order, and
    the doorbell rung for another worker. Never raises (the sweep finds them otherwise)."""
    try:
        redis_quick().lpush(_inbox_key(tenant_id), *reversed(inbound_event_ids))
    except redis.RedisError:
        logger.warning("pipeline.inbox.give_back_failed",
                       extra={"tenant_id": tenant_id, "inbound_events": len(inbound_event_ids)})
        return
    _ring_again(tenant_id)
