"""Drains a worker schedules for later are kept in the process (connector/pipeline/drain_timers.py) and run on
its pool when due, instead of travelling through the broker as ETA tasks; a worker that stops hands those
still waiting to the broker."""

import threading
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadsPool

from audit.models import Delivery
from connector.pipeline import pacing
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.drain_timers import DrainTimers
from connector.pipeline.policy import CHANNEL_INTERVAL_MS
from connector.pipeline.tasks import DrainTimersStep
from tests.pipeline.conftest import TEAM
from tests.polling import wait_for


@pytest.fixture
def worker():
    """A worker with the Procfile's pool (threads), its drain timers running as in `celery worker`."""
    pool = ThreadsPool(limit=4)
    pool.start()
    worker = SimpleNamespace(pool=pool)
    step = DrainTimersStep(worker)
    assert step.include_if(worker)
    step.start(worker)
    yield SimpleNamespace(pool=pool, stop=lambda: step.stop(worker))
    step.stop(worker)
    pool.stop()


def test_timers_run_each_drain_at_its_due_time_earliest_first():
    ran: list[tuple[str, float]] = []
    done = threading.Event()

    def run(team_id, channel_id, claim):
        ran.append((channel_id, time.monotonic()))
        if len(ran) == 3:
            done.set()

    timers = DrainTimers(run=run, submit=lambda work: threading.Thread(target=work).start())
    timers.start()
    start = time.monotonic()
    timers.add(TEAM, "C3", "t3", 0.3)
    timers.add(TEAM, "C1", "t1", 0.1)
    timers.add(TEAM, "C2", "t2", 0.2)
    assert done.wait(5)
    assert [channel for channel, _ in ran] == ["C1", "C2", "C3"]
    assert all(at - start >= due for (_, at), due in zip(ran, (0.1, 0.2, 0.3), strict=True))  # none early
    assert timers.stop() == []


def test_stopped_timers_give_back_what_waits_and_take_nothing_more():
    ran = []
    timers = DrainTimers(run=lambda *drain: ran.append(drain), submit=lambda work: work())
    timers.start()
    timers.add(TEAM, "C2", "t2", 60)
    timers.add(TEAM, "C1", "t1", 30)
    waiting = timers.stop()
    assert [(d.channel_id, d.claim) for d in waiting] == [("C1", "t1"), ("C2", "t2")]
    assert 29 < waiting[0].countdown() <= 30
    assert timers.add(TEAM, "C3", "t3", 1) is False  # the caller sends it to the broker instead
    assert ran == []


@pytest.mark.django_db(transaction=True)  # the drain runs on the pool's thread, with its own connection
def test_a_worker_posts_a_paced_channels_next_message_when_its_slot_opens_without_a_broker_task(
        worker, installation, slack, make_delivery):
    # Given a channel that has just posted (its slot is taken for a second) and a new message for it
    pacing.slot_restart(TEAM, "C1")
    slot_opens = time.time() + CHANNEL_INTERVAL_MS / 1000
    delivery = make_delivery("C1")
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as broker:
        # When the worker kicks the channel (as process_event does)
        channel_kick(TEAM, "C1")
        # Then the message is posted once the slot opens, and no task went through the broker
        wait_for(lambda: slack.posts_to("C1"), timeout=5, message="the paced post")
    broker.assert_not_called()
    [post] = slack.posts_to("C1")
    assert float(post["ts"]) >= slot_opens - 0.05
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED


def test_a_stopping_worker_hands_its_waiting_drains_to_the_broker(worker):
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as broker:
        channel_kick(TEAM, "C1", countdown=30)
        broker.assert_not_called()
        worker.stop()
        [handed] = broker.call_args_list
        channel_kick(TEAM, "C2", countdown=30)  # once stopped, a kick goes to the broker at once
    (team_id, channel_id, claim), countdown = handed.args[0], handed.kwargs["countdown"]
    assert (team_id, channel_id) == (TEAM, "C1") and 29 < countdown <= 30
    assert claim == pacing.client().get(f"mlc:drain:{TEAM}:C1").decode()  # the drain still owns its claim
    assert [call.args[0][:2] for call in broker.call_args_list[1:]] == [(TEAM, "C2")]


def test_only_a_threads_pool_worker_keeps_drains():
    worker = SimpleNamespace(pool=SoloPool())
    assert not DrainTimersStep(worker).include_if(worker)
