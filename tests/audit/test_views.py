"""Activity pages and the deliveries API: search, detail, single replay, roles and tenant scope."""

from decimal import Decimal

import pytest

from audit.models import ActivityLog, Delivery, InboundEvent
from tests.audit.conftest import UNKNOWN_CHANNEL
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


def test_search_page_filters_and_shows_decrypted_rows(owner_client, tenant, other_tenant):
    DeliveryFactory(tenant=tenant, counterparty_name="Acme Trading Ltd", number="INV-777", status="held",
                    held_reason="channel_unusable", last_error_code="channel_not_found")
    DeliveryFactory(tenant=tenant, counterparty_name="Globex", number="INV-778", status="posted")
    DeliveryFactory(tenant=other_tenant, counterparty_name="Their Client", number="INV-999")
    page = owner_client.get("/activity/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Acme Trading Ltd" in html and "Globex" in html and "Their Client" not in html
    html = owner_client.get("/activity/", {"counterparty": "acme trading ltd", "status": "held"}).content.decode()
    assert "INV-777" in html and "INV-778" not in html
    assert 'class="badge held"' in html


def test_search_form_is_folded_until_a_filter_is_in_use(owner_client, tenant):
    DeliveryFactory(tenant=tenant, counterparty_name="Globex", status="posted", amount=Decimal("1250.00"))
    assert '<details class="card search-box" id="search">' in owner_client.get("/activity/").content.decode()
    sorted_only = owner_client.get("/activity/", {"sort": "amount"}).content.decode()
    assert '<details class="card search-box" id="search">' in sorted_only
    filtered = owner_client.get("/activity/", {"counterparty": "globex"}).content.decode()
    assert '<details class="card search-box" id="search" open>' in filtered and "(filters in use)" in filtered
    assert "1,250.00 USD" in owner_client.get("/activity/").content.decode()  # amounts read like the dashboard's
    wrong = owner_client.get("/activity/", {"amount_min": "lots"}).content.decode()
    assert '<details class="card search-box" id="search" open>' in wrong


def test_search_page_shows_ignored_events_section(owner_client, tenant):
    InboundEventFactory(tenant=tenant, name="invoice.create", status=InboundEvent.Status.IGNORED,
                        status_reason="No rule matched this event")
    DeliveryFactory(tenant=tenant)
    html = owner_client.get("/activity/", {"status": "ignored"}).content.decode()
    assert "Ignored events" in html and "No rule matched this event" in html
    assert "Deliveries" not in html  # only ignored events were asked for
    html = owner_client.get("/activity/").content.decode()
    assert "Ignored events" in html and "Deliveries" in html


def test_search_page_reports_bad_input_without_error(owner_client, tenant):
    page = owner_client.get("/activity/", {"amount_min": "100", "amount_max": "5"})
    assert page.status_code == 200
    assert "Must be at least the amount from." in page.content.decode()


def test_search_page_paginates_and_sorts(owner_client, tenant):
    for i in range(55):
        DeliveryFactory(tenant=tenant, amount=Decimal(i), number=f"N-{i:03d}")
    first = owner_client.get("/activity/", {"sort": "-amount"}).content.decode()
    assert "N-054" in first and "N-004" not in first and "Page 1 of 2" in first
    second = owner_client.get("/activity/", {"sort": "-amount", "page": 2}).content.decode()
    assert "N-004" in second and "N-054" not in second


def test_detail_shows_payload_event_rules_attempts_and_slack_link(owner_client, tenant):
    event = InboundEventFactory(
        tenant=tenant, name="invoice.create", object_id="4711",
        raw_body="name=invoice.create&object_id=4711&account_id=XYZ12&business_id=42",
        fetched_object={"invoice": {"id": 4711, "organization": "Acme Trading Ltd"}},
        financial_event={"event_name": "invoice.create", "kind": "invoice", "action": "created",
                         "object_id": "4711", "amount": "250.00", "currency": "USD",
                         "counterparty": "Acme Trading Ltd", "document_number": "INV-4711"},
        matched_rules=[{"id": 3, "name": "Big invoices to #sales", "channel_id": "C0SALES"}])
    delivery = DeliveryFactory(tenant=tenant, inbound_event=event, slack_channel="C0SALES",
                               slack_ts="1712345678.000100")
    DeliveryAttemptFactory(delivery=delivery, outcome="rate_limited", error_code="ratelimited", retry_after=3)
    DeliveryAttemptFactory(delivery=delivery, outcome="posted")
    html = owner_client.get(f"/activity/deliveries/{delivery.pk}/").content.decode()
    assert "XYZ12" in html  # decrypted payload field
    assert "INV-4711" in html and "Acme Trading Ltd" in html
    assert "Big invoices to #sales" in html
    assert "Rate limited" in html and "Slack asked to wait 3 s" in html
    assert "https://slack.com/app_redirect?team=T0001&amp;channel=C0SALES" in html


def test_detail_names_the_channels_of_the_rules_that_matched(owner_client, tenant, other_tenant):
    # Given an event whose rule chose #old-sales (its delivery later moved to #general) and a rule whose
    # channel no delivery names
    event = InboundEventFactory(tenant=tenant, matched_rules=[
        {"id": 1, "name": "Invoices", "channel_id": "C0OLD"}, {"id": 2, "name": "Unknown", "channel_id": "C0NONE"}])
    moved = DeliveryFactory(tenant=tenant, inbound_event=event, channel_id="C0GEN", channel_name="general",
                            amount=Decimal("1250.00"))
    DeliveryFactory(tenant=tenant, channel_id="C0OLD", channel_name="old-sales")
    DeliveryFactory(tenant=other_tenant, channel_id="C0NONE", channel_name="their-channel")

    html = owner_client.get(f"/activity/deliveries/{moved.pk}/").content.decode()

    assert "Invoices <span class=\"muted\">→ #old-sales</span>" in html
    assert "Unknown <span class=\"muted\">→ channel C0NONE</span>" in html  # never another business's name
    assert "their-channel" not in html
    assert "1,250.00" in html


def test_detail_of_another_tenants_delivery_is_404(owner_client, other_tenant):
    theirs = DeliveryFactory(tenant=other_tenant)
    assert owner_client.get(f"/activity/deliveries/{theirs.pk}/").status_code == 404
    assert owner_client.get(f"/activity/events/{theirs.inbound_event_id}/").status_code == 404


def test_replay_from_detail_page_links_new_delivery_to_original(owner_client, owner, tenant, slack_workspace):
    failed = DeliveryFactory(tenant=tenant, status="failed", channel_id="C0SALES")
    DeliveryFactory(tenant=tenant, channel_id="C0BILLS", channel_name="bills")
    response = owner_client.post(f"/activity/deliveries/{failed.pk}/replay/",
                                 {"mode": "as_routed", "to_channel_id": "C0BILLS"})
    replay = Delivery.objects.get(replay_of=failed)
    assert response.status_code == 302 and response["Location"] == f"/activity/deliveries/{replay.pk}/"
    assert replay.channel_id == "C0BILLS" and replay.requested_by == owner
    assert replay.status == Delivery.Status.PENDING and replay.channel_name == "bills"
    html = owner_client.get(f"/activity/deliveries/{replay.pk}/").content.decode()
    assert f"delivery {failed.pk}</a>" in html  # links back to the original
    assert ActivityLog.objects.filter(tenant=tenant, action="delivery.replay_requested").count() == 1


def test_replay_refused_by_pipeline_shows_why(owner_client, tenant, slack_workspace):
    failed = DeliveryFactory(tenant=tenant, status="failed")
    DeliveryFactory(tenant=tenant, channel_id=UNKNOWN_CHANNEL)
    response = owner_client.post(f"/activity/deliveries/{failed.pk}/replay/",
                                 {"mode": "as_routed", "to_channel_id": UNKNOWN_CHANNEL}, follow=True)
    assert "Nothing replayed: That channel is not in this business" in response.content.decode()
    assert not Delivery.objects.filter(replay_of=failed).exists()


def test_viewer_can_search_and_export_but_not_replay(viewer_client, tenant, slack_workspace):
    delivery = DeliveryFactory(tenant=tenant, status="failed", counterparty_name="Acme Trading Ltd")
    assert viewer_client.get("/activity/", {"status": "failed"}).status_code == 200
    assert viewer_client.get(f"/activity/deliveries/{delivery.pk}/").status_code == 200
    export = viewer_client.get("/activity/export.csv", {"status": "failed"})
    assert export.status_code == 200 and b"Acme Trading Ltd" in b"".join(export.streaming_content)
    assert viewer_client.post(f"/activity/deliveries/{delivery.pk}/replay/",
                              {"mode": "as_routed"}).status_code == 403
    assert viewer_client.get("/activity/replay/", {"status": "failed"}).status_code == 403
    assert viewer_client.post("/activity/replay/?status=failed",
                              {"mode": "as_routed", "max_delivery_id": delivery.pk}).status_code == 403
    assert "Replay these deliveries" not in viewer_client.get("/activity/").content.decode()
    assert not Delivery.objects.filter(replay_of=delivery).exists()


def test_viewer_can_search_and_export_through_the_api_but_not_replay(viewer_api, tenant, slack_workspace):
    delivery = DeliveryFactory(tenant=tenant, status="failed")
    listed = viewer_api.get("/api/v1/deliveries/", {"status": "failed"})
    assert listed.status_code == 200 and [d["id"] for d in listed.json()["results"]] == [delivery.pk]
    assert viewer_api.get("/api/v1/deliveries/export.csv").status_code == 200
    response = viewer_api.post(f"/api/v1/deliveries/{delivery.pk}/replay/", {"mode": "as_routed"}, format="json")
    assert response.status_code == 403
    assert not Delivery.objects.filter(replay_of=delivery).exists()


def test_api_replay_by_owner(owner_api, tenant, slack_workspace):
    delivery = DeliveryFactory(tenant=tenant, status="failed")
    response = owner_api.post(f"/api/v1/deliveries/{delivery.pk}/replay/", {"mode": "as_routed"}, format="json")
    assert response.status_code == 202
    assert response.json()[0]["replay_of"] == delivery.pk and response.json()[0]["status"] == "pending"


def test_api_filters_and_contract_fields(owner_api, tenant, other_tenant):
    wanted = DeliveryFactory(tenant=tenant, event_name="bill.create", status="held", channel_id="C0BILLS",
                             amount=Decimal("75.50"), counterparty_name="Initech LLC", number="B-100")
    DeliveryFactory(tenant=tenant, event_name="bill.create", status="held", amount=Decimal("75.50"))
    DeliveryFactory(tenant=other_tenant, counterparty_name="Initech LLC", number="B-100")
    for params in ({"counterparty": "INITECH llc"}, {"document_number": "b-100"}, {"channel_id": "C0BILLS"},
                   {"kind": "bill", "amount_min": "75.50", "amount_max": "75.50", "counterparty": "initech llc"},
                   {"event": "bill.create", "status": ["held", "failed"], "document_number": "B-100"}):
        results = owner_api.get("/api/v1/deliveries/", params).json()["results"]
        assert [r["id"] for r in results] == [wanted.pk], params
    row = owner_api.get("/api/v1/deliveries/", {"document_number": "B-100"}).json()["results"][0]
    assert {"id", "event", "object_id", "channel_id", "status", "slack_ts", "created_at"} <= set(row)
    assert row["event"] == "bill.create" and row["status"] == "held"
    assert "counterparty" not in row and "message_text" not in row


def test_api_date_range_and_sort(owner_api, tenant):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    old = DeliveryFactory(tenant=tenant, created_at=now - timedelta(days=3), amount=Decimal("5"))
    new = DeliveryFactory(tenant=tenant, created_at=now - timedelta(hours=1), amount=Decimal("7"))
    results = owner_api.get("/api/v1/deliveries/", {"since": (now - timedelta(days=1)).isoformat()}).json()
    assert [r["id"] for r in results["results"]] == [new.pk]
    results = owner_api.get("/api/v1/deliveries/", {"until": (now - timedelta(days=1)).isoformat()}).json()
    assert [r["id"] for r in results["results"]] == [old.pk]
    results = owner_api.get("/api/v1/deliveries/", {"sort": "amount"}).json()
    assert [r["id"] for r in results["results"]] == [old.pk, new.pk]


def test_api_status_ignored_points_to_ignored_events(owner_api, tenant):
    response = owner_api.get("/api/v1/deliveries/", {"status": "ignored"})
    assert response.status_code == 400
    assert "/api/v1/ignored-events/" in str(response.json()["extra"])
    event = InboundEventFactory(tenant=tenant, status=InboundEvent.Status.IGNORED, status_reason="No rule matched")
    rows = owner_api.get("/api/v1/ignored-events/").json()["results"]
    assert [(r["id"], r["status"], r["reason"]) for r in rows] == [(event.pk, "ignored", "No rule matched")]


def test_api_delivery_of_another_tenant_is_404(owner_api, other_tenant, slack_workspace):
    theirs = DeliveryFactory(tenant=other_tenant)
    assert owner_api.get(f"/api/v1/deliveries/{theirs.pk}/").status_code == 404
    assert owner_api.post(f"/api/v1/deliveries/{theirs.pk}/replay/", {}, format="json").status_code == 404
    assert not Delivery.objects.filter(replay_of__isnull=False).exists()


def test_schema_documents_the_filters(owner_api):
    schema = owner_api.get("/api/v1/schema/", {"format": "json"}).json()
    params = {p["name"] for p in schema["paths"]["/api/v1/deliveries/"]["get"]["parameters"]}
    assert {"since", "until", "event", "kind", "action", "status", "channel_id", "amount_min", "amount_max",
            "counterparty", "document_number", "sort"} <= params
    assert "/api/v1/deliveries/export.csv" in schema["paths"]


def test_nav_has_activity_link(owner_client):
    html = owner_client.get("/dashboard/").content.decode()
    assert 'href="/activity/"' in html


def test_detail_links_only_https_freshbooks_urls(owner_client, tenant):
    event = InboundEventFactory(tenant=tenant, financial_event={
        "event_name": "invoice.create", "kind": "invoice", "action": "created", "object_id": "1",
        "link": "javascript:alert(1)"})
    delivery = DeliveryFactory(tenant=tenant, inbound_event=event)
    html = owner_client.get(f"/activity/deliveries/{delivery.pk}/").content.decode()
    assert "javascript:alert" not in html
