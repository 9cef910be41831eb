"""From a recorded webhook to a FinancialEvent, one test per supported event, and the rules around it."""

from decimal import Decimal

import pytest

from audit.models import InboundEvent
from connector.core.events import PRODUCED_EVENTS, SUPPORTED_EVENTS, Action
from connector.freshbooks.errors import AuthorizationLost, RateLimited, Transient
from connector.freshbooks.models import FreshBooksConnection, ObjectSnapshot
from connector.freshbooks.normalise import NORMALISERS, normalise_inbound, web_base_url
from tests.freshbooks.conftest import API, FIXTURES, VERIFIER, load_fixture, make_callback

pytestmark = pytest.mark.django_db


def test_every_supported_event_has_a_normaliser_and_a_fixture():
    assert set(NORMALISERS) == set(SUPPORTED_EVENTS)
    missing = [name for name in SUPPORTED_EVENTS if not (FIXTURES / f"{name}.json").exists()]
    assert not missing, f"supported events without a recorded fixture: {missing}"
    unknown = [p.stem for p in FIXTURES.glob("*.json") if p.stem not in SUPPORTED_EVENTS]
    assert not unknown, f"fixtures for events the product does not declare: {unknown}"


def _given_fixture(fixture: dict, fb_api, tenant):
    snapshot = fixture.get("snapshot")
    if snapshot:
        ObjectSnapshot.objects.create(tenant=tenant, kind=snapshot["kind"], object_id=snapshot["object_id"],
                                      data=snapshot["data"], updated=snapshot["updated"])
    for r in fixture["responses"]:
        fb_api.add(r["method"], API + r["path"], json=r["json"], status=r["status"])


@pytest.mark.parametrize("event_name", sorted(SUPPORTED_EVENTS))
def test_recorded_webhook_to_financial_event(event_name, tenant, connection, fb_api, post_webhook):
    fixture = load_fixture(event_name)
    make_callback(connection, event_name, verifier=VERIFIER)
    _given_fixture(fixture, fb_api, tenant)

    if event_name in PRODUCED_EVENTS:  # made by the product (the overdue scan), as the scan makes it
        inbound = InboundEvent.objects.create(tenant=tenant, name=event_name, object_id="29618",
                                              account_id=fixture["account_id"], raw_body="",
                                              dedupe_key=fixture["dedupe_key"])
    else:
        response = post_webhook(tenant, fixture["webhook"])
        assert response.status_code == 200
        inbound = InboundEvent.objects.for_tenant(tenant).get()
    result = normalise_inbound(inbound_event=inbound)

    got = result.event.to_dict()
    for key, expected in fixture["expected"].items():
        assert got[key] == expected, f"{event_name}: {key}"
    assert result.dedupe_key == fixture["dedupe_key"]
    assert result.event.amount is None or isinstance(result.event.amount, Decimal)
    for r in fixture["responses"]:  # every recorded API answer was needed
        assert any(c.request.url.startswith(API + r["path"]) for c in fb_api.calls), r["path"]
    if inbound.dedupe_key:  # creates and deletes were already keyed at intake, the same way
        assert inbound.dedupe_key == result.dedupe_key


def test_an_update_after_the_snapshot_says_what_changed_and_normalising_again_says_the_same(
        tenant, connection, fb_api):
    fixture = load_fixture("invoice.update")
    _given_fixture(fixture, fb_api, tenant)
    inbound = InboundEvent.objects.create(tenant=tenant, name="invoice.update", object_id="29618",
                                          account_id="p7rQW5", raw_body="")
    first = normalise_inbound(inbound_event=inbound)
    again = normalise_inbound(inbound_event=inbound)  # a retry of the same update
    assert first.event.changes == again.event.changes == {"status": ["sent", "paid"]}
    assert first.event.status_changed
    snapshot = ObjectSnapshot.objects.get(tenant=tenant, kind="invoice", object_id="29618")
    assert snapshot.data["status"] == "paid" and snapshot.updated == "2019-05-01 12:00:03"


def test_a_change_within_the_same_second_as_the_stored_state_still_says_what_changed(tenant, connection, fb_api):
    # Given the state stored when the invoice was paid (stamp 12:00:03), then, in that same second, its due
    # date moved: FreshBooks' stamp has whole seconds, so the new state carries the same stamp.
    fixture = load_fixture("invoice.update")
    invoice = fixture["responses"][0]["json"]["response"]["result"]["invoice"]
    path = API + fixture["responses"][0]["path"]
    fb_api.get(path, json=fixture["responses"][0]["json"])
    paid = normalise_inbound(inbound_event=InboundEvent.objects.create(
        tenant=tenant, name="invoice.update", object_id="29618", raw_body=""))
    fb_api.replace("GET", path, json={"response": {"result": {"invoice": {**invoice, "due_date": "2019-06-01"}}}})

    # When the second update is normalised (and again, as a retry would)
    inbound = InboundEvent.objects.create(tenant=tenant, name="invoice.update", object_id="29618", raw_body="")
    moved = normalise_inbound(inbound_event=inbound)
    again = normalise_inbound(inbound_event=inbound)

    # Then it says what changed, and is news of its own, not a duplicate of the first update
    assert moved.event.changes == again.event.changes == {"due_date": ["2019-05-20", "2019-06-01"]}
    assert moved.dedupe_key == again.dedupe_key != paid.dedupe_key


def test_a_create_whose_object_is_already_gone_yields_a_deletion_from_what_is_known(tenant, connection, fb_api):
    ObjectSnapshot.objects.create(tenant=tenant, kind="invoice", object_id="77", updated="x",
                                  data={"amount": "99.50", "currency": "EUR", "counterparty": "Zeta",
                                        "document_number": "0007", "status": "draft"})
    fb_api.get(f"{API}/accounting/account/p7rQW5/invoices/invoices/77", status=404,
               json={"response": {"errors": [{"errno": 1012, "message": "Invoice not found."}]}})
    inbound = InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="77", raw_body="")
    result = normalise_inbound(inbound_event=inbound)
    assert result.event.action == Action.DELETED and result.event.event_name == "invoice.delete"
    assert (result.event.amount, result.event.currency, result.event.counterparty) == (Decimal("99.50"), "EUR", "Zeta")
    assert result.dedupe_key == "invoice.delete:77"  # the same news as the invoice.delete webhook to come


def test_an_update_of_an_object_deleted_meanwhile_is_a_deletion(tenant, connection, fb_api):
    fb_api.get(f"{API}/accounting/account/p7rQW5/expenses/expenses/5", json={"response": {"result": {"expense": {
        "id": 5, "amount": {"amount": "10.00", "code": "USD"}, "vendor": "Cafe", "vis_state": 1, "clientid": 0}}}})
    inbound = InboundEvent.objects.create(tenant=tenant, name="expense.update", object_id="5", raw_body="")
    result = normalise_inbound(inbound_event=inbound)
    assert result.event.action == Action.DELETED and result.event.counterparty == "Cafe"


@pytest.mark.parametrize(("status", "headers", "error"), [
    (429, {"Retry-After": "30"}, RateLimited), (503, {}, Transient), (502, {}, Transient)])
def test_provider_trouble_is_raised_typed(tenant, connection, fb_api, status, headers, error):
    fb_api.get(f"{API}/accounting/account/p7rQW5/invoices/invoices/1", status=status, headers=headers, json={})
    inbound = InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="1", raw_body="")
    with pytest.raises(error) as caught:
        normalise_inbound(inbound_event=inbound)
    if error is RateLimited:
        assert caught.value.retry_after == 30


def test_a_connection_needing_the_user_raises_authorization_lost(tenant, connection, fb_api):
    FreshBooksConnection.objects.filter(pk=connection.pk).update(status=FreshBooksConnection.Status.NEEDS_REAUTH)
    inbound = InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="1", raw_body="")
    with pytest.raises(AuthorizationLost):
        normalise_inbound(inbound_event=inbound)
    assert not fb_api.calls


def test_the_web_link_base_follows_the_api_url(settings):
    settings.FRESHBOOKS_API_URL = "https://api.freshbooks.com"
    assert web_base_url() == "https://my.freshbooks.com"
    settings.FRESHBOOKS_API_URL = "http://127.0.0.1:9100"  # a local stand-in serves its own pages
    assert web_base_url() == "http://127.0.0.1:9100"


def test_an_update_showing_only_the_state_its_create_reported_is_the_creates_news(tenant, connection, fb_api):
    # Given an invoice created and paid before either webhook arrived: the create, processed first, reported
    # the paid state (dedupe key recorded in the ledger, as the pipeline does)
    fixture = load_fixture("invoice.update")
    path = API + fixture["responses"][0]["path"]
    fb_api.get(path, json=fixture["responses"][0]["json"])
    create = InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="29618", raw_body="",
                                         dedupe_key="invoice.create:29618")
    normalise_inbound(inbound_event=create)

    # When the update's webhook arrives and finds the very same state
    update = InboundEvent.objects.create(tenant=tenant, name="invoice.update", object_id="29618", raw_body="")
    late = normalise_inbound(inbound_event=update)

    # Then it carries the create's key (the pipeline records it as a duplicate): nothing new to say
    assert late.dedupe_key == "invoice.create:29618"

    # And once the invoice changes again, an update is news of its own
    invoice = fixture["responses"][0]["json"]["response"]["result"]["invoice"]
    fb_api.replace("GET", path, json={"response": {"result": {"invoice": {
        **invoice, "due_date": "2019-06-01", "updated": "2019-05-02 09:00:00"}}}})
    later = normalise_inbound(inbound_event=InboundEvent.objects.create(
        tenant=tenant, name="invoice.update", object_id="29618", raw_body=""))
    assert later.dedupe_key.startswith("invoice.update:29618:2019-05-02 09:00:00:")
    assert later.event.changes == {"due_date": ["2019-05-20", "2019-06-01"]}


@pytest.mark.django_db(transaction=True)
def test_a_create_seen_again_in_autocommit_compares_with_the_stored_state_and_a_new_one_is_one_insert(tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from connector.freshbooks.normalise import _snapshot_store

    key = {"tenant_id": tenant.pk, "kind": "invoice", "object_id": "77"}
    with CaptureQueriesContext(connection) as captured:  # the worker's case: no transaction around it
        assert _snapshot_store(**key, data={"status": "draft"}, updated="2026-01-01 10:00:00", likely_new=True) is None
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["INSERT"]
    # The same create again (a redelivered webhook): the failed INSERT broke nothing, it compares as an update.
    again = _snapshot_store(**key, data={"status": "sent"}, updated="2026-01-01 10:00:05", likely_new=True)
    assert again == {"status": "draft"}
    assert ObjectSnapshot.objects.get(**key).data == {"status": "sent"}
