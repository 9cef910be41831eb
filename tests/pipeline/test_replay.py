"""Replay through the real pipeline: posted once, linked to the original, at the channel's pace."""

from unittest import mock

import pytest
from django.utils import timezone

from audit.models import Delivery
from audit.services import bulk_replay_preview
from connector.pipeline.bulk_replay import bulk_replay_create, bulk_replay_run_batch
from connector.pipeline.delivery import channel_drain_once
from connector.pipeline.replay import ReplayMode, delivery_replay
from tests.pipeline.conftest import TEAM, drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(tenant, installation):
    from connector.slack.models import SlackChannel

    for cid, name in (("C1", "accounting"), ("C9", "finance")):
        SlackChannel.objects.create(tenant=tenant, installation=installation, channel_id=cid, name=name,
                                    refreshed_at=timezone.now())



def test_failed_delivery_replayed_after_the_fix_is_posted_once_and_linked(tenant, owner, installation, channels,
                                                                          slack, make_delivery):
    original = make_delivery("C1", text="Invoice 0042 created")
    slack.script["C1"] = ["invalid_blocks"]  # refused: failed at once
    drain("C1")
    original.refresh_from_db()
    assert original.status == Delivery.Status.FAILED

    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async"):
        [replay] = delivery_replay(tenant=tenant, delivery=original, actor=owner, mode=ReplayMode.AS_ROUTED,
                                   channel_id="C9")
    assert replay.replay_of_id == original.pk and replay.requested_by == owner
    assert drain("C9").posted == 1
    assert drain("C9").posted == 0  # nothing more to post: exactly once
    replay.refresh_from_db()
    assert replay.status == Delivery.Status.POSTED
    assert [p["text"] for p in slack.posts_to("C9")] == ["Invoice 0042 created"]
    assert slack.posts_to("C9")[0]["metadata"]["event_payload"]["delivery_id"] == replay.pk
    assert list(original.replays.all()) == [replay]


def test_bulk_replay_of_100_failed_deliveries_posts_all_100_at_the_channel_pace(
        tenant, owner, installation, channels, slack, make_delivery, django_capture_on_commit_callbacks):
    failed = [make_delivery("C1", status=Delivery.Status.FAILED, text=f"bill {i}") for i in range(100)]
    count, max_id = bulk_replay_preview(tenant=tenant, filters={"status": "failed"})
    assert count == 100
    with mock.patch("connector.pipeline.tasks.bulk_replay.apply_async"), mock.patch("connector.pipeline.tasks.drain_channel.apply_async"), \
            django_capture_on_commit_callbacks(execute=True):
        bulk = bulk_replay_create(tenant=tenant, actor=owner, filters={"status": "failed"}, max_delivery_id=max_id,
                                  mode=ReplayMode.AS_ROUTED)
        while bulk_replay_run_batch(bulk_id=bulk.pk):
            pass
    bulk.refresh_from_db()
    assert (bulk.done, bulk.total) == (100, 100)

    first = channel_drain_once(team_id=TEAM, channel_id="C1")
    same_second = channel_drain_once(team_id=TEAM, channel_id="C1")
    assert first.posted == 1 and same_second.posted == 0 and same_second.again_in > 0  # the channel's pace
    for _ in range(99):
        assert drain("C1").posted == 1
    assert [p["text"] for p in slack.posts_to("C1")] == [f"bill {i}" for i in range(100)]  # in order, once each
    replays = Delivery.objects.for_tenant(tenant).filter(replay_of__isnull=False)
    assert replays.count() == 100 and set(replays.values_list("status", flat=True)) == {"posted"}
    assert set(replays.values_list("replay_of_id", flat=True)) == {d.pk for d in failed}
