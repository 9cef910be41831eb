"""Reads over the ledger, always scoped to one tenant."""

from django.db.models import QuerySet

from audit.models import Delivery


def delivery_list(*, tenant, filters: dict | None = None) -> QuerySet[Delivery]:
    filters = filters or {}
    qs = Delivery.objects.for_tenant(tenant).select_related("inbound_event")
    if filters.get("status"):
        qs = qs.filter(status__in=filters["status"] if isinstance(filters["status"], list) else [filters["status"]])
    if filters.get("event"):
        qs = qs.filter(event_name=filters["event"])
    if filters.get("channel_id"):
        qs = qs.filter(channel_id=filters["channel_id"])
    if filters.get("object_id"):
        qs = qs.filter(object_id=filters["object_id"])
    return qs.order_by("-id")


def delivery_get(*, tenant, pk: int) -> Delivery:
    return Delivery.objects.for_tenant(tenant).select_related("inbound_event").get(pk=pk)
