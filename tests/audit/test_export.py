"""CSV export: streamed, decrypted, the same filters as the search, formulas neutralised."""

import csv
import io
from decimal import Decimal

import pytest

from audit.export import csv_safe
from audit.models import InboundEvent
from tests.factories import DeliveryFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


def rows(response):
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
    ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("Acme = Best", "Acme = Best"), ("", ""), (Decimal("-5.00"), Decimal("-5.00")),
])
def test_cells_that_start_a_formula_are_neutralised(value, expected):
    assert csv_safe(value) == expected


def test_export_neutralises_formulas_in_names_and_numbers(owner_client, tenant):
    DeliveryFactory(tenant=tenant, counterparty_name="=cmd|' /C calc'!A0", number="@SUM(1+1)",
                    amount=Decimal("-12.50"))
    [row] = rows(owner_client.get("/activity/export.csv"))
    assert row["counterparty"] == "'=cmd|' /C calc'!A0"
    assert row["document_number"] == "'@SUM(1+1)"
    assert row["amount"] == "-12.50"  # our own number, not text from outside


def test_export_follows_the_search_and_decrypts(owner_client, tenant, other_tenant):
    DeliveryFactory(tenant=tenant, counterparty_name="Acme Trading Ltd", number="INV-1", status="held")
    DeliveryFactory(tenant=tenant, counterparty_name="Globex", number="INV-2", status="posted")
    DeliveryFactory(tenant=other_tenant, counterparty_name="Acme Trading Ltd", number="INV-3", status="held")
    found = rows(owner_client.get("/activity/export.csv", {"status": "held"}))
    assert [(r["document_number"], r["counterparty"], r["status"]) for r in found] == [
        ("INV-1", "Acme Trading Ltd", "held")]
    assert len(rows(owner_client.get("/activity/export.csv"))) == 2


def test_export_includes_ignored_events_when_asked(owner_client, tenant):
    DeliveryFactory(tenant=tenant)
    InboundEventFactory(tenant=tenant, name="invoice.dispute", status=InboundEvent.Status.IGNORED,
                        status_reason="Not an event we post")
    found = rows(owner_client.get("/activity/export.csv", {"status": "ignored"}))
    assert [(r["type"], r["event"], r["status"], r["reason"]) for r in found] == [
        ("inbound_event", "invoice.dispute", "ignored", "Not an event we post")]


def test_api_export_takes_the_same_filters(owner_api, tenant):
    DeliveryFactory(tenant=tenant, number="INV-1", counterparty_name="Acme")
    DeliveryFactory(tenant=tenant, number="INV-2", counterparty_name="Globex")
    found = rows(owner_api.get("/api/v1/deliveries/export.csv", {"counterparty": "globex"}))
    assert [r["document_number"] for r in found] == ["INV-2"]
    as_csv = owner_api.get("/api/v1/deliveries/export.csv", {"counterparty": "acme"}, HTTP_ACCEPT="text/csv")
    assert [r["document_number"] for r in rows(as_csv)] == ["INV-1"]
    bad = owner_api.get("/api/v1/deliveries/export.csv", {"amount_min": "x"}, HTTP_ACCEPT="text/csv")
    assert bad.status_code == 400 and b"amount_min" in bad.content
