"""The Slack channels a rule may target: the tenant's own workspace, through the Slack app's selectors.

The only place routing asks about channels. The Slack app is imported lazily (layers: routing sits below
connector.slack), and through the two module-level names below so tests can stand in for the Slack app.
"""

from tenants.models import Tenant


def channel_resolve(*, tenant: Tenant, channel_id: str):
    """The tenant's channel with that id (an object with .channel_id and .name), or None."""
    from connector.slack.selectors import channel_resolve as resolve

    return resolve(tenant=tenant, channel_id=channel_id)


def channel_choices(*, tenant: Tenant):
    """The channels of the tenant's workspace a rule may target."""
    from connector.slack.selectors import channel_choices as choices

    return choices(tenant=tenant)


def _pair(channel) -> tuple[str, str]:
    # Accept both shapes a selector of choices may give: (id, name) pairs or channel objects.
    if isinstance(channel, tuple | list):
        channel_id, name = channel[0], channel[1]
    else:
        channel_id, name = channel.channel_id, channel.name
    return str(channel_id), str(name).lstrip("#")


def tenant_channel(*, tenant: Tenant, channel_id: str) -> tuple[str, str] | None:
    """(channel_id, channel_name) when the channel belongs to the tenant's workspace, else None."""
    if not channel_id:
        return None
    channel = channel_resolve(tenant=tenant, channel_id=channel_id)
    if channel is None:
        return None
    return _pair(channel)


def tenant_channel_choices(*, tenant: Tenant) -> list[tuple[str, str]]:
    """[(channel_id, channel_name)] of the tenant's workspace, by name."""
    return sorted((_pair(c) for c in channel_choices(tenant=tenant)), key=lambda pair: pair[1].casefold())
