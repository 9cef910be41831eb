"""A tenant's FreshBooks connection kept in process for the pipeline: processing each event needs it, and
reading it costs a query and the decryption of both tokens. Every change of a connection, in any process,
announces itself (connector.core.tenant_cache): a save or delete through its signal, and the queryset
updates of disconnecting and of needing the user (which send no signal) through connection_changed.

A token refreshed by another process in between is still safe to have used: FreshBooks refuses the old
one with a 401, and the client then reads the row under its lock (FreshBooksClient.access_token)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from connector.core.tenant_cache import TenantCache
from connector.freshbooks.models import FreshBooksConnection
from connector.freshbooks.selectors import connection_live
from connector.freshbooks.verifier_cache import verifiers_changed
from tenants.models import Tenant

connections = TenantCache("freshbooks-connection", lambda tenant: connection_live(tenant=tenant))


def connection_live_cached(*, tenant: Tenant) -> FreshBooksConnection | None:
    """connection_live(tenant), from this process's copy while no change has been announced."""
    return connections.get(tenant)


def connection_changed(tenant_id: int) -> None:
    """Announces a connection changed by a queryset update (no signal): to this cache, and to the webhook
    verifiers' (a connection that is not active signs no webhook)."""
    connections.changed(tenant_id)
    verifiers_changed(tenant_id)


@receiver([post_save, post_delete], sender=FreshBooksConnection, dispatch_uid="freshbooks.connection_cache")
def _on_connection_change(sender, instance, **kwargs):
    connections.changed(instance.tenant_id)  # the verifiers' cache has a receiver of its own
