"""connect_slack (operator command, contract): stores a bot token like an install does."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connector.slack.models import SlackChannel, SlackInstallation
from tests.factories import SlackInstallationFactory

pytestmark = pytest.mark.django_db

IDENTITY = {"ok": True, "team": "Acme", "team_id": "T0TEAM", "user": "mlconnector", "user_id": "U0BOT", "bot_id": "B0BOT"}


def connect(tenant, *extra):
    out = StringIO()
    call_command("connect_slack", "--tenant", tenant.slug, "--bot-token", "xoxb-operator", "--team-id", "T0TEAM",
                 *extra, stdout=out)
    return out.getvalue()


def test_connect_slack_stores_the_token_with_the_bot_ids(tenant, slack_api, reactivated_signals,
                                                         django_capture_on_commit_callbacks):
    slack_api.expect_request("/api/auth.test", headers={"Authorization": "Bearer xoxb-operator"}).respond_with_json(
        IDENTITY, headers={"X-OAuth-Scopes": "chat:write, channels:read"})
    slack_api.expect_request("/api/conversations.list").respond_with_json(
        {"ok": True, "channels": [{"id": "C0SALES", "name": "sales"}]})

    with django_capture_on_commit_callbacks(execute=True):
        out = connect(tenant, "--team-name", "Acme HQ")

    assert out.strip() == (f"Connected {tenant.name} ({tenant.slug}) to the Slack workspace Acme HQ (T0TEAM); "
                           "bot user U0BOT, bot id B0BOT; 1 channel listed.")
    installation = SlackInstallation.objects.get(tenant=tenant)
    assert (installation.bot_token, installation.team_name, installation.bot_user_id, installation.bot_id,
            installation.scopes) == ("xoxb-operator", "Acme HQ", "U0BOT", "B0BOT", "chat:write,channels:read")
    assert installation.is_active
    assert SlackChannel.objects.for_tenant(tenant).count() == 1
    assert len(reactivated_signals.calls) == 1


def test_connect_slack_reactivates_a_revoked_installation(tenant, slack_api):
    SlackInstallationFactory(tenant=tenant, status="revoked", revoked_at="2026-01-01T00:00:00Z")
    slack_api.expect_request("/api/auth.test").respond_with_json(IDENTITY)
    slack_api.expect_request("/api/conversations.list").respond_with_json({"ok": True, "channels": []})

    connect(tenant)

    assert SlackInstallation.objects.get(tenant=tenant).is_active


def test_connect_slack_when_slack_is_unreachable_says_so_and_fails(tenant, settings):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"

    with pytest.raises(CommandError, match="Slack could not be reached at http://127.0.0.1:9/api/"):
        connect(tenant)

    assert not SlackInstallation.objects.exists()


def test_connect_slack_with_a_refused_token_fails(tenant, slack_api):
    slack_api.expect_request("/api/auth.test").respond_with_json({"ok": False, "error": "invalid_auth"})

    with pytest.raises(CommandError, match=r"Slack refused the token: .*\(Slack said: invalid_auth\)"):
        connect(tenant)

    assert not SlackInstallation.objects.exists()


def test_connect_slack_with_a_token_of_another_workspace_fails(tenant, slack_api):
    slack_api.expect_request("/api/auth.test").respond_with_json({**IDENTITY, "team_id": "T0OTHER"})

    with pytest.raises(CommandError, match="belongs to workspace T0OTHER, not T0TEAM"):
        connect(tenant)


def test_connect_slack_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        call_command("connect_slack", "--tenant", "nope", "--bot-token", "x", "--team-id", "T1")



def test_connect_slack_reads_the_token_from_standard_input(tenant, slack_api, monkeypatch):
    """Kept off the command line, where the process list would show it."""
    slack_api.expect_request("/api/auth.test", headers={"Authorization": "Bearer xoxb-from-stdin"}
                             ).respond_with_json(IDENTITY)
    slack_api.expect_request("/api/conversations.list").respond_with_json({"ok": True, "channels": []})
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin", StringIO("xoxb-from-stdin\n"))

    call_command("connect_slack", "--tenant", tenant.slug, "--team-id", "T0TEAM", stdout=StringIO())

    assert SlackInstallation.objects.get(tenant=tenant).bot_token == "xoxb-from-stdin"
