"""From a verified webhook to deliveries: normalise through FreshBooks, match rules, one delivery per
channel; redeliveries, FreshBooks outages and lost authorisation never lose or double an event."""

from decimal import Decimal
from unittest import mock

import pytest
from django.test import TestCase
from django.utils import timezone

from audit.models import Delivery, HeldReason, InboundEvent
from connector.freshbooks.client import TokenGrant
from connector.freshbooks.models import FreshBooksConnection
from connector.freshbooks.services import connection_store
from connector.pipeline import pacing
from connector.pipeline.inbound import inbound_process
from connector.pipeline.sweep import sweep_run
from routing.models import Rule
from tests.freshbooks.conftest import API, VERIFIER, load_fixture, make_callback, make_connection, signed
from tests.pipeline.conftest import handed_to_processing

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(tenant, settings):
    settings.FRESHBOOKS_API_URL = API
    connection = make_connection(tenant)
    for event in ("invoice.create", "invoice.update", "bill.create"):
        make_callback(connection, event, verifier=VERIFIER, callback_id=f"cb-{event}")
    return connection


@pytest.fixture
def rules(tenant):
    return [
        Rule.objects.create(tenant=tenant, name="All invoices", events=["invoice.create", "invoice.update"],
                            channel_id="CACC", channel_name="accounting"),
        Rule.objects.create(tenant=tenant, name="Big invoices", events=["invoice.create", "invoice.update"],
                            min_amount=Decimal("100"), currency="USD", channel_id="CEXEC", channel_name="exec-alerts",
                            note="<!here>"),
        Rule.objects.create(tenant=tenant, name="Also accounting", events=["invoice.create"],
                            channel_id="CACC", channel_name="accounting"),
    ]


def mock_fixture(fb_api, event: str, *, repeat: int = 1):
    fixture = load_fixture(event)
    for _ in range(repeat):
        for r in fixture["responses"]:
            fb_api.add(r["method"], API + r["path"], json=r.get("json"), status=r.get("status", 200))
    return fixture


def deliver(client, tenant, body: str):
    """Post a signed webhook; the event it stored (handed to processing, which the test then runs itself)."""
    with handed_to_processing() as handed, TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(f"/webhooks/freshbooks/{tenant.webhook_token}/", data=body,
                               content_type="application/x-www-form-urlencoded",
                               HTTP_X_FRESHBOOKS_HMAC_SHA256=signed(body))
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.for_tenant(tenant).order_by("-id").first()
    assert handed == ([event.pk] if response.json()["status"] == "received" else [])
    return event


@pytest.fixture
def fb_api():
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_invoice_becomes_one_delivery_per_channel_with_the_message(client, tenant, connected, rules, installation,
                                                                 fb_api):
    fixture = mock_fixture(fb_api, "invoice.create")
    inbound = deliver(client, tenant, fixture["webhook"])
    outcome = inbound_process(inbound_event_id=inbound.pk)

    inbound.refresh_from_db()
    assert inbound.status == InboundEvent.Status.PROCESSED
    assert inbound.financial_event["event_name"] == "invoice.create"
    deliveries = Delivery.objects.for_tenant(tenant).order_by("channel_id")
    assert [(d.channel_id, d.status) for d in deliveries] == [("CACC", "pending"), ("CEXEC", "pending")]
    accounting = deliveries[0]
    assert sorted(accounting.rule_ids) == sorted([rules[0].pk, rules[2].pk])  # two rules, one message
    assert accounting.slack_team_id == installation.team_id
    assert accounting.message_text and accounting.message_blocks
    assert deliveries[1].message_text.startswith("<!here>")
    assert set(outcome.channels) == {(installation.team_id, "CACC"), (installation.team_id, "CEXEC")}
    assert {r["name"] for r in inbound.matched_rules} == {"All invoices", "Big invoices", "Also accounting"}


def test_same_webhook_five_times_gives_one_processed_event_and_one_set_of_deliveries(
        client, tenant, connected, rules, installation, fb_api):
    fixture = mock_fixture(fb_api, "invoice.update", repeat=5)
    for _ in range(5):
        inbound = deliver(client, tenant, fixture["webhook"])
        inbound_process(inbound_event_id=inbound.pk)
        inbound_process(inbound_event_id=inbound.pk)  # a repeated task does nothing more
    statuses = sorted(InboundEvent.objects.for_tenant(tenant).values_list("status", flat=True))
    assert statuses == ["duplicate"] * 4 + ["processed"]
    assert Delivery.objects.for_tenant(tenant).count() == 2


def test_same_create_five_times_is_stored_once(client, tenant, connected, rules, installation, fb_api):
    fixture = mock_fixture(fb_api, "invoice.create")
    for _ in range(5):
        deliver(client, tenant, fixture["webhook"])
    assert InboundEvent.objects.for_tenant(tenant).count() == 1


def test_no_matching_rule_records_the_event_as_ignored(client, tenant, connected, installation, fb_api):
    fixture = mock_fixture(fb_api, "bill.create")
    inbound = deliver(client, tenant, fixture["webhook"])
    inbound_process(inbound_event_id=inbound.pk)
    inbound.refresh_from_db()
    assert inbound.status == InboundEvent.Status.IGNORED and "No rule" in inbound.status_reason
    assert not Delivery.objects.for_tenant(tenant).exists()


def test_without_slack_the_deliveries_wait_for_it(client, tenant, connected, rules, fb_api):
    fixture = mock_fixture(fb_api, "invoice.create")
    inbound = deliver(client, tenant, fixture["webhook"])
    inbound_process(inbound_event_id=inbound.pk)
    assert set(Delivery.objects.for_tenant(tenant).values_list("status", "held_reason")) == {
        ("held", HeldReason.SLACK_NOT_CONNECTED)}


def test_freshbooks_outage_retries_later_and_loses_nothing(client, tenant, connected, rules, installation, fb_api):
    fixture = load_fixture("invoice.create")
    path = fixture["responses"][0]["path"]
    fb_api.add("GET", API + path, status=503, body="maintenance")
    inbound = deliver(client, tenant, fixture["webhook"])
    outcome = inbound_process(inbound_event_id=inbound.pk)
    inbound.refresh_from_db()
    assert inbound.status == InboundEvent.Status.RETRYING
    assert outcome.retry_in and outcome.retry_in > 0
    assert inbound_process(inbound_event_id=inbound.pk) is None  # not due yet: nothing happens

    fb_api.replace("GET", API + path, status=200, json=fixture["responses"][0]["json"])
    for r in fixture["responses"][1:]:
        fb_api.add(r["method"], API + r["path"], json=r.get("json"), status=r.get("status", 200))
    InboundEvent.objects.filter(pk=inbound.pk).update(next_attempt_at=timezone.now())
    inbound_process(inbound_event_id=inbound.pk)
    inbound.refresh_from_db()
    assert inbound.status == InboundEvent.Status.PROCESSED
    assert Delivery.objects.for_tenant(tenant).count() == 2


def test_an_unexpected_error_while_recording_retries_on_schedule_with_nothing_half_written(
        client, tenant, connected, rules, installation, fb_api, monkeypatch):
    from connector.pipeline import inbound as inbound_module

    fixture = mock_fixture(fb_api, "invoice.create", repeat=2)
    event = deliver(client, tenant, fixture["webhook"])
    real_build = inbound_module.build_message
    calls = {"n": 0}

    def build_once_broken(*args, **kwargs):  # the second delivery's message: a bug, after the first was made
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyError("amount")
        return real_build(*args, **kwargs)

    monkeypatch.setattr(inbound_module, "build_message", build_once_broken)
    outcome = inbound_process(inbound_event_id=event.pk)
    event.refresh_from_db()
    assert (event.status, event.status_reason) == (InboundEvent.Status.RETRYING, "unexpected error (KeyError)")
    assert outcome.retry_in and event.next_attempt_at > timezone.now()
    assert Delivery.objects.for_tenant(tenant).count() == 0  # the event's writes were rolled back together

    InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    inbound_process(inbound_event_id=event.pk)
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert Delivery.objects.for_tenant(tenant).count() == 2


def test_lost_authorisation_holds_events_until_reconnect(client, tenant, connected, rules, installation, fb_api,
                                                         django_capture_on_commit_callbacks):
    fixture = load_fixture("invoice.create")
    FreshBooksConnection.objects.filter(pk=connected.pk).update(expires_at=timezone.now() - timezone.timedelta(minutes=1))
    fb_api.add("POST", API + "/auth/oauth/token", status=401,
               json={"error": "invalid_grant", "error_description": "refresh token already used"})
    inbound = deliver(client, tenant, fixture["webhook"])
    inbound_process(inbound_event_id=inbound.pk)
    inbound.refresh_from_db()
    connected.refresh_from_db()
    assert inbound.status == InboundEvent.Status.HELD
    assert connected.status == FreshBooksConnection.Status.NEEDS_REAUTH

    # The user reconnects the same business: held events continue by themselves.
    for r in fixture["responses"]:
        fb_api.add(r["method"], API + r["path"], json=r.get("json"), status=r.get("status", 200))
    grant = TokenGrant(access_token="access-2", refresh_token="refresh-2",
                       expires_at=timezone.now() + timezone.timedelta(hours=6))
    with handed_to_processing() as handed, django_capture_on_commit_callbacks(execute=True):
        connection_store(tenant=tenant, actor=None, grant=grant, account_id=connected.account_id,
                         business_id=connected.business_id)
    assert handed == [inbound.pk]
    inbound.refresh_from_db()
    assert inbound.status == InboundEvent.Status.RECEIVED
    inbound_process(inbound_event_id=inbound.pk)
    inbound.refresh_from_db()
    assert inbound.status == InboundEvent.Status.PROCESSED
    assert Delivery.objects.for_tenant(tenant).count() == 2


def test_sweep_re_enqueues_an_event_whose_task_was_lost(client, tenant, connected, rules, installation, fb_api):
    fixture = mock_fixture(fb_api, "invoice.create")
    inbound = deliver(client, tenant, fixture["webhook"])  # its task never ran (broker lost it)
    InboundEvent.objects.filter(pk=inbound.pk).update(received_at=timezone.now() - timezone.timedelta(minutes=5))
    with handed_to_processing() as handed:
        report = sweep_run()
    assert report.inbound_requeued == 1
    assert handed == [inbound.pk]


def test_sweep_rings_each_channel_once_however_many_deliveries_wait_there(installation, make_delivery):
    # Given three deliveries waiting in one channel and one in another
    for channel in ("C1", "C1", "C1", "C2"):
        make_delivery(channel)
    # When the sweep runs
    with mock.patch("connector.pipeline.sweep.channel_kick") as kick:
        report = sweep_run()
    # Then each channel is rung once, not once per delivery
    assert report.channels_kicked == 2
    assert sorted(call.args for call in kick.call_args_list) == [("T0TEST", "C1"), ("T0TEST", "C2")]


def test_sweep_rings_channels_with_due_deliveries(installation, make_delivery):
    make_delivery("C1")
    make_delivery("C2")
    with mock.patch("connector.pipeline.tasks.drain_channel.apply_async") as drain:
        report = sweep_run()
        again = sweep_run()  # a drain per channel is already scheduled: no second one
    assert report.channels_kicked == 2
    assert drain.call_count == 2
    assert again.channels_kicked == 2  # it looked, but the doorbell rang only once per channel
    assert pacing.client().exists("mlc:drain:T0TEST:C1")
