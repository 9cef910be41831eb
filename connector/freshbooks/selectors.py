"""Reads for the FreshBooks side, always scoped by tenant."""

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection, WebhookRejection
from tenants.models import Tenant


def connection_live(*, tenant: Tenant) -> FreshBooksConnection | None:
    """The tenant's connection unless disconnected (active or needing the user), or None."""
    return (FreshBooksConnection.objects.for_tenant(tenant)
            .exclude(status=FreshBooksConnection.Status.DISCONNECTED).first())


def connection_active(*, tenant: Tenant) -> FreshBooksConnection | None:
    return FreshBooksConnection.objects.for_tenant(tenant).filter(status=FreshBooksConnection.Status.ACTIVE).first()


def callback_list(*, tenant: Tenant):
    return (FreshBooksCallback.objects.for_tenant(tenant)
            .filter(connection__status=FreshBooksConnection.Status.ACTIVE)
            .select_related("connection").order_by("event"))


def verifiers_for_event(*, tenant: Tenant, event_name: str) -> list[str]:
    """The verifiers of the tenant's verified callbacks, best guess first: the callback registered for
    this event name, then its parent event (`invoice` for `invoice.create`), then all the others."""
    rows = list(FreshBooksCallback.objects.for_tenant(tenant)
                .filter(state=FreshBooksCallback.State.VERIFIED,
                        connection__status=FreshBooksConnection.Status.ACTIVE)
                .exclude(verifier="").values_list("event", "verifier"))
    parent = event_name.split(".", 1)[0]
    rank = {event_name: 0, parent: 1}
    rows.sort(key=lambda row: rank.get(row[0], 2))
    seen, verifiers = set(), []
    for _, verifier in rows:
        if verifier not in seen:
            seen.add(verifier)
            verifiers.append(verifier)
    return verifiers


def webhook_rejections_recent(*, tenant: Tenant, days: int = 7) -> int:
    """How many webhooks were refused for their signature over the last `days` days (today included)."""
    since = timezone.now().date() - timedelta(days=days - 1)
    total = (WebhookRejection.objects.for_tenant(tenant).filter(day__gte=since)
             .aggregate(total=Sum("count"))["total"])
    return total or 0
