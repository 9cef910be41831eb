"""Claiming an inbound event: one statement takes a due event for a lease and reads it back with its tenant;
an event not due, held or done, or taken by another worker, is not claimed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit import ledger
from audit.models import InboundEvent
from tests.concurrency import at_once

pytestmark = pytest.mark.django_db

LEASE = timedelta(seconds=60)


def make_event(tenant, *, status=InboundEvent.Status.RECEIVED, due_in: float | None = None) -> InboundEvent:
    return InboundEvent.objects.create(
        tenant=tenant, name="invoice.create", object_id="42", raw_body="name=invoice.create&object_id=42",
        status=status, next_attempt_at=timezone.now() + timedelta(seconds=due_in) if due_in is not None else None)


def test_a_claim_takes_a_due_event_for_the_lease_and_reads_it_with_its_tenant_in_one_query(
        tenant, django_assert_num_queries):
    event = make_event(tenant, status=InboundEvent.Status.RETRYING, due_in=-5)
    before = timezone.now()
    with django_assert_num_queries(1):
        claimed = ledger.inbound_claim(inbound_event_id=event.pk, lease=LEASE)
        assert (claimed.tenant.pk, claimed.tenant.name, claimed.tenant.slug) == (tenant.pk, tenant.name, tenant.slug)
    stored = InboundEvent.objects.get(pk=event.pk)
    assert claimed.pk == event.pk and claimed.attempts == stored.attempts == 1
    assert before + LEASE <= claimed.next_attempt_at == stored.next_attempt_at <= timezone.now() + LEASE
    assert (claimed.status, claimed.received_at, claimed.name) == (stored.status, stored.received_at, stored.name)
    # Processing reads neither the webhook's body nor an earlier normalised event: both stay encrypted, unread.
    assert {"raw_body", "financial_event"} <= claimed.get_deferred_fields()
    assert claimed.raw_body == "name=invoice.create&object_id=42"  # still there when asked for


@pytest.mark.parametrize(("status", "due_in"), [
    (InboundEvent.Status.RECEIVED, 30),  # leased by another worker
    (InboundEvent.Status.RETRYING, 30),  # its retry is not due yet
    (InboundEvent.Status.HELD, None),
    (InboundEvent.Status.PROCESSED, None),
    (InboundEvent.Status.FAILED, None),
])
def test_an_event_not_due_or_not_processable_is_not_claimed(tenant, status, due_in):
    event = make_event(tenant, status=status, due_in=due_in)
    assert ledger.inbound_claim(inbound_event_id=event.pk, lease=LEASE) is None
    stored = InboundEvent.objects.get(pk=event.pk)
    assert (stored.status, stored.attempts) == (status, 0)
    assert stored.next_attempt_at == event.next_attempt_at


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_the_same_event_at_once_make_one_winner(tenant):
    event = make_event(tenant)
    claims = at_once(lambda: ledger.inbound_claim(inbound_event_id=event.pk, lease=LEASE))
    assert len(claims) == 2
    assert [c.pk for c in claims if c is not None] == [event.pk]
    assert InboundEvent.objects.get(pk=event.pk).attempts == 1


def test_on_sqlite_the_claim_takes_the_same_event_in_two_statements(tenant, monkeypatch, django_assert_num_queries):
    # SQLite (`make run`'s default database) cannot return a joined table's columns from UPDATE ... FROM.
    monkeypatch.setattr(connection, "vendor", "sqlite")
    event = make_event(tenant, due_in=-1)
    with django_assert_num_queries(2):
        claimed = ledger.inbound_claim(inbound_event_id=event.pk, lease=LEASE)
        assert claimed.tenant.slug == tenant.slug
    assert claimed.attempts == InboundEvent.objects.get(pk=event.pk).attempts == 1
    assert ledger.inbound_claim(inbound_event_id=event.pk, lease=LEASE) is None  # leased now
