"""The Slack channels a rule may target: the tenant's own workspace, as the Slack app last listed it.

The only place routing asks about channels (a read of the Slack app's channel list; no Slack call).
"""

from connector.core.errors import FieldErrors
from connector.slack.selectors import channel_list, channel_resolve
from tenants.models import Tenant


def tenant_channel(*, tenant: Tenant, channel_id: str) -> tuple[str, str] | None:
    """(channel_id, channel_name) when the channel belongs to the tenant's workspace, else None."""
    if not channel_id:
        return None
    channel = channel_resolve(tenant=tenant, channel_id=channel_id)
    if channel is None:
        return None
    return channel.channel_id, channel.name


def channel_chosen(*, tenant: Tenant, given: dict, current_channel_id: str | None,
                   errors: FieldErrors) -> tuple[str, str] | None:
    """The (channel_id, channel_name) that a rule or digest being saved posts to from now on, or None when
    it keeps its channel or the channel is refused (the reason added to `errors`). An unchanged channel is
    kept as saved, so that one archived since can still be edited or disabled; a new or different channel
    must belong to the tenant's own workspace."""
    channel_id = str(given.get("channel_id") or "").strip()
    if current_channel_id is not None and channel_id == current_channel_id:
        return None
    channel = tenant_channel(tenant=tenant, channel_id=channel_id)
    if channel is None:
        errors.add("channel_id", "Choose a channel of your Slack workspace.")
    return channel


def tenant_channel_choices(*, tenant: Tenant) -> list[tuple[str, str]]:
    """[(channel_id, channel_name)] of the tenant's workspace, by name."""
    pairs = [(channel.channel_id, channel.name) for channel in channel_list(tenant=tenant)]
    return sorted(pairs, key=lambda pair: pair[1].casefold())
