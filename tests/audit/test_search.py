"""The activity search: every filter, blind-index exact matches, ignored events, sorting, tenant scope."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import Delivery, InboundEvent
from audit.selectors import delivery_search, inbound_search, search_filters_for_storage
from audit.services import inbound_index_fields
from connector.core.events import Action, FinancialEvent, Kind
from tests.factories import DeliveryFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


def ids(qs):
    return {obj.pk for obj in qs}


def test_no_filters_lists_only_this_tenants_deliveries_newest_first(tenant, other_tenant):
    old = DeliveryFactory(tenant=tenant, created_at=timezone.now() - timedelta(days=2))
    new = DeliveryFactory(tenant=tenant)
    DeliveryFactory(tenant=other_tenant)
    assert list(delivery_search(tenant=tenant, filters={})) == [new, old]


def test_date_range_since_inclusive_until_exclusive(tenant):
    now = timezone.now()
    a = DeliveryFactory(tenant=tenant, created_at=now - timedelta(days=10))
    b = DeliveryFactory(tenant=tenant, created_at=now - timedelta(days=5))
    DeliveryFactory(tenant=tenant, created_at=now - timedelta(days=1))
    found = delivery_search(tenant=tenant, filters={"since": a.created_at, "until": now - timedelta(days=2)})
    assert ids(found) == {a.pk, b.pk}
    # ISO strings work too (stored selections are JSON).
    found = delivery_search(tenant=tenant, filters={"since": (now - timedelta(days=6)).isoformat(),
                                                    "until": (now - timedelta(days=2)).isoformat()})
    assert ids(found) == {b.pk}


def test_event_kind_and_action(tenant):
    inv = DeliveryFactory(tenant=tenant, event_name="invoice.create")
    sent = DeliveryFactory(tenant=tenant, event_name="invoice.sendByEmail")
    pay = DeliveryFactory(tenant=tenant, event_name="payment.create")
    bill_upd = DeliveryFactory(tenant=tenant, event_name="bill.update")
    assert ids(delivery_search(tenant=tenant, filters={"event": "invoice.sendByEmail"})) == {sent.pk}
    assert ids(delivery_search(tenant=tenant, filters={"event": ["invoice.create", "bill.update"]})) == {
        inv.pk, bill_upd.pk}
    assert ids(delivery_search(tenant=tenant, filters={"kind": "invoice"})) == {inv.pk, sent.pk}
    assert ids(delivery_search(tenant=tenant, filters={"action": "created"})) == {inv.pk, pay.pk}
    assert ids(delivery_search(tenant=tenant, filters={"kind": "payment", "action": "created"})) == {pay.pk}


@pytest.mark.parametrize("status", list(Delivery.Status.values))
def test_each_delivery_status(tenant, status):
    wanted = DeliveryFactory(tenant=tenant, status=status)
    for other in Delivery.Status.values:
        if other != status:
            DeliveryFactory(tenant=tenant, status=other)
    assert ids(delivery_search(tenant=tenant, filters={"status": [status]})) == {wanted.pk}


def test_several_statuses_at_once(tenant):
    held = DeliveryFactory(tenant=tenant, status=Delivery.Status.HELD)
    failed = DeliveryFactory(tenant=tenant, status=Delivery.Status.FAILED)
    DeliveryFactory(tenant=tenant, status=Delivery.Status.POSTED)
    assert ids(delivery_search(tenant=tenant, filters={"status": ["held", "failed"]})) == {held.pk, failed.pk}


def test_ignored_selects_inbound_events_that_made_no_delivery(tenant, other_tenant):
    DeliveryFactory(tenant=tenant)
    no_rule = InboundEventFactory(tenant=tenant, name="invoice.create", status=InboundEvent.Status.IGNORED,
                                  status_reason="No rule matched this event")
    unhandled = InboundEventFactory(tenant=tenant, name="invoice.dispute", status=InboundEvent.Status.IGNORED)
    InboundEventFactory(tenant=tenant, status=InboundEvent.Status.DUPLICATE)
    InboundEventFactory(tenant=other_tenant, status=InboundEvent.Status.IGNORED)
    # "ignored" alone: no deliveries, the ignored events.
    assert not delivery_search(tenant=tenant, filters={"status": ["ignored"]}).exists()
    assert ids(inbound_search(tenant=tenant, filters={"status": ["ignored"]})) == {no_rule.pk, unhandled.pk}
    # No status at all: both sections. A delivery status only: no ignored section.
    assert ids(inbound_search(tenant=tenant, filters={})) == {no_rule.pk, unhandled.pk}
    assert not inbound_search(tenant=tenant, filters={"status": ["posted"]}).exists()
    # Kind matches unhandled names of that kind too; action only the handled names.
    assert ids(inbound_search(tenant=tenant, filters={"kind": "invoice"})) == {no_rule.pk, unhandled.pk}
    assert ids(inbound_search(tenant=tenant, filters={"action": "created"})) == {no_rule.pk}
    assert ids(inbound_search(tenant=tenant, filters={"event": "invoice.dispute"})) == {unhandled.pk}
    # An ignored event went to no channel.
    assert not inbound_search(tenant=tenant, filters={"channel_id": "C0SALES"}).exists()


def test_ignored_events_found_by_amount_counterparty_and_number(tenant):
    fin = FinancialEvent(event_name="invoice.create", kind=Kind.INVOICE, action=Action.CREATED, object_id="9",
                         amount=Decimal("1250.00"), currency="USD", counterparty="Globex Corporation",
                         document_number="0000451")
    event = InboundEventFactory(tenant=tenant, status=InboundEvent.Status.IGNORED, financial_event=fin.to_dict(),
                                **inbound_index_fields(fin))
    InboundEventFactory(tenant=tenant, status=InboundEvent.Status.IGNORED)
    assert ids(inbound_search(tenant=tenant, filters={"counterparty": "globex  CORPORATION"})) == {event.pk}
    assert ids(inbound_search(tenant=tenant, filters={"document_number": "0000451"})) == {event.pk}
    assert ids(inbound_search(tenant=tenant, filters={"amount_min": "1000", "amount_max": "2000"})) == {event.pk}


def test_channel(tenant):
    sales = DeliveryFactory(tenant=tenant, channel_id="C0SALES")
    DeliveryFactory(tenant=tenant, channel_id="C0BILLS")
    assert ids(delivery_search(tenant=tenant, filters={"channel_id": "C0SALES"})) == {sales.pk}


def test_amount_range_inclusive(tenant):
    small = DeliveryFactory(tenant=tenant, amount=Decimal("10.00"))
    mid = DeliveryFactory(tenant=tenant, amount=Decimal("500.00"))
    big = DeliveryFactory(tenant=tenant, amount=Decimal("5000.00"))
    DeliveryFactory(tenant=tenant, amount=None)
    assert ids(delivery_search(tenant=tenant, filters={"amount_min": Decimal("500"),
                                                       "amount_max": Decimal("5000")})) == {mid.pk, big.pk}
    assert ids(delivery_search(tenant=tenant, filters={"amount_max": "10"})) == {small.pk}
    assert ids(delivery_search(tenant=tenant, filters={"amount_min": "5000.00"})) == {big.pk}


def test_counterparty_exact_match_through_blind_index(tenant, other_tenant):
    acme = DeliveryFactory(tenant=tenant, counterparty_name="Acme Trading Ltd")
    DeliveryFactory(tenant=tenant, counterparty_name="Acme Trading")
    DeliveryFactory(tenant=other_tenant, counterparty_name="Acme Trading Ltd")
    assert ids(delivery_search(tenant=tenant, filters={"counterparty": "  acme   TRADING ltd "})) == {acme.pk}
    assert not delivery_search(tenant=tenant, filters={"counterparty": "Acme"}).exists()  # exact, not contains


def test_document_number_exact_match_through_blind_index(tenant):
    wanted = DeliveryFactory(tenant=tenant, number="INV-0042")
    DeliveryFactory(tenant=tenant, number="INV-00421")
    assert ids(delivery_search(tenant=tenant, filters={"document_number": "inv-0042"})) == {wanted.pk}


def test_stored_selection_holds_indexes_not_names(tenant):
    wanted = DeliveryFactory(tenant=tenant, counterparty_name="Initech LLC", number="B-7")
    DeliveryFactory(tenant=tenant)
    stored = search_filters_for_storage({"counterparty": "Initech LLC", "document_number": "B-7",
                                         "amount_min": Decimal("1.50"), "since": timezone.now() - timedelta(1)})
    assert "Initech" not in str(stored) and "B-7" not in str(stored)
    assert ids(delivery_search(tenant=tenant, filters=stored)) == {wanted.pk}


def test_object_id(tenant):
    wanted = DeliveryFactory(tenant=tenant)
    DeliveryFactory(tenant=tenant)
    assert ids(delivery_search(tenant=tenant, filters={"object_id": wanted.object_id})) == {wanted.pk}


def test_sorting_by_amount_status_and_date(tenant):
    now = timezone.now()
    a = DeliveryFactory(tenant=tenant, amount=Decimal("30"), status="posted", created_at=now - timedelta(hours=3))
    b = DeliveryFactory(tenant=tenant, amount=Decimal("10"), status="held", created_at=now - timedelta(hours=2))
    c = DeliveryFactory(tenant=tenant, amount=None, status="failed", created_at=now - timedelta(hours=1))
    d = DeliveryFactory(tenant=tenant, amount=Decimal("20"), status="pending", created_at=now)
    assert list(delivery_search(tenant=tenant, filters={"sort": "amount"})) == [b, d, a, c]  # unknown last
    assert list(delivery_search(tenant=tenant, filters={"sort": "-amount"})) == [a, d, b, c]
    assert list(delivery_search(tenant=tenant, filters={"sort": "created_at"})) == [a, b, c, d]
    assert list(delivery_search(tenant=tenant, filters={"sort": "-created_at"})) == [d, c, b, a]
    assert list(delivery_search(tenant=tenant, filters={"sort": "status"})) == [c, b, d, a]


def test_filters_combine(tenant):
    now = timezone.now()
    wanted = DeliveryFactory(tenant=tenant, event_name="invoice.create", status="held", channel_id="C1",
                             amount=Decimal("900"), counterparty_name="Umbrella", created_at=now - timedelta(hours=1))
    DeliveryFactory(tenant=tenant, event_name="invoice.create", status="held", channel_id="C2",
                    amount=Decimal("900"), counterparty_name="Umbrella")
    DeliveryFactory(tenant=tenant, event_name="invoice.create", status="posted", channel_id="C1",
                    amount=Decimal("900"), counterparty_name="Umbrella")
    found = delivery_search(tenant=tenant, filters={
        "kind": "invoice", "status": ["held"], "channel_id": "C1", "amount_min": "800", "counterparty": "umbrella",
        "since": now - timedelta(days=1)})
    assert ids(found) == {wanted.pk}


def test_channel_choices_are_this_tenants_channels_by_latest_name(tenant, other_tenant):
    from audit.selectors import delivery_channels

    now = timezone.now()
    DeliveryFactory(tenant=tenant, channel_id="C0SALES", channel_name="sales", created_at=now - timedelta(days=3))
    DeliveryFactory(tenant=tenant, channel_id="C0SALES", channel_name="sales-team", created_at=now)
    DeliveryFactory(tenant=tenant, channel_id="C0BILLS", channel_name="bills")
    DeliveryFactory(tenant=other_tenant, channel_id="C0THEIRS", channel_name="secret")
    assert delivery_channels(tenant=tenant) == [("C0BILLS", "bills"), ("C0SALES", "sales-team")]
    assert delivery_channels(tenant=other_tenant) == [("C0THEIRS", "secret")]
