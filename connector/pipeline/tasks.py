"""Celery tasks: thin, id-based, idempotent; each calls one service and reschedules instead of sleeping."""

import functools
import logging
from collections.abc import Callable

from celery import bootsteps, shared_task
from celery.concurrency.thread import TaskPool as ThreadsPool
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connections
from django.utils import timezone

from audit.models import BulkReplay
from connector.core.errors import ApplicationError
from connector.freshbooks.errors import FreshBooksError
from connector.freshbooks.models import FreshBooksConnection
from connector.pipeline import bulk_replay as bulk
from connector.pipeline import catch_up_schedule, inbound, order, pacing
from connector.pipeline.catch_up import catch_up_run
from connector.pipeline.delivery import channel_drain_once
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.inbox import inbox_give_back, inbox_push_many
from connector.pipeline.local_pool import LocalPool, local_pool_start, local_pool_stop
from connector.pipeline.policy import MAX_TASK_COUNTDOWN
from connector.pipeline.sweep import sweep_run

logger = logging.getLogger(__name__)

BULK_REPLAY_STALE = timezone.timedelta(minutes=2)  # a queued/running bulk replay untouched this long lost its task
BULK_REPLAY_STOPPED = ("An unexpected error stopped this replay. What was replayed stays replayed; "
                       "start a new bulk replay for the rest.")


@shared_task(acks_late=True, ignore_result=True)
def process_event(inbound_event_id: int) -> None:
    _process(inbound_event_id, task_id=process_event.request.id or "")


def _process(inbound_event_id: int, *, task_id: str) -> None:
    outcome = inbound.inbound_process(inbound_event_id=inbound_event_id)
    if outcome is None:
        return
    if outcome.retry_in is not None and outcome.retry_in <= MAX_TASK_COUNTDOWN:
        process_event.apply_async((inbound_event_id,), countdown=outcome.retry_in)
    # A longer wait is the sweep's: it re-enqueues the event once its next_attempt_at has passed.
    order.news_read(inbound_event_id, kicked=outcome.channels)
    for n, (team_id, channel_id) in enumerate(outcome.channels):
        # The first channel's post goes out from here when the channel is free (most events have one
        # channel, and most find it free): no second task. The others' drains run in parallel (doorbell.py).
        here = functools.partial(_drain_here, team_id, channel_id, task_id=task_id) if n == 0 else None
        channel_kick(team_id, channel_id, drain_here=here)


@shared_task(bind=True, acks_late=True, ignore_result=True)
def drain_channel(self, team_id: str, channel_id: str, claim: str | None = None) -> None:
    _drain(team_id, channel_id, claim, task_id=self.request.id or "")


def _drain(team_id: str, channel_id: str, claim: str | None, *, task_id: str) -> None:
    pacing.release_drain(team_id, channel_id, claim)
    result = channel_drain_once(team_id=team_id, channel_id=channel_id, task_id=task_id)
    if result.again_in is not None:
        channel_kick(team_id, channel_id, countdown=result.again_in)


def _drain_here(team_id: str, channel_id: str, claim: str, *, task_id: str) -> None:
    """A drain run by process_event. Its event is processed whatever happens here: an error leaves the
    channel to a drain task, as if the post had been sent to the broker in the first place."""
    try:
        _drain(team_id, channel_id, claim, task_id=task_id)
    except Exception:
        logger.exception("drain.in_process_event_failed", extra={"channel": channel_id})
        channel_kick(team_id, channel_id)


def _run_on_local_pool(work: Callable[[], None], *, what: str) -> None:
    """Work run by this worker's local pool (connector/pipeline/local_pool.py), not as a task: nothing raises
    out of it (there is no task to retry; the sweep finds what failed), and the database connection goes back
    to the pool afterwards, as Celery does after a task."""
    try:
        work()
    except Exception:
        logger.exception("local_pool.failed", extra={"work": what})
    finally:
        connections.close_all()


class LocalPoolStep(bootsteps.StartStopStep):
    """Runs a local pool in a worker whose pool is threads (the Procfile's); registered in connector/celery.py.
    On a warm or cold stop, what has not started is given back: the drains to the broker as ETA tasks, the
    events to their inboxes."""

    requires = ("celery.worker.components:Pool",)

    def include_if(self, worker):
        return isinstance(getattr(worker, "pool", None), ThreadsPool)

    def start(self, worker):
        local_pool_start(LocalPool(
            # A quarter of the threads kept for drains coming due and the broker's tasks.
            submit=worker.pool.apply_async, share=max(1, worker.pool.limit * 3 // 4),
            run_drain=lambda team_id, channel_id, claim: _run_on_local_pool(
                functools.partial(_drain_here, team_id, channel_id, claim, task_id=""), what="drain"),
            run_event=lambda inbound_event_id: _run_on_local_pool(
                functools.partial(_process, inbound_event_id, task_id=""), what="event")))

    def stop(self, worker):
        stopped = local_pool_stop()
        for drain in stopped.drains:
            try:
                drain_channel.apply_async((drain.team_id, drain.channel_id, drain.claim),
                                          countdown=drain.countdown() or None)
            except Exception:  # broker down: its claim expires and the sweep schedules it again
                logger.exception("drain.hand_over_failed", extra={"channel": drain.channel_id})
        for tenant_id, inbound_event_ids in stopped.events.items():
            inbox_give_back(tenant_id, inbound_event_ids)

    terminate = stop  # a cold stop gives them back too


@shared_task(acks_late=True, ignore_result=True)
def sweep() -> None:
    sweep_run()


@shared_task(acks_late=True, ignore_result=True)
def bulk_replay(bulk_id: int) -> None:
    """One batch of a bulk replay, then the next batch as a new task (no task runs long)."""
    try:
        more = bulk.bulk_replay_run_batch(bulk_id=bulk_id)
    except Exception:
        logger.exception("bulk_replay.error", extra={"bulk_replay_id": bulk_id})
        bulk.bulk_replay_fail(bulk_id=bulk_id, reason=BULK_REPLAY_STOPPED)
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
def catch_up_beat() -> None:
    catch_up_schedule.catch_up_tick(enqueue=lambda connection_id, claim: catch_up_connection.delay(connection_id, claim))


# A big tenant's read pages through thousands of objects: more than the default 60 s, less than the claim
# lease and the broker's visibility timeout (600 s), so no second worker is handed the same read.
@shared_task(acks_late=True, ignore_result=True, soft_time_limit=540, time_limit=570)
def catch_up_connection(connection_id: int, claim: str) -> None:
    if not catch_up_schedule.catch_up_claim_take(connection_id=connection_id, claim=claim):
        return
    try:
        connection = (FreshBooksConnection.objects.select_related("tenant")
                      .filter(pk=connection_id, status=FreshBooksConnection.Status.ACTIVE).first())
        if connection is not None:
            catch_up_run(tenant=connection.tenant, enqueue=functools.partial(inbox_push_many, connection.tenant_id))
    except (FreshBooksError, ApplicationError):
        pass  # recorded on the catch-up state, which backs off; the next tick tries again
    except SoftTimeLimitExceeded:
        logger.error("catch_up.too_long", extra={"connection_id": connection_id})
    finally:
        catch_up_schedule.catch_up_claim_release(connection_id=connection_id)
