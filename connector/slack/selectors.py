"""Reads of the Slack side for views, forms and the pipeline (no Slack calls here)."""

from connector.slack.models import SlackChannel, SlackInstallation
from tenants.models import Tenant


def installation_for(*, tenant: Tenant) -> SlackInstallation | None:
    """The tenant's installation, active or revoked; None when Slack was never connected."""
    return SlackInstallation.objects.for_tenant(tenant).first()


def installation_active(*, tenant: Tenant) -> SlackInstallation | None:
    installation = installation_for(tenant=tenant)
    return installation if installation and installation.is_active else None


def channel_list(*, tenant: Tenant):
    return SlackChannel.objects.for_tenant(tenant).order_by("name")


def channel_choices(*, tenant: Tenant) -> list[tuple[str, str]]:
    """(channel id, "#name") pairs for a form's channel picker, sorted by name."""
    return [(channel.channel_id, f"#{channel.name}") for channel in channel_list(tenant=tenant)]


def channel_resolve(*, tenant: Tenant, channel_id: str) -> SlackChannel | None:
    """The tenant's channel with that id (as last listed), or None: another tenant's id is not found."""
    if not channel_id:
        return None
    return SlackChannel.objects.for_tenant(tenant).filter(channel_id=channel_id).first()
