"""Digest fixtures: tenants with a Slack workspace and its channels (real SlackChannel rows)."""

import pytest
from django.utils import timezone

from connector.slack.models import InstallationStatus, SlackChannel, SlackInstallation


def workspace(tenant, team_id: str, *channels: tuple[str, str]) -> SlackInstallation:
    installation = SlackInstallation.objects.create(
        tenant=tenant, team_id=team_id, team_name=f"{tenant.name} workspace", bot_user_id="UBOT", bot_id="BBOT",
        scopes="chat:write,channels:read", bot_token="xoxb-test", installed_at=timezone.now(),
        status=InstallationStatus.ACTIVE)
    for channel_id, name in channels:
        SlackChannel.objects.create(tenant=tenant, installation=installation, channel_id=channel_id, name=name,
                                    is_member=True, refreshed_at=timezone.now())
    return installation


@pytest.fixture
def channels(tenant, other_tenant):
    """The tenant's #accounting and #exec-alerts; the other tenant's #their-secrets."""
    workspace(tenant, "T0TEST", ("C0ACCOUNTS", "accounting"), ("C0EXEC", "exec-alerts"))
    workspace(other_tenant, "T0OTHER", ("C0THEIRS", "their-secrets"))
    return {"accounting": "C0ACCOUNTS", "exec": "C0EXEC", "theirs": "C0THEIRS"}
