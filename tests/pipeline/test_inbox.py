"""The tenants' inboxes hand their events to processing a slice at a time, so that one tenant's burst never
stands in the broker's queue ahead of another tenant's news."""

from collections import deque
from unittest import mock

from django.utils import timezone

from audit.models import InboundEvent
from connector.pipeline import doorbell, inbox
from connector.pipeline.sweep import sweep_run
from tests import factories
from tests.pipeline.conftest import handed_to_processing


class FifoBroker:
    """The broker's queue as one worker sees it: every message the inboxes send (drain tasks) and hand on
    (process_event), in the order sent; `work` takes them in that order, running each drain as it comes."""

    def __init__(self):
        self.queue: deque[tuple[str, int]] = deque()
        self.processed: list[int] = []  # process_event messages, in the order a worker reaches them

    def __enter__(self):
        self._patches = [
            mock.patch.object(inbox.app, "send_task",
                              side_effect=lambda name, args: self.queue.append(("drain", args[0]))),
            mock.patch.object(inbox.app.tasks[doorbell.PROCESS_EVENT], "apply_async",
                              side_effect=lambda args, **kw: self.queue.append(("process", args[0]))),
        ]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc):
        for patch in self._patches:
            patch.stop()

    def work(self, messages: int | None = None) -> None:
        while self.queue and (messages is None or messages > 0):
            kind, value = self.queue.popleft()
            if kind == "drain":
                inbox.drain_inbox.run(value)
            else:
                self.processed.append(value)
            messages = None if messages is None else messages - 1


def test_a_drain_hands_one_slice_and_queues_the_next_drain_behind_it():
    with FifoBroker() as broker:
        inbox.inbox_push_many(7, range(1, 51))  # 50 events of one tenant
        assert list(broker.queue) == [("drain", 7)]  # one ring for the burst
        broker.work(messages=1)
        slice_ = [("process", i) for i in range(1, inbox.INBOX_SLICE + 1)]
        assert list(broker.queue) == [*slice_, ("drain", 7)]  # the next drain waits behind the slice
        broker.work()
    assert broker.processed == list(range(1, 51))  # every event, once, in the order they came


def test_a_drain_that_empties_the_inbox_rings_no_further_drain_and_the_next_push_rings_again():
    with FifoBroker() as broker:
        inbox.inbox_push_many(7, [1, 2, 3])
        broker.work()
        assert broker.processed == [1, 2, 3] and not broker.queue
        inbox.inbox_push(7, 4)
        assert list(broker.queue) == [("drain", 7)]


def test_another_tenants_event_is_processed_before_a_burst_queued_ahead_of_it():
    with FifoBroker() as broker:
        inbox.inbox_push_many(1, range(1, 1001))  # tenant 1: a burst of 1,000 (an import, a catch-up)
        broker.work(messages=3)  # the workers are busy with it ...
        inbox.inbox_push(2, 5000)  # ... when tenant 2's one invoice arrives
        broker.work()
    # Tenant 2 waits behind at most the slices already queued, not behind the burst.
    assert broker.processed.index(5000) <= 2 * inbox.INBOX_SLICE
    assert sorted(broker.processed) == [*range(1, 1001), 5000]


def test_pushes_while_a_drain_chain_runs_never_start_a_second_chain():
    with FifoBroker() as broker:
        inbox.inbox_push_many(7, range(1, 41))
        for n in range(41, 61):  # webhooks keep coming while the tenant's drains run
            broker.work(messages=5)
            inbox.inbox_push(7, n)
            assert sum(1 for kind, _ in broker.queue if kind == "drain") <= 1
        broker.work()
    assert broker.processed == list(range(1, 61))


def test_the_sweep_re_enqueues_through_the_inboxes_tenant_by_tenant(tenant, other_tenant):
    old = timezone.now() - timezone.timedelta(minutes=10)
    lost = [factories.inbound_event(tenant=t, at=old, status=InboundEvent.Status.RECEIVED).pk
            for t in (tenant, other_tenant, tenant, other_tenant)]
    with handed_to_processing() as handed:
        assert sweep_run().inbound_requeued == 4
    assert sorted(handed) == sorted(lost)
    assert [pk for pk in handed if pk in (lost[0], lost[2])] == [lost[0], lost[2]]  # each tenant's in order


def stale(tenant, count: int) -> list[int]:
    """Unprocessed events of `tenant` received ten minutes ago: past the sweep's grace."""
    old = timezone.now() - timezone.timedelta(minutes=10)
    return [factories.inbound_event(tenant=tenant, at=old, status=InboundEvent.Status.RECEIVED).pk
            for _ in range(count)]


def test_the_sweep_does_not_queue_again_what_still_waits_in_an_inbox_but_queues_what_redis_lost(tenant):
    # Given a long backlog: events past the sweep's grace still waiting in the tenant's inbox, behind a drain
    waiting = stale(tenant, 3)
    with FifoBroker() as broker:
        inbox.inbox_push_many(tenant.pk, waiting)
        assert list(broker.queue) == [("drain", tenant.pk)]
        # When the sweep runs, it queues none of them a second time (nor rings again: a drain is on its way)
        assert sweep_run().inbound_requeued == 0
        assert list(broker.queue) == [("drain", tenant.pk)]
        broker.work()
    assert broker.processed == waiting  # each once
    # But an event Redis lost (not in the inbox) is queued again
    [lost] = stale(tenant, 1)
    InboundEvent.objects.filter(pk__in=waiting).update(status=InboundEvent.Status.PROCESSED)
    with handed_to_processing() as handed:
        assert sweep_run().inbound_requeued == 1
    assert handed == [lost]


def test_the_sweep_restarts_a_drain_chain_whose_message_was_lost(tenant):
    waiting = stale(tenant, 2)
    with FifoBroker() as broker:
        inbox.inbox_push_many(tenant.pk, waiting)
        broker.queue.clear()  # the drain's message is lost (a worker killed before it acknowledged it) ...
        inbox.redis_quick().delete(f"mlc:inbox:ring:{tenant.pk}")  # ... and its doorbell has expired
        assert sweep_run().inbound_requeued == 0
        assert list(broker.queue) == [("drain", tenant.pk)]  # rung again, nothing queued twice
        broker.work()
    assert broker.processed == waiting
