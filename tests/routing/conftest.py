"""Routing test fixtures: the tenants' Slack channels, as the Slack app lists them (real rows)."""

import pytest

from connector.slack.models import SlackInstallation
from tests.factories import SlackChannelFactory, SlackInstallationFactory


@pytest.fixture
def tenant_channel():
    """tenant_channel(tenant, "C0ACCOUNTS", "accounting"): a channel of that tenant's Slack workspace."""

    def add(tenant, channel_id: str, name: str):
        installation = (SlackInstallation.objects.for_tenant(tenant).first()
                        or SlackInstallationFactory(tenant=tenant, team_id=f"T{tenant.pk:07d}"))
        return SlackChannelFactory(installation=installation, channel_id=channel_id, name=name)

    return add


@pytest.fixture
def channels(tenant, other_tenant, tenant_channel):
    """The tenant's #accounting, #exec-alerts and #accounting-team; the other tenant's #their-secrets."""
    tenant_channel(tenant, "C0ACCOUNTS", "accounting")
    tenant_channel(tenant, "C0EXEC", "exec-alerts")
    tenant_channel(tenant, "C0TEAM", "accounting-team")
    tenant_channel(other_tenant, "C0THEIRS", "their-secrets")
    return {"accounting": "C0ACCOUNTS", "exec": "C0EXEC", "team": "C0TEAM", "theirs": "C0THEIRS"}
