"""A tenant's Slack installation kept in process for the pipeline: processing an event and posting a
delivery need it every time, and reading it costs a query and the bot token's decryption. Every save or
delete of an installation, in any process, announces the change (connector.core.tenant_cache); callers
get a copy of their own, which they may change (a rotated token, a revocation)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from connector.core.tenant_cache import TenantCache
from connector.slack.models import SlackInstallation
from connector.slack.selectors import installation_for
from tenants.models import Tenant

installations = TenantCache("slack-installation", lambda tenant: installation_for(tenant=tenant))


def installation_cached(*, tenant: Tenant) -> SlackInstallation | None:
    """The tenant's installation as installation_for reads it (active or revoked; None when Slack was never
    connected), from this process's copy while no change has been announced."""
    return installations.get(tenant)


@receiver([post_save, post_delete], sender=SlackInstallation, dispatch_uid="slack.installation_cache")
def _on_installation_change(sender, instance, **kwargs):
    installations.changed(instance.tenant_id)
