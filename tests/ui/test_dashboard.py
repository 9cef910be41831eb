"""The dashboard: checklist until set up, problems with their fix, charts per day, the latest messages."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from audit.models import Delivery
from connector.dashboard import onboarding
from connector.dashboard import views as dashboard
from tests.conftest import _signed_in
from tests.factories import delivery, inbound_event
from tests.freshbooks.conftest import make_connection


@pytest.mark.django_db
def test_new_business_sees_the_checklist_and_empty_states(owner_client):
    page = owner_client.get("/dashboard/").content.decode()
    assert "Get set up" in page and "0 of 5 done" in page
    assert page.index("Connect FreshBooks") < page.index("Add to Slack") < page.index("Create your first rule")
    # Connecting is one click: the steps' buttons post straight to the providers' sign-in.
    assert '<form method="post" action="/freshbooks/connect/" class="inline">' in page
    assert '<form method="post" action="/slack/install/" class="inline">' in page
    assert "No message sent yet" in page
    assert "Nothing yet: a bar per day appears here" in page
    assert "Needs a fix" not in page


@pytest.mark.django_db
def test_without_a_slack_app_the_slack_step_leads_to_the_slack_page(owner_client, settings):
    settings.SLACK_CLIENT_ID = ""
    page = owner_client.get("/dashboard/").content.decode()
    assert 'href="/slack/" role="button" class="small secondary">Add to Slack</a>' in page
    assert 'action="/slack/install/"' not in page


@pytest.mark.django_db
def test_checklist_goes_away_once_every_step_is_done(owner_client, monkeypatch):
    done = [onboarding.Step(k, k, "what", "why", "go", "/", True) for k in ("a", "b", "c", "d", "e")]
    monkeypatch.setattr(onboarding, "onboarding_steps", lambda *, tenant: done)
    page = owner_client.get("/dashboard/").content.decode()
    assert "Get set up" not in page


@pytest.mark.django_db
def test_viewer_sees_no_setup_or_fix_buttons(viewer_client, tenant):
    delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="channel_unusable", last_error_code="not_in_channel", channel_name="sales")
    page = viewer_client.get("/dashboard/").content.decode()
    assert "An owner or admin of" in page
    assert 'role="button" class="small"' not in page  # no step or fix button
    assert "Connect FreshBooks</a>" not in page and 'action="/freshbooks/connect/"' not in page
    assert 'action="/slack/install/"' not in page
    assert "To fix: Invite the bot to #sales" in page


@pytest.mark.django_db
def test_held_and_failed_messages_show_the_reason_and_the_one_fix(owner_client, tenant):
    archived = delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="channel_unusable",
                        last_error_code="is_archived", channel_name="old-sales")
    delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="channel_unusable", last_error_code="is_archived",
             channel_name="old-sales", channel_id=archived.channel_id)
    delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="slack_access_lost", last_error_code="token_revoked")
    page = owner_client.get("/dashboard/").content.decode()
    assert "Needs a fix" in page
    assert "2 held</span> <strong>#old-sales is archived" in page
    # The fix opens the rules posting to that channel, not the whole list.
    assert (f'<a href="/rules/?channel={archived.channel_id}" role="button" class="small">'
            "Channel archived: pick another in the rule") in page
    # Held work says when it is looked at again, and offers to look now.
    assert page.count("Re-checked automatically by <time") == 2 and page.count(">Check now</button>") == 2
    assert '<a href="/slack/" role="button" class="small">Reinstall Slack</a>' in page


@pytest.mark.django_db
def test_latest_ten_messages_newest_first(owner_client, tenant):
    now = timezone.now()
    for n in range(12):
        delivery(tenant=tenant, at=now - timedelta(minutes=n), document_number=f"INV-{n:03}",
                 counterparty=f"Client {n}")
    page = owner_client.get("/dashboard/").content.decode()
    assert "#INV-000" in page and "#INV-009" in page and "#INV-010" not in page
    assert page.index("#INV-000") < page.index("#INV-009")
    assert "Client 0" in page and "1,250.00 USD" in page


@pytest.mark.django_db
def test_daily_counts_follow_the_business_time_zone(tenant):
    tenant.time_zone = "America/Vancouver"  # UTC-8 in November
    tenant.save()
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    days = dashboard.chart_days(tenant=tenant, now=now)
    assert len(days) == 30 and days[-1] == date(2026, 11, 20) and days[0] == date(2026, 10, 22)
    # 03:00 UTC on the 20th is still the 19th in Vancouver
    inbound_event(tenant=tenant, at=datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    inbound_event(tenant=tenant, at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    inbound_event(tenant=tenant, at=datetime(2026, 9, 1, tzinfo=UTC))  # before the window
    counts = dashboard.inbound_event_daily_counts(tenant=tenant, days=days)
    assert counts[-2:] == [1, 1] and sum(counts) == 2


@pytest.mark.django_db
def test_delivery_counts_group_posted_problem_and_waiting(tenant, other_tenant):
    days = dashboard.chart_days(tenant=tenant)
    for status in ("posted", "posted", "held", "failed", "pending", "retrying"):
        delivery(tenant=tenant, status=status)
    delivery(tenant=other_tenant, status="posted")
    counts = dashboard.delivery_daily_counts(tenant=tenant, days=days)
    assert (counts["posted"][-1], counts["problem"][-1], counts["waiting"][-1]) == (2, 2, 2)
    assert sum(counts["posted"]) == 2


@pytest.mark.django_db
def test_charts_and_their_tables_are_on_the_page(owner_client, tenant):
    delivery(tenant=tenant, status="posted")
    page = owner_client.get("/dashboard/").content.decode()
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2
    assert 'aria-labelledby="chart-deliveries-title chart-deliveries-desc"' in page
    assert "Show as a table" in page
    assert "Posted (1)" in page


@pytest.mark.django_db
def test_panels_refresh_alone(owner_client, tenant):
    delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="channel_unusable", last_error_code="not_in_channel", channel_name="sales")
    problems = owner_client.get("/dashboard/deliveries/?part=problems").content.decode()
    assert 'id="problems-panel"' in problems and "The bot is not a member of #sales" in problems
    assert "<html" not in problems
    latest = owner_client.get("/dashboard/deliveries/?part=latest").content.decode()
    assert 'id="latest-panel"' in latest and "Payment" not in latest and "Invoice created" in latest


@pytest.mark.django_db
def test_dashboard_shows_only_this_business(owner_client, other_tenant):
    delivery(tenant=other_tenant, counterparty="Secret Client of Another Business")
    page = owner_client.get("/dashboard/").content.decode()
    assert "Secret Client" not in page


@pytest.mark.django_db
def test_webhook_url_with_copy_button(owner_client, tenant):
    page = owner_client.get("/dashboard/").content.decode()
    assert f'<code id="webhook-url">{tenant.webhook_url}</code>' in page
    assert 'data-copy-target="webhook-url"' in page


@pytest.mark.django_db
def test_latest_messages_say_why_one_is_held_in_plain_words(owner_client, tenant):
    delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="channel_unusable", last_error_code="channel_not_found", channel_name="sales")
    page = owner_client.get("/dashboard/").content.decode()
    latest = page[page.index('id="latest-panel"'):]
    assert "#sales no longer exists, or it is private and the bot is not in it" in latest
    assert "channel_not_found" not in latest


@pytest.mark.django_db
def test_connection_buttons_say_what_they_do_for_each_role(owner_client, viewer, tenant):
    make_connection(tenant)
    viewer_client = _signed_in(Client(), viewer, tenant)
    owner_page = owner_client.get("/dashboard/").content.decode()
    assert 'href="/freshbooks/" role="button" class="small secondary">Test connection</a>' in owner_page
    assert '<button type="submit" class="small secondary">Connect</button>' in owner_page  # Slack, one click
    viewer_page = viewer_client.get("/dashboard/").content.decode()
    assert "Test connection" not in viewer_page  # the FreshBooks page has no test button for viewers
    assert 'href="/freshbooks/" role="button" class="small secondary">View</a>' in viewer_page


@pytest.mark.django_db
def test_connect_and_reconnect_are_one_click(owner_client, tenant):
    make_connection(tenant, status="needs_reauth")
    page = owner_client.get("/dashboard/").content.decode()
    connections = page[page.index('id="connections-title"'):page.index('id="webhook-title"')]
    assert ('<form method="post" action="/freshbooks/connect/" class="inline"><input type="hidden" '
            'name="csrfmiddlewaretoken"') in connections
    assert '<button type="submit" class="small secondary">Reconnect</button>' in connections
    assert 'action="/slack/install/"' in connections and ">Connect</button>" in connections


@pytest.mark.django_db
def test_check_now_answers_on_the_page_it_was_asked_from_and_is_rate_limited(owner_client, tenant):
    cache.clear()
    delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="slack_access_lost", last_error_code="token_revoked")
    form = {"reason": "slack_access_lost", "channel_id": "", "next": "/activity/"}
    response = owner_client.post("/dashboard/check-now/", form, follow=True)
    assert response.redirect_chain[-1][0] == "/activity/"
    assert "Checked just now: Slack still needs to be (re)installed" in response.content.decode()
    again = owner_client.post("/dashboard/check-now/", form, follow=True).content.decode()
    assert "Checked less than a minute ago: try again in" in again
    # It goes back only to pages of this site.
    outside = owner_client.post("/dashboard/check-now/", {**form, "next": "https://evil.example/"})
    assert outside.url == "/dashboard/"


@pytest.mark.django_db
def test_viewers_cannot_check_now(viewer_client, tenant):
    form = {"reason": "slack_access_lost", "channel_id": "", "next": "/activity/"}
    assert viewer_client.post("/dashboard/check-now/", form).status_code == 403


@pytest.mark.django_db
def test_one_click_connect_may_leave_for_the_real_providers_sign_in(owner_client):
    # The connect forms post here and are redirected to FreshBooks' or Slack's authorize page: a browser
    # enforces form-action on that redirect, so both real origins must be allowed.
    policy = owner_client.get("/dashboard/")["Content-Security-Policy"]
    form_action = next(d for d in policy.split(";") if d.strip().startswith("form-action")).split()
    assert {"'self'", "https://auth.freshbooks.com", "https://slack.com"} <= set(form_action)
