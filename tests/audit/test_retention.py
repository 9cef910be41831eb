"""Retention deletes only what is old and finished, in batches; the activity chain stays verifiable;
deleting a tenant removes every row it owns."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone

from audit.activity import activity_record, activity_verify
from audit.export import export_job_start
from audit.models import ActivityLog, Card, Delivery, DeliveryAttempt, InboundEvent, InvoiceState
from audit.retention import retention_purge_tenant
from audit.tasks import retention_purge
from connector.pipeline.bulk_replay import bulk_replay_create
from tenants.invitations import invitation_create
from tenants.models import Membership, TenantOwned
from tenants.services import api_token_create
from tenants.slack_links import slack_link_offer, slack_link_save
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


def _age(obj, days):
    when = timezone.now() - timedelta(days=days)
    if isinstance(obj, InboundEvent):
        InboundEvent.objects.filter(pk=obj.pk).update(received_at=when, created_at=when)
    else:
        Delivery.objects.filter(pk=obj.pk).update(created_at=when)
        InboundEvent.objects.filter(pk=obj.inbound_event_id).update(received_at=when, created_at=when)
    return obj


def test_deletes_only_old_and_finished(tenant, other_tenant):
    tenant.retention_days = 30
    tenant.save()
    old_posted = _age(DeliveryFactory(tenant=tenant, status="posted"), 31)
    DeliveryAttemptFactory(delivery=old_posted)
    old_failed = _age(DeliveryFactory(tenant=tenant, status="failed"), 45)
    old_ignored = _age(InboundEventFactory(tenant=tenant, status=InboundEvent.Status.IGNORED), 60)
    # Kept: recent, still open (whatever the age), open inbound processing, another tenant's.
    recent = _age(DeliveryFactory(tenant=tenant, status="posted"), 29)
    kept_open = {status: _age(DeliveryFactory(tenant=tenant, status=status), 200)
                 for status in ("pending", "retrying", "held")}
    old_event_with_open_replay = _age(DeliveryFactory(tenant=tenant, status="failed"), 40)
    DeliveryFactory(tenant=tenant, inbound_event=old_event_with_open_replay.inbound_event, status="pending",
                    replay_of=old_event_with_open_replay)
    held_inbound = _age(InboundEventFactory(tenant=tenant, status=InboundEvent.Status.HELD), 100)
    theirs = _age(DeliveryFactory(tenant=other_tenant, status="posted"), 365)

    report = retention_purge_tenant(tenant=tenant, batch_size=2)

    assert (report.inbound_events, report.deliveries, report.attempts) == (3, 2, 1)
    assert not Delivery.objects.filter(pk__in=[old_posted.pk, old_failed.pk]).exists()
    assert not InboundEvent.objects.filter(pk__in=[old_posted.inbound_event_id, old_ignored.pk]).exists()
    assert not DeliveryAttempt.objects.filter(delivery_id=old_posted.pk).exists()
    survivors = set(Delivery.objects.values_list("pk", flat=True))
    assert {recent.pk, theirs.pk, old_event_with_open_replay.pk, *(d.pk for d in kept_open.values())} <= survivors
    assert InboundEvent.objects.filter(pk=held_inbound.pk).exists()
    entry = ActivityLog.objects.get(tenant=tenant, action="audit.retention_purged")
    assert entry.details["deliveries"] == 2 and entry.details["retention_days"] == 30
    # Run again: nothing more to do, nothing recorded.
    assert retention_purge_tenant(tenant=tenant).inbound_events == 0
    assert ActivityLog.objects.filter(tenant=tenant, action="audit.retention_purged").count() == 1


def test_activity_chain_still_verifies_after_a_purge(tenant, owner):
    for i in range(3):
        activity_record(tenant=tenant, actor=owner, action="rule.created", target=f"rule {i}")
    _age(DeliveryFactory(tenant=tenant, status="posted"), 400)
    retention_purge_tenant(tenant=tenant)
    assert activity_verify(tenant=tenant) is None
    call_command("verify_audit", tenant=tenant.slug)


def test_beat_task_purges_every_tenant(tenant, other_tenant, monkeypatch):
    from audit import tasks

    mine = _age(DeliveryFactory(tenant=tenant, status="posted"), 400)
    theirs = _age(DeliveryFactory(tenant=other_tenant, status="posted"), 400)
    monkeypatch.setattr(tasks.retention_purge_tenant, "delay", lambda pk: tasks.retention_purge_tenant.run(pk))
    retention_purge.run()
    assert not Delivery.objects.filter(pk__in=[mine.pk, theirs.pk]).exists()


def test_retention_is_scheduled_daily():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["retention-purge"]
    assert entry["task"] == "audit.tasks.retention_purge"
    assert entry["schedule"].remaining_estimate(timezone.now()) <= timedelta(days=1)


def test_deleting_a_tenant_removes_all_of_its_data(tenant, owner, other_tenant, other_owner, slack_workspace):
    for t, user in ((tenant, owner), (other_tenant, other_owner)):
        delivery = DeliveryFactory(tenant=t, status="failed")
        DeliveryAttemptFactory(delivery=delivery)
        InboundEventFactory(tenant=t, status=InboundEvent.Status.IGNORED)
        api_token_create(tenant=t, user=user)
        bulk_replay_create(tenant=t, actor=user, filters={}, max_delivery_id=delivery.pk, mode="as_routed")
        invitation_create(tenant=t, invited_by=Membership.objects.get(tenant=t, user=user),
                          email=f"new-{t.pk}@example.com", role="viewer")
        export_job_start(tenant=t, actor=user, filters={}, filename="activity.csv")
        InvoiceState.objects.create(tenant=t, invoice_id="1", claimed_by=user)
        Card.objects.create(tenant=t, slack_team_id="T1", channel_id="C1", document_kind="invoice", document_id="1")
        slack_link_save(tenant=t, user=user, team_id="T1", slack_user_id="U1", linked_by="operator", actor=user)
        slack_link_offer(tenant=t, team_id="T1", slack_user_id="U2")
    owned = [m for m in apps.get_models() if issubclass(m, TenantOwned)]
    assert all(m.objects.filter(tenant=tenant).exists() for m in owned if m._meta.app_label in ("audit", "tenants"))

    tenant.delete()

    for model in owned:
        assert not model.objects.filter(tenant_id=tenant.pk).exists(), model
    assert Delivery.objects.filter(tenant=other_tenant).exists()
    assert activity_verify(tenant=other_tenant) is None
