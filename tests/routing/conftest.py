"""Routing test fixtures: the tenant's Slack channels.

The Slack app (connector.slack) is built on another branch; until it is merged, its two selectors are
stood in for here, per tenant, in memory. This stands in for a collaborator, not for routing itself.
At merge, the integrator replaces `tenant_channel` with one creating real SlackChannel rows.
"""

from types import SimpleNamespace

import pytest

from routing import channels as routing_channels


@pytest.fixture(autouse=True)
def _slack_workspaces(monkeypatch):
    workspaces: dict[int, dict[str, SimpleNamespace]] = {}

    def channel_resolve(*, tenant, channel_id):
        return workspaces.get(tenant.pk, {}).get(channel_id)

    def channel_choices(*, tenant):
        return [(c.channel_id, c.name) for c in workspaces.get(tenant.pk, {}).values()]

    monkeypatch.setattr(routing_channels, "channel_resolve", channel_resolve)
    monkeypatch.setattr(routing_channels, "channel_choices", channel_choices)
    return workspaces


@pytest.fixture
def tenant_channel(_slack_workspaces):
    """tenant_channel(tenant, "C0ACCOUNTS", "accounting"): a channel of that tenant's Slack workspace."""

    def add(tenant, channel_id: str, name: str):
        channel = SimpleNamespace(channel_id=channel_id, name=name)
        _slack_workspaces.setdefault(tenant.pk, {})[channel_id] = channel
        return channel

    return add


@pytest.fixture
def channels(tenant, other_tenant, tenant_channel):
    """The tenant's #accounting, #exec-alerts and #accounting-team; the other tenant's #their-secrets."""
    tenant_channel(tenant, "C0ACCOUNTS", "accounting")
    tenant_channel(tenant, "C0EXEC", "exec-alerts")
    tenant_channel(tenant, "C0TEAM", "accounting-team")
    tenant_channel(other_tenant, "C0THEIRS", "their-secrets")
    return {"accounting": "C0ACCOUNTS", "exec": "C0EXEC", "team": "C0TEAM", "theirs": "C0THEIRS"}
