"""The /slack/ page: status, Test connection, Send test message, Refresh channels, Uninstall; roles and
tenant isolation. Slack's answers are shown in plain words; a Slack failure is never a 500."""

import pytest
from django.utils import timezone

from connector.slack.models import InstallationStatus, SlackChannel, SlackInstallation
from connector.slack.selectors import channel_choices, channel_resolve
from tests.factories import SlackChannelFactory, SlackInstallationFactory
from tests.slack.conftest import request_args

pytestmark = pytest.mark.django_db


def page(client) -> str:
    response = client.get("/slack/")
    assert response.status_code == 200
    return response.content.decode()



def test_page_without_installation_offers_add_to_slack(owner_client):
    assert "Slack is not connected yet" in page(owner_client)
    # One click: a form posting (with its CSRF token) to the install view, which redirects to Slack.
    assert '<form method="post" action="/slack/install/"' in page(owner_client)
    assert owner_client.get("/slack/install/")["Location"] == "/slack/"  # an old bookmark lands on the page


def test_page_with_an_active_installation(owner_client, installation):
    SlackChannelFactory(installation=installation, channel_id="C0SALES", name="sales")

    html = page(owner_client)

    assert "Connected to <strong>Acme Workspace</strong>" in html
    assert '<option value="C0SALES">#sales</option>' in html
    assert "xoxb-stored-token" not in html


def test_page_with_a_revoked_installation_says_why(owner_client, installation):
    installation.status, installation.status_reason = InstallationStatus.REVOKED, "app_uninstalled"
    installation.revoked_at = timezone.now()
    installation.save()

    html = page(owner_client)

    assert "ml-connector was removed from your Slack workspace" in html
    assert "Add to Slack again" in html


def test_viewer_sees_the_page_but_cannot_change_anything(viewer_client, installation, slack_api):
    html = page(viewer_client)
    assert "Uninstall" not in html and "Send test message" not in html
    # no button that would answer 403: testing the connection and refreshing channels are for admins too
    assert "Test connection" not in html and "Refresh channels" not in html
    assert "Connected to <strong>" in html
    for url in ["/slack/test-message/", "/slack/channels/refresh/", "/slack/uninstall/"]:
        assert viewer_client.post(url, {"channel": "C1"}).status_code == 403, url
    assert viewer_client.get("/slack/uninstall/").status_code == 403
    assert slack_api.log == []
    installation.refresh_from_db()
    assert installation.is_active


def test_anonymous_is_sent_to_login(client):
    response = client.get("/slack/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_connection_test_shows_slacks_answer(owner_client, installation, slack_api):
    slack_api.expect_request("/api/auth.test").respond_with_json(
        {"ok": True, "team": "Acme Workspace", "team_id": "T0TEAM", "user": "mlconnector", "user_id": "U0BOT",
         "bot_id": "B0BOT"})

    response = owner_client.post("/slack/test/", follow=True)

    assert "Slack answered: connected to the workspace Acme Workspace as @mlconnector." in response.content.decode()


def test_connection_test_failure_is_explained_and_marks_the_installation(owner_client, installation, slack_api):
    slack_api.expect_request("/api/auth.test").respond_with_json({"ok": False, "error": "invalid_auth"})

    response = owner_client.post("/slack/test/", follow=True)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Connection test failed. Slack no longer accepts this app" in html and "(Slack said: invalid_auth)" in html
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.REVOKED


def test_connection_test_when_slack_is_down(owner_client, installation, slack_api):
    slack_api.expect_request("/api/auth.test").respond_with_data("<html>oops</html>", status=502)

    response = owner_client.post("/slack/test/", follow=True)

    assert "Slack could not be reached or had a problem on its side" in response.content.decode()
    installation.refresh_from_db()
    assert installation.is_active


def test_send_test_message(owner_client, owner, installation, slack_api):
    SlackChannelFactory(installation=installation, channel_id="C0SALES", name="sales")
    slack_api.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": "C0SALES", "ts": "1.000001"})

    response = owner_client.post("/slack/test-message/", {"channel": "C0SALES"}, follow=True)

    assert "Slack answered: the test message is in #sales." in response.content.decode()
    sent = request_args(slack_api.log[0][0])
    assert sent["channel"] == "C0SALES" and installation.tenant.name in sent["text"]
    assert sent["unfurl_links"] is False
    assert owner.email in sent["blocks"][1]["elements"][0]["text"]


def test_send_test_message_to_a_channel_the_bot_cannot_reach(owner_client, installation, slack_api):
    SlackChannelFactory(installation=installation, channel_id="G0PRIV", name="private-one", is_private=True)
    slack_api.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "channel_not_found"})

    response = owner_client.post("/slack/test-message/", {"channel": "G0PRIV"}, follow=True)

    assert "The test message was not sent. Slack cannot find that channel" in response.content.decode()


def test_send_test_message_to_another_tenants_channel_is_refused(owner_client, installation, other_tenant,
                                                                 slack_api):
    theirs = SlackChannelFactory(installation=SlackInstallationFactory(tenant=other_tenant), channel_id="C0THEIRS")

    response = owner_client.post("/slack/test-message/", {"channel": theirs.channel_id}, follow=True)

    assert "Pick one of your workspace&#x27;s channels" in response.content.decode()
    assert slack_api.log == []


def test_refresh_channels_picks_up_renames_new_and_gone_channels(owner_client, installation, slack_api):
    SlackChannelFactory(installation=installation, channel_id="C0SALES", name="sales")
    SlackChannelFactory(installation=installation, channel_id="C0GONE", name="gone")
    slack_api.expect_request("/api/conversations.list").respond_with_json({"ok": True, "channels": [
        {"id": "C0SALES", "name": "sales-team", "is_private": False},
        {"id": "C0NEW", "name": "new-one", "is_private": False}]})

    response = owner_client.post("/slack/channels/refresh/", follow=True)

    assert "Slack listed 2 channels ml-connector can post to." in response.content.decode()
    assert channel_choices(tenant=installation.tenant) == [("C0NEW", "#new-one"), ("C0SALES", "#sales-team")]


def test_refresh_channels_failure_keeps_the_list(owner_client, installation, slack_api):
    SlackChannelFactory(installation=installation, channel_id="C0SALES", name="sales")
    slack_api.expect_request("/api/conversations.list").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "20"})

    response = owner_client.post("/slack/channels/refresh/", follow=True)

    assert "The channel list was not refreshed. Slack asked us to slow down" in response.content.decode()
    assert SlackChannel.objects.for_tenant(installation.tenant).count() == 1


def test_uninstall_asks_first_then_revokes(owner_client, installation, slack_api, revoked_signals,
                                           django_capture_on_commit_callbacks):
    confirm = owner_client.get("/slack/uninstall/")
    assert confirm.status_code == 200 and "Remove ml-connector from Slack?" in confirm.content.decode()
    slack_api.expect_request("/api/auth.revoke", headers={"Authorization": "Bearer xoxb-stored-token"}
                             ).respond_with_json({"ok": True, "revoked": True})

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/slack/uninstall/", follow=True)

    assert "no longer has access to your Slack workspace" in response.content.decode()
    stored = SlackInstallation.objects.get(pk=installation.pk)
    assert stored.status == InstallationStatus.REVOKED and stored.status_reason == "uninstalled"
    assert stored.bot_token == "" and stored.refresh_token == ""
    assert [c["reason"] for c in revoked_signals.calls] == ["uninstalled"]


def test_uninstall_when_slack_already_forgot_the_token_still_disconnects(owner_client, installation, slack_api):
    slack_api.expect_request("/api/auth.revoke").respond_with_json({"ok": False, "error": "token_revoked"})

    owner_client.post("/slack/uninstall/")

    assert not SlackInstallation.objects.get(pk=installation.pk).is_active


def test_uninstall_when_slack_is_unreachable_changes_nothing(owner_client, installation, settings):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"

    response = owner_client.post("/slack/uninstall/")

    assert response.status_code == 502
    assert "Nothing was changed; try again." in response.content.decode()
    assert SlackInstallation.objects.get(pk=installation.pk).is_active


def test_other_tenants_installation_is_invisible(other_client, installation, slack_api):
    html = page(other_client)

    assert "Slack is not connected yet" in html and "Acme Workspace" not in html
    response = other_client.post("/slack/uninstall/", follow=True)
    assert "Slack is not connected." in response.content.decode()
    assert slack_api.log == []
    installation.refresh_from_db()
    assert installation.is_active


def test_channel_selectors_are_tenant_scoped(installation, other_tenant):
    mine = SlackChannelFactory(installation=installation, channel_id="C0MINE", name="mine")
    SlackChannelFactory(installation=SlackInstallationFactory(tenant=other_tenant), channel_id="C0THEIRS", name="theirs")

    assert channel_choices(tenant=installation.tenant) == [("C0MINE", "#mine")]
    assert channel_resolve(tenant=installation.tenant, channel_id="C0MINE") == mine
    assert channel_resolve(tenant=installation.tenant, channel_id="C0THEIRS") is None
    assert channel_resolve(tenant=installation.tenant, channel_id="") is None
