"""A worker's local pool (connector/pipeline/local_pool.py): the drains it schedules for later are kept in the
process and run on its pool when due, and the inbox slices it takes are processed there, instead of each
travelling through the broker as a task; a worker that stops gives back what has not started."""

import threading
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadsPool

from audit.models import Delivery
from connector.pipeline import inbox, pacing, tasks
from connector.pipeline.doorbell import PROCESS_EVENT, channel_kick
from connector.pipeline.local_pool import LocalPool
from connector.pipeline.policy import CHANNEL_INTERVAL_MS
from tests.pipeline.conftest import TEAM
from tests.polling import wait_for

TENANT = 7


@pytest.fixture
def worker():
    """A worker with the Procfile's pool (threads), its local pool running as in `celery worker`."""
    pool = ThreadsPool(limit=4)
    pool.start()
    worker = SimpleNamespace(pool=pool)
    step = tasks.LocalPoolStep(worker)
    assert step.include_if(worker)
    step.start(worker)
    yield SimpleNamespace(pool=pool, stop=lambda: step.stop(worker))
    step.stop(worker)
    pool.stop()


@pytest.fixture
def broker():
    """Every message the code under test sends to the broker, none sent."""
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drains, \
            mock.patch.object(inbox.app.tasks[PROCESS_EVENT], "apply_async") as events, \
            mock.patch.object(inbox.app, "send_task") as inbox_drains:
        yield SimpleNamespace(drains=drains, events=events, inbox_drains=inbox_drains)


def test_timers_run_each_drain_at_its_due_time_earliest_first():
    ran: list[tuple[str, float]] = []
    done = threading.Event()

    def run(team_id, channel_id, claim):
        ran.append((channel_id, time.monotonic()))
        if len(ran) == 3:
            done.set()

    local = LocalPool(submit=lambda work: threading.Thread(target=work).start(), share=1, run_drain=run,
                      run_event=print)
    local.start()
    start = time.monotonic()
    local.drain_later(TEAM, "C3", "t3", 0.3)
    local.drain_later(TEAM, "C1", "t1", 0.1)
    local.drain_later(TEAM, "C2", "t2", 0.2)
    assert done.wait(5)
    assert [channel for channel, _ in ran] == ["C1", "C2", "C3"]
    assert all(at - start >= due for (_, at), due in zip(ran, (0.1, 0.2, 0.3), strict=True))  # none early
    assert local.stop().drains == []


def test_a_slice_takes_at_most_its_share_of_threads_so_a_drain_coming_due_runs_at_once():
    started, drained, release = [], threading.Event(), threading.Event()

    def process(inbound_event_id):
        started.append(inbound_event_id)
        release.wait(5)

    local = LocalPool(submit=lambda work: threading.Thread(target=work).start(), share=2,
                      run_drain=lambda *drain: drained.set(), run_event=process)
    local.start()
    local.events_here(TENANT, [1, 2, 3, 4, 5], last_started=lambda: None)
    wait_for(lambda: len(started) == 2, timeout=5, message="two events started")
    local.drain_later(TEAM, "C1", "t1", 0)
    assert drained.wait(5)  # not behind the three events waiting
    assert sorted(started) == [1, 2]
    release.set()
    wait_for(lambda: len(started) == 5, timeout=5, message="the rest of the slice")
    assert sorted(started[2:]) == [3, 4, 5]
    local.stop()


def test_drains_due_now_take_the_share_too_so_a_mass_kick_spills_to_the_broker():
    release, drained = threading.Event(), []

    def drain(team_id, channel_id, claim):
        drained.append(channel_id)
        release.wait(5)

    local = LocalPool(submit=lambda work: threading.Thread(target=work).start(), share=2, run_drain=drain,
                      run_event=print)
    local.start()
    # e.g. the sweep kicking every channel with due work: the first two run here, the rest go elsewhere
    assert [local.drain_now(TEAM, f"C{n}", f"t{n}") for n in range(4)] == [True, True, False, False]
    assert local.events_room() == 0
    release.set()
    wait_for(lambda: local.events_room() == 2, timeout=5, message="the drains finished")
    assert sorted(drained) == ["C0", "C1"]
    local.stop()


def test_a_stopped_local_pool_gives_back_what_has_not_started_and_takes_nothing_more():
    handed = []  # the pool is busy: nothing handed to it starts
    ran = []
    local = LocalPool(submit=handed.append, share=2, run_drain=lambda *drain: ran.append(drain),
                      run_event=ran.append)
    local.start()
    local.drain_later(TEAM, "C2", "t2", 60)
    local.drain_later(TEAM, "C1", "t1", 30)
    local.events_here(TENANT, [11, 12], last_started=lambda: None)
    local.events_here(8, [21], last_started=lambda: None)
    stopped = local.stop()
    assert [(d.channel_id, d.claim) for d in stopped.drains] == [("C1", "t1"), ("C2", "t2")]
    assert 29 < stopped.drains[0].countdown() <= 30
    assert stopped.events == {TENANT: [11, 12], 8: [21]}
    assert local.drain_later(TEAM, "C3", "t3", 1) is False  # the caller sends it to the broker instead
    assert local.events_here(TENANT, [13], last_started=lambda: None) is False
    for work in handed:  # given back already: they do not run when the pool gets to them
        work()
    assert ran == []


@pytest.mark.django_db(transaction=True)  # the drain runs on the pool's thread, with its own connection
def test_a_worker_posts_a_paced_channels_next_message_when_its_slot_opens_without_a_broker_task(
        worker, broker, installation, slack, make_delivery):
    # Given a channel that has just posted (its slot is taken for a second) and a new message for it
    pacing.slot_restart(TEAM, "C1")
    slot_opens = time.time() + CHANNEL_INTERVAL_MS / 1000
    delivery = make_delivery("C1")
    # When the worker kicks the channel (as process_event does)
    channel_kick(TEAM, "C1")
    # Then the message is posted once the slot opens, and no task went through the broker
    wait_for(lambda: slack.posts_to("C1"), timeout=5, message="the paced post")
    broker.drains.assert_not_called()
    [post] = slack.posts_to("C1")
    assert float(post["ts"]) >= slot_opens - 0.05
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED


@pytest.mark.django_db(transaction=True)
def test_a_worker_with_a_free_thread_drains_a_channel_due_now_itself_and_one_without_leaves_it_to_any_worker(
        worker, broker, installation, slack, make_delivery, monkeypatch):
    # A second channel of an event, or a channel woken by an event read: due now, no caller to run it
    make_delivery("C1")
    channel_kick(TEAM, "C1")
    wait_for(lambda: slack.posts_to("C1"), timeout=5, message="the post")
    broker.drains.assert_not_called()
    # Its threads' share for events all taken: the drain goes to the broker at once, for a worker with room
    busy = threading.Event()
    monkeypatch.setattr(tasks, "_process", lambda inbound_event_id, task_id: busy.wait(5))
    inbox.inbox_push_many(TENANT, [1, 2, 3])
    inbox.drain_inbox.run(TENANT)
    make_delivery("C2")
    channel_kick(TEAM, "C2")
    busy.set()
    assert [(call.args[0][:2], call.kwargs.get("countdown")) for call in broker.drains.call_args_list] == [
        ((TEAM, "C2"), None)]


def test_a_worker_takes_from_an_inbox_the_events_it_can_start_and_rings_for_the_next_once_they_started(
        worker, broker, monkeypatch):
    processed = []
    monkeypatch.setattr(tasks, "_process", lambda inbound_event_id, task_id: processed.append(inbound_event_id))
    ids = list(range(100, 100 + inbox.INBOX_SLICE + 5))
    inbox.inbox_push_many(TENANT, ids)  # rings the doorbell: one drain task for the tenant
    assert broker.inbox_drains.call_count == 1
    # The worker's 4 threads, a quarter kept for drains: it takes 3 and processes them itself
    assert inbox.drain_inbox.run(TENANT) == 3
    wait_for(lambda: len(processed) == 3, timeout=5, message="the slice processed")
    assert sorted(processed) == ids[:3]
    broker.events.assert_not_called()  # no process_event task for any of them
    wait_for(lambda: broker.inbox_drains.call_count == 2, timeout=5, message="the next drain rung")
    assert pacing.client().llen(f"mlc:inbox:{TENANT}") == len(ids) - 3


def test_a_worker_without_room_sends_the_slice_to_the_broker_for_any_worker(worker, broker, monkeypatch):
    started, busy = [], threading.Event()

    def process(inbound_event_id, task_id):
        started.append(inbound_event_id)
        busy.wait(5)

    monkeypatch.setattr(tasks, "_process", process)
    inbox.inbox_push_many(TENANT, [1, 2, 3])
    assert inbox.drain_inbox.run(TENANT) == 3  # the worker's room: its events now take its threads
    wait_for(lambda: len(started) == 3, timeout=5, message="the three started")
    ids = list(range(10, 10 + inbox.INBOX_SLICE + 1))
    inbox.inbox_push_many(TENANT, ids)  # rings again (the doorbell was silenced once the three started)
    assert broker.inbox_drains.call_count == 2
    assert inbox.drain_inbox.run(TENANT) == inbox.INBOX_SLICE
    assert [call.args[0][0] for call in broker.events.call_args_list] == ids[:inbox.INBOX_SLICE]
    assert broker.inbox_drains.call_count == 3  # one more waits: the next drain queued behind the slice
    busy.set()


def test_a_stopping_worker_gives_its_waiting_drains_to_the_broker_and_its_events_back_to_their_inbox(
        worker, broker):
    channel_kick(TEAM, "C1", countdown=30)
    broker.drains.assert_not_called()
    busy = threading.Event()
    for _ in range(4):  # every thread of the pool is busy: the slice waits
        worker.pool.apply_async(busy.wait)
    inbox.inbox_push_many(TENANT, [1, 2, 3])
    inbox.drain_inbox.run(TENANT)
    inbox.inbox_push_many(TENANT, [4])  # while the slice waits, the doorbell stays rung
    assert broker.inbox_drains.call_count == 1
    worker.stop()
    busy.set()
    time.sleep(0.1)  # the pool gets to the slice: given back, it neither runs nor rings again
    [handed] = broker.drains.call_args_list
    (team_id, channel_id, claim), countdown = handed.args[0], handed.kwargs["countdown"]
    assert (team_id, channel_id) == (TEAM, "C1") and 29 < countdown <= 30
    assert claim == pacing.client().get(f"mlc:drain:{TEAM}:C1").decode()  # the drain still owns its claim
    assert [int(pk) for pk in pacing.client().lrange(f"mlc:inbox:{TENANT}", 0, -1)] == [1, 2, 3, 4]
    assert broker.inbox_drains.call_count == 2  # rung for another worker
    channel_kick(TEAM, "C2", countdown=30)  # once stopped, a kick goes to the broker at once
    assert [call.args[0][:2] for call in broker.drains.call_args_list[1:]] == [(TEAM, "C2")]


def test_only_a_threads_pool_worker_runs_a_local_pool():
    worker = SimpleNamespace(pool=SoloPool())
    assert not tasks.LocalPoolStep(worker).include_if(worker)
