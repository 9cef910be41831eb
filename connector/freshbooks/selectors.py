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
    """The tenant's connection if it works now (not disconnected, not waiting for the user), or None."""
    return FreshBooksConnection.objects.for_tenant(tenant).filter(status=FreshBooksConnection.Status.ACTIVE).first()


def callback_list(*, tenant: Tenant):
    return (FreshBooksCallback.objects.for_tenant(tenant)
            .filter(connection__status=FreshBooksConnection.Status.ACTIVE)
            .select_related("connection").order_by("event"))


def _verified(queryset):
    return (queryset.filter(state=FreshBooksCallback.State.VERIFIED,
                            connection__status=FreshBooksConnection.Status.ACTIVE).exclude(verifier=""))


def intake_verifiers(*, token_hash: str) -> tuple[int | None, list[tuple[str, str]]]:
    """(tenant id, [(event, verifier)]) for the hash of a webhook URL token, in one query; a second query
    only tells "known tenant without verified callbacks" from "unknown token" (None). The intake keeps
    the answer in process (verifier_cache)."""
    rows = list(_verified(FreshBooksCallback.objects.filter(tenant__webhook_token_hash=token_hash))
                .values_list("tenant_id", "event", "verifier"))
    if rows:
        return rows[0][0], [(event, verifier) for _, event, verifier in rows]
    tenant_id = Tenant.objects.filter(webhook_token_hash=token_hash).values_list("pk", flat=True).first()
    return tenant_id, []


def verifiers_ordered(rows: list[tuple[str, str]], event_name: str) -> list[str]:
    """Best guess first: the callback registered for this event name, then its parent event (`invoice`
    for `invoice.create`), then all the others; each verifier once."""
    parent = event_name.split(".", 1)[0]
    rank = {event_name: 0, parent: 1}
    rows = sorted(rows, key=lambda row: rank.get(row[0], 2))
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
