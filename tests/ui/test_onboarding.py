"""The setup checklist: its order, and each step's done-state from the data the other apps write."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.activity import activity_record
from audit.models import Delivery
from connector.dashboard import onboarding
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection
from connector.slack.models import SlackInstallation
from routing.models import Rule
from tests.factories import delivery


def _keys(steps):
    return [s.key for s in steps]


@pytest.mark.django_db
def test_steps_come_in_setup_order_and_none_is_done_for_a_new_business(tenant):
    steps = onboarding.onboarding_steps(tenant=tenant)
    assert _keys(steps) == ["freshbooks", "slack", "callbacks", "rule", "test_message"]
    assert [s.done for s in steps] == [False] * 5
    assert not onboarding.onboarding_complete(steps)
    # each step says what it does and why, and where to do it
    assert all(s.what and s.why and s.action_label and s.url.startswith("/") for s in steps)


@pytest.mark.django_db
def test_step_pages_are_the_other_apps_pages():
    assert onboarding.freshbooks_url() == "/freshbooks/"
    assert onboarding.slack_url() == "/slack/"
    assert onboarding.rules_url() == "/rules/"
    assert onboarding.activity_url() == "/activity/"


@pytest.mark.django_db
def test_a_test_message_recorded_by_the_slack_page_completes_the_last_step(tenant, owner, other_tenant):
    activity_record(tenant=other_tenant, actor=None, action="slack.test_message_sent")
    assert not onboarding.has_sent_test_message(tenant)  # another business's test does not count
    activity_record(tenant=tenant, actor=owner, action="slack.test_message_sent", target="C0ACCOUNTS")
    steps = onboarding.onboarding_steps(tenant=tenant)
    assert [s.key for s in steps if s.done] == ["test_message"]


@pytest.mark.django_db
def test_a_posted_message_also_proves_the_path_works_but_a_failed_one_does_not(tenant):
    delivery(tenant=tenant, status=Delivery.Status.FAILED)
    assert not onboarding.has_sent_test_message(tenant)
    delivery(tenant=tenant, status=Delivery.Status.POSTED)
    assert onboarding.has_sent_test_message(tenant)


@pytest.mark.django_db
def test_connections_missing_read_as_not_connected(tenant):
    fb, slack = onboarding.freshbooks_status(tenant=tenant), onboarding.slack_status(tenant=tenant)
    assert (fb.state, fb.url) == ("missing", "/freshbooks/")
    assert (slack.state, slack.url) == ("missing", "/slack/")
    health = onboarding.callback_health(tenant=tenant)
    assert (health.state, health.last_event_at, health.events_last_day) == ("none", None, 0)


@pytest.mark.django_db
def test_callback_health_counts_the_events_of_the_last_day(tenant):
    from tests.factories import inbound_event

    inbound_event(tenant=tenant, at=timezone.now() - timedelta(days=3))
    latest = inbound_event(tenant=tenant)
    health = onboarding.callback_health(tenant=tenant)
    assert health.events_last_day == 1
    assert health.last_event_at == latest.received_at


# --- With the other apps' models (run after the merge) -------------------------------------------------

def _connection(tenant, status="active"):
    return FreshBooksConnection.objects.create(
        tenant=tenant, account_id="6BApk", business_id="6543", business_name="Blue Sky Bakery", identity_id="1234",
        access_token="access", refresh_token="refresh", expires_at=timezone.now() + timedelta(hours=12),
        status=status)


@pytest.mark.django_db
def test_freshbooks_step_is_done_once_a_connection_is_active(tenant):
    connection = _connection(tenant, status="needs_reauth")
    assert not onboarding.is_freshbooks_connected(tenant)
    assert onboarding.freshbooks_status(tenant=tenant).state == "attention"
    connection.status = "active"
    connection.save()
    assert onboarding.is_freshbooks_connected(tenant)
    status = onboarding.freshbooks_status(tenant=tenant)
    assert (status.state, status.summary) == ("connected", "Connected to Blue Sky Bakery.")


@pytest.mark.django_db
def test_callbacks_step_is_done_when_every_callback_is_verified(tenant):
    connection = _connection(tenant)
    assert not onboarding.are_callbacks_verified(tenant)  # none registered yet
    first = FreshBooksCallback.objects.create(tenant=tenant, connection=connection, callback_id="1",
                                              event="invoice", uri="https://x/", state="verified")
    FreshBooksCallback.objects.create(tenant=tenant, connection=connection, callback_id="2", event="payment",
                                      uri="https://x/", state="waiting")
    assert not onboarding.are_callbacks_verified(tenant)
    assert onboarding.callback_health(tenant=tenant).state == "waiting"
    FreshBooksCallback.objects.filter(tenant=tenant).update(state="verified")
    assert onboarding.are_callbacks_verified(tenant)
    assert onboarding.callback_health(tenant=tenant).state == "healthy"
    first.state, first.last_error = "failed", "FreshBooks refused the verifier"
    first.save()
    health = onboarding.callback_health(tenant=tenant)
    assert health.state == "failing" and health.errors == ["invoice: FreshBooks refused the verifier"]


@pytest.mark.django_db
def test_slack_step_is_done_while_the_installation_is_active(tenant):
    installation = SlackInstallation.objects.create(
        tenant=tenant, team_id="T0TEAM", team_name="Blue Sky", bot_user_id="U0BOT", bot_id="B0BOT",
        scopes="chat:write", bot_token="xoxb-test", status="active", installed_at=timezone.now())
    assert onboarding.is_slack_installed(tenant)
    assert onboarding.slack_status(tenant=tenant).summary == "Posting in the Blue Sky workspace."
    installation.status, installation.revoked_at = "revoked", timezone.now()
    installation.save()
    assert not onboarding.is_slack_installed(tenant)
    assert onboarding.slack_status(tenant=tenant).state == "attention"


@pytest.mark.django_db
def test_rule_step_is_done_with_a_first_rule(tenant):
    assert not onboarding.has_rule(tenant)
    Rule.objects.create(tenant=tenant, name="Payments to accounting", events=["payment.create"],
                        channel_id="C0ACCOUNTS", channel_name="accounting")
    assert onboarding.has_rule(tenant)
