"""State changes of a FreshBooks connection that the API client itself makes: when FreshBooks refuses to
renew our access, the connection needs the user to reconnect."""

import logging

from django.utils import timezone

from audit.activity import activity_record
from connector.freshbooks.connection_cache import connection_changed
from connector.freshbooks.models import FreshBooksConnection

logger = logging.getLogger(__name__)


def connection_mark_needs_reauth(*, connection: FreshBooksConnection, reason: str) -> FreshBooksConnection:
    """Active -> needs reauth (idempotent), recorded in the activity log. Returns the connection as stored."""
    updated = (FreshBooksConnection.objects.filter(pk=connection.pk, status=FreshBooksConnection.Status.ACTIVE)
               .update(status=FreshBooksConnection.Status.NEEDS_REAUTH, status_reason=reason[:300],
                       updated_at=timezone.now()))
    connection.refresh_from_db()
    if updated:
        connection_changed(connection.tenant_id)  # its callbacks no longer sign webhooks
        logger.warning("freshbooks.needs_reauth", extra={"tenant_id": connection.tenant_id,
                                                         "connection_id": connection.pk})
        activity_record(tenant=connection.tenant, actor=None, action="freshbooks.needs_reconnect",
                        target=connection.business_name or connection.business_id, details={"reason": reason[:300]})
    return connection
