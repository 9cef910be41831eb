"""Ringing the pipeline's Celery tasks: the database holds the work, a task message only says "look now".

The tasks are looked up by name in the Celery app, so the modules that decide what is due (intake,
resume, replay, sweep) need not import `connector.pipeline.tasks`, which imports them to run the work.
"""

from collections.abc import Callable

from connector.celery import app
from connector.pipeline import pacing
from connector.pipeline.local_pool import drain_later, drain_now
from connector.pipeline.policy import MAX_TASK_COUNTDOWN

DRAIN_CHANNEL = "connector.pipeline.tasks.drain_channel"
PROCESS_EVENT = "connector.pipeline.tasks.process_event"
BULK_REPLAY = "connector.pipeline.tasks.bulk_replay"
DRAIN_MIN_COUNTDOWN = 0.02  # seconds; Celery countdowns below this are not worth an ETA


def inbound_ring_many(inbound_event_ids) -> None:
    """Have a worker process each of these inbound events (an inbox's slice, connector/pipeline/inbox.py),
    over one broker connection: taking a connection from the pool for each message costs about 40% more."""
    inbound_event_ids = list(inbound_event_ids)
    if not inbound_event_ids:  # an inbox found empty: no connection to take
        return
    with app.producer_or_acquire() as producer:
        for inbound_event_id in inbound_event_ids:
            app.tasks[PROCESS_EVENT].apply_async((inbound_event_id,), producer=producer)


def bulk_replay_ring(bulk_id: int) -> None:
    """Have a worker replay the next batch of this bulk replay."""
    app.tasks[BULK_REPLAY].apply_async((bulk_id,))


def channel_kick(team_id: str, channel_id: str, countdown: float = 0.0, *,
                 drain_here: Callable[[str], None] | None = None) -> None:
    """Make sure a drain of this channel is scheduled within `countdown` (give or take
    pacing.DRAIN_SOONER_BY_MS); a drain already scheduled for then, or sooner, covers it.

    `drain_here(token)`: when the drain is due now, run it in the caller's thread with its claim's token
    instead of sending it to the broker (a task message costs the worker more CPU than the drain itself
    saves by running elsewhere, and waits in the queue). In a worker that runs a local pool
    (connector/pipeline/local_pool.py) a drain due later is kept by the process until due, and one due now
    runs on its threads when one is free; else each is sent to the broker (an ETA task when due later), for
    any worker."""
    if not team_id:
        return
    # A drain woken before its channel is due finds nothing to post and kicks again for the rest.
    countdown = min(countdown, MAX_TASK_COUNTDOWN)
    claim = pacing.claim_drain(team_id, channel_id, countdown=countdown)
    if claim is None:
        return
    due_now = claim.countdown <= DRAIN_MIN_COUNTDOWN
    if due_now and drain_here is not None:
        drain_here(claim.token)
    elif not (drain_now(team_id, channel_id, claim.token) if due_now
              else drain_later(team_id, channel_id, claim.token, claim.countdown)):
        app.tasks[DRAIN_CHANNEL].apply_async((team_id, channel_id, claim.token),
                                             countdown=None if due_now else claim.countdown)
