"""A channel shows its news in the order FreshBooks told us of it, though workers read events in parallel:
a post waits while an earlier event of its tenant is still being read, and reading that event wakes it."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from audit import ledger
from audit.models import Delivery, InboundEvent
from connector.pipeline import inbound, order, tasks
from connector.pipeline.policy import CLAIM_LEASE, ORDER_WAIT, ORDER_WAIT_CLAIMS, ORDER_WAIT_READING
from tests.pipeline.conftest import TEAM, drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def told(tenant):
    """Events received from FreshBooks, in this order, not yet read."""
    def make(count: int) -> list[InboundEvent]:
        return [InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id=str(n), raw_body="",
                                            dedupe_key=f"invoice.create:{n}") for n in range(count)]
    return make


@pytest.fixture
def reading(monkeypatch, installation):
    """process_event reads an event into one post to the channel given in `routes` (none: no rule matched),
    as inbound_process does it: the event processed and its delivery made in one transaction."""
    routes: dict[int, str | None] = {}

    def read(*, inbound_event_id):
        event = InboundEvent.objects.get(pk=inbound_event_id)
        channel = routes[inbound_event_id]
        with transaction.atomic():
            InboundEvent.objects.filter(pk=event.pk).update(
                status=InboundEvent.Status.PROCESSED if channel else InboundEvent.Status.IGNORED)
            if channel:
                text = f"event {event.object_id}"
                Delivery.objects.create(tenant=event.tenant, inbound_event=event, event_name=event.name,
                                        object_id=event.object_id, kind="invoice", action="created",
                                        slack_team_id=TEAM, channel_id=channel, channel_name=channel.lower(),
                                        message_text=text, message_blocks=[])
        return inbound.Outcome(status="processed", channels=((TEAM, channel),) if channel else ())

    monkeypatch.setattr(inbound, "inbound_process", read)
    return routes


def drains_sent(apply_async) -> list[str]:
    return [call.args[0][1] for call in apply_async.call_args_list]


def run_drains_sent(apply_async) -> None:
    """Run the drain tasks sent so far as a worker would, once the channel's pace allows (not waited for)."""
    from connector.pipeline import pacing

    for call in apply_async.call_args_list:
        pacing.client().delete(f"mlc:pace:{TEAM}:{call.args[0][1]}")
        tasks.drain_channel.run(*call.args[0])
    apply_async.reset_mock()


def test_a_later_event_read_first_waits_for_the_earlier_one_then_both_post_in_order(told, reading, slack):
    # Given two invoices told in this order for one channel, the second read first (another worker was
    # still fetching the first from FreshBooks)
    first, second = told(2)
    reading[first.pk] = reading[second.pk] = "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as sent:
        tasks.process_event.run(second.pk)
        # Then nothing is posted yet: the first may (and does) bring a post for the same channel
        assert slack.posts == []
        # When the first is read
        tasks.process_event.run(first.pk)
        # Then the first goes out at once and the second after the channel's second, in FreshBooks' order
        assert [p["text"] for p in slack.posts] == ["event 0"]
        assert drains_sent(sent) == ["C1"]
        run_drains_sent(sent)
    assert [p["text"] for p in slack.posts] == ["event 0", "event 1"]


def test_an_earlier_event_with_no_post_for_the_channel_wakes_it_once_read(told, reading, slack):
    # Given a channel's post waiting for an earlier event, which no rule matches
    first, second = told(2)
    reading[first.pk], reading[second.pk] = None, "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as sent:
        tasks.process_event.run(second.pk)
        assert slack.posts == [] and drains_sent(sent) == []
        # When the earlier event is read
        tasks.process_event.run(first.pk)
        # Then the waiting channel is drained, and only once
        assert drains_sent(sent) == ["C1"]
        run_drains_sent(sent)
    assert [p["text"] for p in slack.posts] == ["event 1"]


def test_a_post_waits_for_every_earlier_event_not_just_the_latest(told, reading, slack):
    first, second, third = told(3)
    reading.update({first.pk: "C2", second.pk: None, third.pk: "C1"})
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as sent:
        tasks.process_event.run(third.pk)
        tasks.process_event.run(second.pk)  # the latest earlier event is read; the first is not yet
        assert drains_sent(sent) == ["C1"]
        run_drains_sent(sent)
        assert slack.posts == []  # the first is still unread
        tasks.process_event.run(first.pk)
        assert drains_sent(sent) == ["C1"]
        run_drains_sent(sent)
    assert [(p["channel"], p["text"]) for p in slack.posts] == [("C2", "event 0"), ("C1", "event 2")]


def test_an_earlier_event_read_just_after_the_head_was_read_still_posts_first(monkeypatch, told, reading, slack):
    # Given a channel's post waiting for an earlier event of the same channel
    first, second = told(2)
    reading[first.pk] = reading[second.pk] = "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(second.pk)
    assert slack.posts == []
    real = ledger.channel_head

    def head_then_the_other_worker_reads(**kw):
        head = real(**kw)
        monkeypatch.setattr(ledger, "channel_head", real)
        with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
            tasks.process_event.run(first.pk)  # finishes reading the earlier event, before any note is written
        return head

    monkeypatch.setattr(ledger, "channel_head", head_then_the_other_worker_reads)
    # When a drain reads the head (the later post) just before the earlier event is read elsewhere
    result = drain("C1")
    # Then that drain does not post what it read: it reads the head again, and the earlier news goes first
    assert (result.posted, result.again_in) == (0, 0.0)
    assert [p["text"] for p in slack.posts] == ["event 0"]  # the other worker's own post
    drain("C1")
    assert [p["text"] for p in slack.posts] == ["event 0", "event 1"]


def test_the_head_read_says_which_earlier_event_it_waits_for_in_the_same_statement(told, reading, head_read):
    first, second = told(2)
    reading[second.pk] = "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(second.pk)
    assert head_read("C1").unread_before == first.pk
    claimed(first, ago=timedelta(seconds=1))  # being read
    assert head_read("C1").unread_before == first.pk
    claimed(first, ago=ORDER_WAIT_READING + timedelta(seconds=1))  # its read failed, or its worker died
    assert head_read("C1").unread_before is None
    InboundEvent.objects.filter(pk=first.pk).update(status=InboundEvent.Status.PROCESSED, next_attempt_at=None)
    assert head_read("C1").unread_before is None


def claimed(event: InboundEvent, ago: timedelta) -> None:
    """As a worker's claim of the event `ago` leaves it, the read not finished since."""
    InboundEvent.objects.filter(pk=event.pk).update(attempts=1, next_attempt_at=timezone.now() - ago + CLAIM_LEASE)


@pytest.mark.parametrize("stuck", ["received long ago", "claimed too often", "read for too long", "retrying",
                                   "held"])
def test_an_earlier_event_that_cannot_be_read_now_does_not_hold_later_news_back(stuck, told, reading, slack):
    first, second = told(2)
    reading[second.pk] = "C1"
    if stuck == "received long ago":
        InboundEvent.objects.filter(pk=first.pk).update(received_at=timezone.now() - ORDER_WAIT - timedelta(1))
    elif stuck == "claimed too often":  # a worker died on it each time it took it
        InboundEvent.objects.filter(pk=first.pk).update(attempts=ORDER_WAIT_CLAIMS)
    elif stuck == "read for too long":  # its worker died, or its read failed and waits for the sweep
        claimed(first, ago=ORDER_WAIT_READING + timedelta(seconds=1))
    else:  # FreshBooks down (it retries later), or FreshBooks to reconnect (a person must act)
        InboundEvent.objects.filter(pk=first.pk).update(status=stuck)
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(second.pk)
    assert [p["text"] for p in slack.posts] == ["event 1"]


def test_an_earlier_event_being_read_right_now_holds_later_news_back(told, reading, slack):
    first, second = told(2)
    reading[second.pk] = "C1"
    claimed(first, ago=ORDER_WAIT_READING - timedelta(seconds=5))
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(second.pk)
    assert slack.posts == []


def test_another_tenants_unread_events_hold_nothing_back(told, reading, slack, other_tenant):
    InboundEvent.objects.create(tenant=other_tenant, name="invoice.create", object_id="9", raw_body="")
    [event] = told(1)
    reading[event.pk] = "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(event.pk)
    assert [p["text"] for p in slack.posts] == ["event 0"]


def other_tenants_post(other_tenant, channel_id: str, text: str) -> Delivery:
    """A post of another tenant whose Slack is the same workspace, its event read (told after ours)."""
    from connector.slack.models import InstallationStatus, SlackInstallation

    SlackInstallation.objects.get_or_create(tenant=other_tenant, defaults={
        "team_id": TEAM, "bot_token": "xoxb-other-token", "installed_at": timezone.now(),
        "status": InstallationStatus.ACTIVE})
    event = InboundEvent.objects.create(tenant=other_tenant, name="invoice.create", object_id=text, raw_body="",
                                        status=InboundEvent.Status.PROCESSED)
    return Delivery.objects.create(tenant=other_tenant, inbound_event=event, event_name=event.name,
                                   object_id=text, kind="invoice", action="created", slack_team_id=TEAM,
                                   channel_id=channel_id, channel_name=channel_id.lower(), message_text=text,
                                   message_blocks=[])


def test_another_tenants_post_in_a_shared_workspace_goes_while_ours_waits_for_our_news(
        told, reading, slack, other_tenant):
    first, second = told(2)
    reading[first.pk] = reading[second.pk] = "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(second.pk)  # ours waits for the first
    other_tenants_post(other_tenant, "C1", "theirs")
    assert drain("C1").posted == 1
    assert [p["text"] for p in slack.posts] == ["theirs"]
    assert drain("C1").posted == 0  # ours still waits
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(first.pk)
    drain("C1")
    assert [p["text"] for p in slack.posts] == ["theirs", "event 0", "event 1"]


def test_another_tenant_waiting_for_its_own_news_keeps_its_order_too(told, reading, slack, other_tenant):
    first, second = told(2)
    reading[second.pk] = "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        tasks.process_event.run(second.pk)  # ours waits for the first
    InboundEvent.objects.create(tenant=other_tenant, name="invoice.create", object_id="t0", raw_body="")
    other_tenants_post(other_tenant, "C1", "theirs")  # told after their own event, still unread
    assert drain("C1").posted == 0 and slack.posts == []  # each waits for its own tenant's news


def test_a_wake_up_lost_with_redis_is_made_good_by_the_sweep(told, reading, slack):
    from connector.pipeline import pacing
    from connector.pipeline.sweep import sweep_run

    first, second = told(2)
    reading[first.pk], reading[second.pk] = None, "C1"
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as sent:
        tasks.process_event.run(second.pk)
        pacing.client().flushdb()  # Redis restarted empty: the note is gone
        tasks.process_event.run(first.pk)
        assert drains_sent(sent) == []
        sweep_run()
        assert drains_sent(sent) == ["C1"]
        run_drains_sent(sent)
    assert [p["text"] for p in slack.posts] == ["event 1"]
    assert ORDER_WAIT.total_seconds() < order.NOTE_TTL
