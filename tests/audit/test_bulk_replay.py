"""Bulk replay: the selection is the search's, frozen at the preview; batches record progress and the
activity log; viewers cannot; a lost or repeated task never replays a delivery twice."""

import pytest
from django.db.models import Count

from audit.models import ActivityLog, BulkReplay, Delivery
from audit.selectors import delivery_search
from audit.services import bulk_replay_preview
from connector.pipeline.bulk_replay import bulk_replay_create, bulk_replay_run_batch
from connector.pipeline.tasks import bulk_replay as bulk_replay_task
from tests.audit.conftest import UNKNOWN_CHANNEL
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_deliveries(tenant, other_tenant):
    failed = [DeliveryFactory(tenant=tenant, status="failed", channel_id="C0SALES") for _ in range(100)]
    DeliveryFactory.create_batch(7, tenant=tenant, status="posted", channel_id="C0SALES")
    DeliveryFactory.create_batch(3, tenant=tenant, status="failed", channel_id="C0OTHER")
    DeliveryFactory.create_batch(5, tenant=other_tenant, status="failed", channel_id="C0SALES")
    return failed


def test_bulk_replay_of_a_search_from_preview_to_done(owner_client, owner, tenant, failed_deliveries,
                                                      slack_workspace, django_capture_on_commit_callbacks,
                                                      monkeypatch):
    query = {"status": "failed", "channel_id": "C0SALES"}
    search_count = delivery_search(tenant=tenant, filters={"status": ["failed"], "channel_id": "C0SALES"}).count()
    assert search_count == 100

    # Given the preview: it shows the search's count and asks for confirmation.
    preview = owner_client.get("/activity/replay/", query)
    assert preview.status_code == 200
    assert "Replay 100 deliveries?" in preview.content.decode()
    max_id = preview.context["replay_form"].initial["max_delivery_id"]

    # A delivery arriving between preview and confirmation is not swept in.
    DeliveryFactory(tenant=tenant, status="failed", channel_id="C0SALES")

    # When confirmed, one BulkReplay with the frozen count, and its task is rung after commit.
    rung = []
    monkeypatch.setattr(bulk_replay_task, "apply_async", lambda args, **kwargs: rung.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/activity/replay/?status=failed&channel_id=C0SALES",
                                     {"mode": "as_routed", "to_channel_id": "", "max_delivery_id": max_id})
    bulk = BulkReplay.objects.get(tenant=tenant)
    assert response.status_code == 302 and response["Location"] == f"/activity/replay/{bulk.pk}/"
    assert (bulk.total, bulk.done, bulk.status, bulk.requested_by) == (100, 0, "queued", owner)
    assert rung == [bulk.pk]
    assert "0 of 100 replayed" in owner_client.get(f"/activity/replay/{bulk.pk}/").content.decode()

    # Then batches run: progress after the first, all 100 replayed once each at the end.
    assert bulk_replay_run_batch(bulk_id=bulk.pk, batch_size=40) is True
    bulk.refresh_from_db()
    assert (bulk.done, bulk.status, bulk.percent) == (40, "running", 40)
    page = owner_client.get(f"/activity/replay/{bulk.pk}/").content.decode()
    assert "40 of 100 replayed" in page and 'http-equiv="refresh"' in page
    while bulk_replay_run_batch(bulk_id=bulk.pk, batch_size=40):
        pass
    bulk.refresh_from_db()
    assert (bulk.done, bulk.skipped, bulk.status, bulk.percent) == (100, 0, "done", 100)
    replays = Delivery.objects.filter(tenant=tenant, replay_of__isnull=False)
    assert replays.count() == 100
    assert set(replays.values_list("replay_of_id", flat=True)) == {d.pk for d in failed_deliveries}
    assert not replays.values("replay_of_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(replays.values_list("status", flat=True)) == {"pending"}
    assert 'http-equiv="refresh"' not in owner_client.get(f"/activity/replay/{bulk.pk}/").content.decode()

    actions = list(ActivityLog.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert actions.count("delivery.bulk_replay_requested") == 1
    assert actions.count("delivery.bulk_replay_finished") == 1
    assert actions.count("delivery.replay_requested") == 100
    finished = ActivityLog.objects.get(tenant=tenant, action="delivery.bulk_replay_finished")
    assert finished.actor == owner and finished.details["replayed"] == 100


def test_preview_count_equals_search_count_for_each_kind_of_search(tenant, failed_deliveries):
    for filters in ({}, {"status": ["failed"]}, {"channel_id": "C0OTHER"}, {"status": ["posted", "failed"]},
                    {"counterparty": "Acme Trading Ltd"}, {"status": ["ignored"]}):
        count, max_id = bulk_replay_preview(tenant=tenant, filters=filters)
        assert count == delivery_search(tenant=tenant, filters=filters).count(), filters


def test_a_repeated_or_concurrent_task_does_not_replay_twice(owner, tenant, failed_deliveries, slack_workspace):
    bulk = bulk_replay_create(tenant=tenant, actor=owner, filters={"status": ["failed"], "channel_id": "C0SALES"},
                              max_delivery_id=failed_deliveries[-1].pk, mode="as_routed")
    while bulk_replay_run_batch(bulk_id=bulk.pk):
        pass
    assert bulk_replay_run_batch(bulk_id=bulk.pk) is False  # a redelivered task finds it done
    assert Delivery.objects.filter(replay_of__isnull=False).count() == 100


def test_refused_replays_are_counted_and_the_rest_carry_on(owner, tenant, slack_workspace):
    deliveries = DeliveryFactory.create_batch(3, tenant=tenant, status="failed")
    bulk = bulk_replay_create(tenant=tenant, actor=owner, filters={"status": ["failed"]},
                              max_delivery_id=deliveries[-1].pk, mode="as_routed", to_channel_id=UNKNOWN_CHANNEL)
    assert bulk_replay_run_batch(bulk_id=bulk.pk) is False
    bulk.refresh_from_db()
    assert (bulk.done, bulk.skipped, bulk.status) == (0, 3, "done")
    assert "not in this business's Slack workspace" in bulk.last_error


def test_an_unexpected_error_stops_the_replay_with_a_plain_message(owner, tenant, monkeypatch):
    deliveries = DeliveryFactory.create_batch(2, tenant=tenant, status="failed")
    bulk = bulk_replay_create(tenant=tenant, actor=owner, filters={}, max_delivery_id=deliveries[-1].pk,
                              mode="as_routed")

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("connector.pipeline.bulk_replay.delivery_replay", broken)
    bulk_replay_task.run(bulk.pk)
    bulk.refresh_from_db()
    assert bulk.status == "failed" and "unexpected error" in bulk.last_error
    assert not Delivery.objects.filter(replay_of__isnull=False).exists()


def test_nothing_selected_is_refused(owner_client, tenant):
    response = owner_client.post("/activity/replay/?status=failed", {"mode": "as_routed", "max_delivery_id": 0},
                                 follow=True)
    assert "selects no deliveries" in response.content.decode()
    assert not BulkReplay.objects.exists()


def test_progress_page_of_another_tenant_is_404(owner_client, other_tenant, other_owner):
    theirs = DeliveryFactory(tenant=other_tenant)
    bulk = bulk_replay_create(tenant=other_tenant, actor=other_owner, filters={}, max_delivery_id=theirs.pk,
                              mode="as_routed")
    assert owner_client.get(f"/activity/replay/{bulk.pk}/").status_code == 404


def test_a_bulk_replay_whose_task_was_lost_is_rung_again(owner, tenant, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from connector.pipeline.tasks import bulk_replay_resume

    deliveries = DeliveryFactory.create_batch(2, tenant=tenant, status="failed")
    lost = bulk_replay_create(tenant=tenant, actor=owner, filters={}, max_delivery_id=deliveries[-1].pk,
                              mode="as_routed")
    fresh = bulk_replay_create(tenant=tenant, actor=owner, filters={}, max_delivery_id=deliveries[-1].pk,
                               mode="as_routed")
    BulkReplay.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    rung = []
    monkeypatch.setattr(bulk_replay_task, "delay", lambda pk: rung.append(pk))
    bulk_replay_resume.run()
    assert rung == [lost.pk] and fresh.pk not in rung
