"""Add to Slack end to end, with a local stand-in for slack.com/api: consent, refusal, forged state,
Slack's own refusals and outages (a page saying what happened, never a 500), reinstall."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from connector.slack import constants
from connector.slack.lifecycle import installation_mark_revoked
from connector.slack.models import InstallationStatus, SlackChannel, SlackInstallation
from tests.factories import SlackChannelFactory, SlackInstallationFactory
from tests.slack.conftest import request_args

pytestmark = pytest.mark.django_db

OAUTH_URL = "https://slack.example.test/oauth/v2/authorize"
GRANTED = {"ok": True, "access_token": "xoxb-new-token", "token_type": "bot", "scope": ",".join(constants.BOT_SCOPES),
           "bot_user_id": "U0BOT", "app_id": "A0APP", "team": {"id": "T0TEAM", "name": "Acme"}, "enterprise": None,
           "authed_user": {"id": "U0ADMIN"}}
IDENTITY = {"ok": True, "team": "Acme", "team_id": "T0TEAM", "user": "mlconnector", "user_id": "U0BOT",
            "bot_id": "B0BOT", "url": "https://acme.slack.com/"}
CHANNELS = {"ok": True, "channels": [{"id": "C0SALES", "name": "sales", "is_private": False},
                                     {"id": "G0BOARD", "name": "board", "is_private": True, "is_member": True}],
            "response_metadata": {"next_cursor": ""}}


@pytest.fixture(autouse=True)
def _oauth_url(settings):
    settings.SLACK_OAUTH_URL = OAUTH_URL


def start_install(client) -> str:
    """Click "Add to Slack"; returns the state Slack would send back."""
    response = client.post("/slack/install/")
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == OAUTH_URL
    query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    assert query["client_id"] == "slack-client-id"
    assert query["scope"] == ("chat:write,chat:write.public,channels:read,groups:read,channels:history,"
                              "groups:history,commands")
    assert query["redirect_uri"] == "https://connector.example.com/slack/oauth/callback/"
    assert len(query["state"]) >= 40
    return query["state"]


def expect_install(slack_api, *, granted=GRANTED):
    slack_api.expect_ordered_request("/api/oauth.v2.access").respond_with_json(granted)
    slack_api.expect_ordered_request("/api/auth.test",
                                     headers={"Authorization": "Bearer xoxb-new-token"}).respond_with_json(IDENTITY)
    slack_api.expect_ordered_request("/api/conversations.list").respond_with_json(CHANNELS)


def test_install_end_to_end(owner_client, owner, tenant, slack_api, reactivated_signals,
                            django_capture_on_commit_callbacks):
    state = start_install(owner_client)
    expect_install(slack_api)

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.get("/slack/oauth/callback/", {"code": "the-code", "state": state})

    assert response.status_code == 302 and response["Location"] == "/slack/"
    exchange = slack_api.log[0][0]
    assert request_args(exchange) == {"code": "the-code",
                                      "redirect_uri": "https://connector.example.com/slack/oauth/callback/"}
    assert exchange.authorization.type == "basic"
    assert (exchange.authorization.username, exchange.authorization.password) == ("slack-client-id",
                                                                                 "slack-client-secret")
    installation = SlackInstallation.objects.get(tenant=tenant)
    assert (installation.team_id, installation.team_name, installation.bot_user_id, installation.bot_id,
            installation.app_id) == ("T0TEAM", "Acme", "U0BOT", "B0BOT", "A0APP")
    assert installation.scope_list == list(constants.BOT_SCOPES)
    assert installation.bot_token == "xoxb-new-token" and installation.expires_at is None
    assert installation.status == InstallationStatus.ACTIVE and installation.installed_by == owner
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT bot_token FROM slack_slackinstallation WHERE id = %s", [installation.pk])
        assert "xoxb-new-token" not in cursor.fetchone()[0]
    assert [(c.channel_id, c.name, c.is_private) for c in SlackChannel.objects.for_tenant(tenant)] == [
        ("G0BOARD", "board", True), ("C0SALES", "sales", False)]
    assert [(c["tenant"], c["was_revoked"]) for c in reactivated_signals.calls] == [(tenant, False)]

    page = owner_client.get("/slack/").content.decode()
    assert "Connected to the Slack workspace Acme." in page and "xoxb-new-token" not in page

    # The state was single use: the same link again changes nothing.
    again = owner_client.get("/slack/oauth/callback/", {"code": "the-code", "state": state})
    assert again.status_code == 400 and len(slack_api.log) == 3


def test_install_with_token_rotation_stores_the_refresh_pair(owner_client, tenant, slack_api):
    state = start_install(owner_client)
    expect_install(slack_api, granted={**GRANTED, "refresh_token": "xoxe-1-refresh", "expires_in": 43200})

    owner_client.get("/slack/oauth/callback/", {"code": "c", "state": state})

    installation = SlackInstallation.objects.get(tenant=tenant)
    assert installation.refresh_token == "xoxe-1-refresh" and installation.expires_at is not None


def test_refusal_in_slack_says_so_and_connects_nothing(owner_client, tenant, slack_api):
    state = start_install(owner_client)

    response = owner_client.get("/slack/oauth/callback/", {"error": "access_denied", "state": state})

    assert response.status_code == 400
    assert "You chose not to allow ml-connector in Slack" in response.content.decode()
    assert not SlackInstallation.objects.filter(tenant=tenant).exists()
    assert slack_api.log == []


def test_forged_state_is_refused_before_any_slack_call(owner_client, tenant, slack_api):
    start_install(owner_client)

    response = owner_client.get("/slack/oauth/callback/", {"code": "stolen", "state": "forged-state"})

    assert response.status_code == 400
    assert "was not started from this browser" in response.content.decode()
    assert slack_api.log == [] and not SlackInstallation.objects.exists()


def test_callback_without_any_install_started_is_refused(owner_client, slack_api):
    response = owner_client.get("/slack/oauth/callback/", {"code": "x", "state": "y"})

    assert response.status_code == 400 and slack_api.log == []


def test_state_of_another_business_is_refused(client, owner, tenant, other_tenant, slack_api):
    from tests.factories import MembershipFactory

    MembershipFactory(tenant=other_tenant, user=owner)
    client.force_login(owner, backend="tenants.auth.EmailBackend")
    session = client.session
    session["tenant_id"] = tenant.pk
    session.save()
    state = start_install(client)
    client.post("/accounts/businesses/switch/", {"tenant": other_tenant.pk})  # switched business meanwhile

    response = client.get("/slack/oauth/callback/", {"code": "c", "state": state})

    assert response.status_code == 400 and slack_api.log == []
    assert not SlackInstallation.objects.exists()


def test_slack_refusing_the_code_is_a_page_with_the_reason(owner_client, tenant, slack_api):
    state = start_install(owner_client)
    slack_api.expect_request("/api/oauth.v2.access").respond_with_json({"ok": False, "error": "invalid_code"})

    response = owner_client.get("/slack/oauth/callback/", {"code": "old", "state": state})

    assert response.status_code == 502
    page = response.content.decode()
    assert "Slack was not connected" in page and "(Slack said: invalid_code)" in page
    assert not SlackInstallation.objects.filter(tenant=tenant).exists()


def test_slack_unreachable_is_a_page_not_a_500(owner_client, tenant, settings):
    state = start_install(owner_client)
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"

    response = owner_client.get("/slack/oauth/callback/", {"code": "c", "state": state})

    assert response.status_code == 502
    assert "Slack could not be reached" in response.content.decode()


def test_channel_listing_failing_after_install_still_installs(owner_client, tenant, slack_api):
    state = start_install(owner_client)
    slack_api.expect_ordered_request("/api/oauth.v2.access").respond_with_json(GRANTED)
    slack_api.expect_ordered_request("/api/auth.test").respond_with_json(IDENTITY)
    slack_api.expect_ordered_request("/api/conversations.list").respond_with_data("down", status=503)

    response = owner_client.get("/slack/oauth/callback/", {"code": "c", "state": state})

    assert response.status_code == 302
    assert SlackInstallation.objects.get(tenant=tenant).is_active
    assert not SlackChannel.objects.exists()


def test_viewer_cannot_install(viewer_client, slack_api):
    assert viewer_client.post("/slack/install/").status_code == 403
    assert viewer_client.get("/slack/oauth/callback/", {"code": "c", "state": "s"}).status_code == 403


def test_install_without_a_configured_slack_app_explains(owner_client, settings):
    settings.SLACK_CLIENT_ID = ""

    response = owner_client.post("/slack/install/")

    assert response.status_code == 503 and "Slack is not set up on this server" in response.content.decode()


def test_reinstall_after_revocation_is_active_again_and_releases_holds(
        owner_client, tenant, slack_api, reactivated_signals, django_capture_on_commit_callbacks):
    old = SlackInstallationFactory(tenant=tenant, bot_token="xoxb-old")
    installation_mark_revoked(installation=old, reason="app_uninstalled")
    state = start_install(owner_client)
    expect_install(slack_api)

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.get("/slack/oauth/callback/", {"code": "c", "state": state})

    installation = SlackInstallation.objects.get(tenant=tenant)
    assert installation.pk == old.pk  # updated, not duplicated
    assert installation.is_active and installation.revoked_at is None and installation.status_reason == ""
    assert installation.bot_token == "xoxb-new-token"
    assert [(c["tenant"], c["installation"].pk, c["was_revoked"]) for c in reactivated_signals.calls] == [
        (tenant, old.pk, True)]


def test_reinstall_into_another_workspace_forgets_the_old_channels(owner_client, tenant, slack_api):
    old = SlackInstallationFactory(tenant=tenant, team_id="T0OLD")
    SlackChannelFactory(installation=old, channel_id="C0OLD", name="old-general")
    state = start_install(owner_client)
    expect_install(slack_api)

    owner_client.get("/slack/oauth/callback/", {"code": "c", "state": state})

    assert sorted(SlackChannel.objects.for_tenant(tenant).values_list("channel_id", flat=True)) == ["C0SALES",
                                                                                                   "G0BOARD"]
