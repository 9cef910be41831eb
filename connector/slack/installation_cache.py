"""A tenant's Slack installation kept in process for the pipeline: processing an event and posting a
delivery need it every time, and reading it costs a query and the bot token's decryption. Every save or
delete of an installation, in any process, announces the change (connector.core.tenant_cache); callers
get a copy of their own, which they may change (a rotated token, a revocation)."""

import time

from django.db.models import Count
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from connector.core.tenant_cache import TenantCache
from connector.slack.models import SlackInstallation
from connector.slack.selectors import installation_for
from tenants.models import Tenant

installations = TenantCache("slack-installation", lambda tenant: installation_for(tenant=tenant))

SHARED_TTL = 60.0  # seconds; a workspace a second tenant installed counts as shared at most this much later
_shared: tuple[float, frozenset[str]] = (float("-inf"), frozenset())  # (read at, monotonic; team ids)


def installation_cached(*, tenant: Tenant) -> SlackInstallation | None:
    """The tenant's installation as installation_for reads it (active or revoked; None when Slack was never
    connected), from this process's copy while no change has been announced."""
    return installations.get(tenant)


def workspaces_shared() -> frozenset[str]:
    """The Slack workspaces (team ids) installed by more than one tenant, as read at most SHARED_TTL ago.
    Most workspaces are one tenant's: the pipeline asks this before work only a shared one needs."""
    global _shared
    read_at, teams = _shared
    if time.monotonic() - read_at > SHARED_TTL:
        teams = frozenset(SlackInstallation.objects.order_by().values("team_id").annotate(tenants=Count("tenant_id"))
                          .filter(tenants__gt=1).values_list("team_id", flat=True))
        _shared = (time.monotonic(), teams)
    return teams


@receiver([post_save, post_delete], sender=SlackInstallation, dispatch_uid="slack.installation_cache")
def _on_installation_change(sender, instance, **kwargs):
    global _shared
    installations.changed(instance.tenant_id)
    _shared = (float("-inf"), frozenset())  # read again at the next ask (other processes within SHARED_TTL)
