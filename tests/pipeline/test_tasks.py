"""Scheduling channel drains: at most one waits per channel, unless the channel is needed sooner."""

from unittest import mock

from django.conf import settings

from connector.pipeline import pacing
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.policy import CHANNEL_INTERVAL_MS, MAX_TASK_COUNTDOWN
from tests.pipeline.conftest import TEAM


def scheduled(apply_async) -> list:
    """The countdown of each drain scheduled (None: at once)."""
    return [call.kwargs.get("countdown") for call in apply_async.call_args_list]


def test_a_kick_while_a_drain_is_already_scheduled_for_then_schedules_nothing():
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        channel_kick(TEAM, "C1", countdown=1.0)
        channel_kick(TEAM, "C1", countdown=1.0)  # e.g. a new message while the channel waits for its slot
        channel_kick(TEAM, "C1", countdown=30.0)
    assert scheduled(drain) == [1.0]


def test_a_new_message_is_not_held_back_by_a_drain_waiting_for_a_far_retry():
    # Given a channel whose only waiting delivery retries in 4 minutes, its drain scheduled for then
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        channel_kick(TEAM, "C1", countdown=240)
        # When a new message for that channel is kicked (process_event, or the sweep)
        channel_kick(TEAM, "C1")
    # Then a drain is scheduled at once rather than in 4 minutes
    assert scheduled(drain) == [240, None]


def test_no_drain_waits_longer_than_the_brokers_visibility_timeout_allows():
    # A retry due in 4 hours: the drain wakes after MAX_TASK_COUNTDOWN and kicks again for the rest,
    # so Celery never holds an ETA task the Redis transport would redeliver to another worker.
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        channel_kick(TEAM, "C1", countdown=4 * 3600)
    assert scheduled(drain) == [MAX_TASK_COUNTDOWN]
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > MAX_TASK_COUNTDOWN


def test_a_long_freshbooks_retry_is_left_to_the_sweep(monkeypatch):
    from connector.pipeline import inbound, tasks

    monkeypatch.setattr(inbound, "inbound_process",
                        lambda **kw: inbound.Outcome(status="retrying", retry_in=3600))
    with mock.patch.object(tasks.process_event, "apply_async") as again:
        tasks.process_event.run(42)
    again.assert_not_called()  # the sweep re-enqueues it once next_attempt_at has passed
    monkeypatch.setattr(inbound, "inbound_process", lambda **kw: inbound.Outcome(status="retrying", retry_in=60))
    with mock.patch.object(tasks.process_event, "apply_async") as again:
        tasks.process_event.run(42)
    again.assert_called_once_with((42,), countdown=60)


def test_a_superseded_drain_leaves_the_sooner_drains_claim_alone():
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        channel_kick(TEAM, "C1", countdown=240)
        channel_kick(TEAM, "C1")
        far_claim, near_claim = (call.args[0][2] for call in drain.call_args_list)
        pacing.release_drain(TEAM, "C1", far_claim)  # the far drain runs (late): the near one is still on its way
        channel_kick(TEAM, "C1", countdown=0.5)
    assert scheduled(drain) == [240, None]  # the near drain's claim still covers the channel
    pacing.release_drain(TEAM, "C1", near_claim)
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        channel_kick(TEAM, "C1")
    assert scheduled(drain) == [None]


def test_a_kick_while_the_channels_post_slot_is_taken_schedules_the_drain_for_when_it_opens():
    # Given a channel that has just posted: its post slot is taken for the next second
    pacing.slot_restart(TEAM, "C1")
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        # When new messages for it are kicked at once (process_event)
        channel_kick(TEAM, "C1")
        channel_kick(TEAM, "C1")
        channel_kick(TEAM, "C2")  # another channel's slot is free
    # Then one drain is scheduled for when the slot opens (sooner it could only find the slot taken)
    [slot_opens, other] = scheduled(drain)
    assert 0.8 < slot_opens <= CHANNEL_INTERVAL_MS / 1000 and other is None


def _processed_into(monkeypatch, *channels: str) -> None:
    """process_event finds its event processed into deliveries for `channels`, in this order."""
    from connector.pipeline import inbound

    monkeypatch.setattr(inbound, "inbound_process", lambda **kw: inbound.Outcome(
        status="processed", channels=tuple((TEAM, channel) for channel in channels)))


def test_process_event_posts_to_a_free_channel_itself_and_sends_no_drain_task(
        monkeypatch, installation, slack, make_delivery):
    from connector.pipeline import tasks

    delivery = make_delivery("C1")
    _processed_into(monkeypatch, "C1")
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        tasks.process_event.run(42)
    assert [p["channel"] for p in slack.posts] == ["C1"]
    delivery.refresh_from_db()
    assert delivery.status == "posted"
    assert scheduled(drain) == []
    assert not pacing.client().exists(f"mlc:drain:{TEAM}:C1")  # its drain claim is released


def test_process_event_leaves_a_channel_whose_slot_is_taken_to_a_drain_when_it_opens(
        monkeypatch, installation, slack, make_delivery):
    from connector.pipeline import tasks

    make_delivery("C1")
    pacing.slot_restart(TEAM, "C1")  # the channel has just posted
    _processed_into(monkeypatch, "C1")
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        tasks.process_event.run(42)
    assert slack.posts == []
    [countdown] = scheduled(drain)
    assert 0 < countdown <= CHANNEL_INTERVAL_MS / 1000


def test_process_event_posts_its_first_channel_itself_and_sends_the_others_drains_to_run_in_parallel(
        monkeypatch, installation, slack, make_delivery):
    from connector.pipeline import tasks

    make_delivery("C1")
    make_delivery("C2")
    _processed_into(monkeypatch, "C1", "C2")
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        tasks.process_event.run(42)
    assert [p["channel"] for p in slack.posts] == ["C1"]
    assert [call.args[0][:2] for call in drain.call_args_list] == [(TEAM, "C2")]


def test_an_error_in_process_events_own_drain_leaves_the_channel_to_a_drain_task(
        monkeypatch, installation, slack, make_delivery):
    from connector.pipeline import tasks

    make_delivery("C1")
    _processed_into(monkeypatch, "C1")
    monkeypatch.setattr(tasks, "channel_drain_once", mock.Mock(side_effect=RuntimeError("database went away")))
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        tasks.process_event.run(42)  # the event stays processed: no error escapes
    assert slack.posts == []
    assert [(call.args[0][:2], call.kwargs.get("countdown")) for call in drain.call_args_list] == [((TEAM, "C1"), None)]
