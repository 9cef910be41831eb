"""connector.freshbooks.connection_cache: the pipeline's copy of a tenant's connection follows every change,
whether it is a save, a queryset update of the product's own, or another process's."""

import pytest

from audit.models import InboundEvent
from connector.core.redis_client import redis_quick
from connector.freshbooks import services
from connector.freshbooks.connection_cache import connection_live_cached, connections
from connector.freshbooks.errors import AuthorizationLost
from connector.freshbooks.lifecycle import connection_mark_needs_reauth
from connector.freshbooks.models import FreshBooksConnection
from connector.freshbooks.normalise import normalise_inbound
from tests.freshbooks.conftest import make_connection

pytestmark = pytest.mark.django_db


def _inbound(tenant) -> InboundEvent:
    return InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="1", raw_body="")


def test_a_refreshed_token_saved_in_this_process_is_used_for_the_next_event(tenant, connection):
    assert connection_live_cached(tenant=tenant).access_token == "access-1"
    connection.access_token = "access-2"
    connection.save()
    assert connection_live_cached(tenant=tenant).access_token == "access-2"


def test_a_connection_needing_the_user_stops_the_next_event_without_calling_freshbooks(tenant, connection,
                                                                                       fb_api):
    assert connection_live_cached(tenant=tenant).is_active
    connection_mark_needs_reauth(connection=connection, reason="FreshBooks refused to renew access")
    with pytest.raises(AuthorizationLost):
        normalise_inbound(inbound_event=_inbound(tenant))
    assert not fb_api.calls


def test_a_disconnected_business_has_no_connection_for_the_next_event(tenant, connection, fb_api):
    assert connection_live_cached(tenant=tenant) is not None
    services.connection_disconnect(tenant=tenant, actor=None)  # FreshBooks unreachable: noted as problems
    assert connection_live_cached(tenant=tenant) is None


def test_a_change_announced_by_another_process_applies_to_the_next_read(tenant, other_tenant, connection):
    theirs = make_connection(other_tenant, access_token="theirs")
    assert connection_live_cached(tenant=tenant).access_token == "access-1"
    assert connection_live_cached(tenant=other_tenant).access_token == "theirs"
    # Another process (a worker refreshing the token) saves the row: its save announces the change in Redis.
    FreshBooksConnection.objects.filter(pk=connection.pk).update(access_token="access-from-elsewhere")
    redis_quick().set(connections.version_key(tenant.pk), "changed-by-another-process")
    assert connection_live_cached(tenant=tenant).access_token == "access-from-elsewhere"
    assert connection_live_cached(tenant=other_tenant).pk == theirs.pk
