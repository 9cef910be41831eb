"""Reads over the ledger, always scoped to one tenant: the activity search and its pieces.

Filters are a plain dict, the same for the web page, the API, the CSV export, bulk replay and the `replay`
command (every key optional):

- ``since`` / ``until``: datetimes (or ISO strings); ``since`` inclusive, ``until`` exclusive.
- ``event``: a FreshBooks event name (or a list of them); ``kind`` (invoice, payment, bill, expense) and
  ``action`` (created, sent, updated, deleted).
- ``status``: a list of delivery statuses (pending, retrying, held, posted, failed) and/or ``ignored``.
  ``ignored`` is not a delivery status: it selects inbound events that made no delivery (an event name
  the product does not handle, or no rule matched), which `inbound_search` returns. `delivery_search`
  returns deliveries only, so a search for ``["ignored"]`` alone finds no deliveries.
- ``channel_id``; ``amount_min`` / ``amount_max`` (inclusive); ``object_id``.
- ``counterparty``: the client or vendor name contains it (ignoring case and spacing), through blind
  indexes of name fragments (audit/counterparty_search.py); a single character matches exactly.
  ``document_number``: exact match (ignoring case and spacing) through the keyed blind index. Never
  plaintext: stored selections (bulk replay) carry ``counterparty_grams`` (or ``counterparty_index``) and
  ``document_number_index`` instead, so no name is ever written down in clear.
- ``sort``: one of SORTS (default newest first).
- ``max_id``: deliveries up to this id only (a bulk replay's frozen selection).
"""

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import F, Lookup, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.counterparty_search import names_containing, query_grams
from audit.models import BulkReplay, Delivery, InboundEvent
from connector.core.crypto import blind_index
from connector.core.events import SUPPORTED_EVENTS

IGNORED = "ignored"  # the search's pseudo-status for inbound events that made no delivery

# Sort key -> ORDER BY. Ties fall back on id so pages never overlap or skip a row.
SORTS: dict[str, tuple] = {
    "-created_at": (F("created_at").desc(), F("id").desc()),
    "created_at": (F("created_at").asc(), F("id").asc()),
    "-amount": (F("amount").desc(nulls_last=True), F("id").desc()),
    "amount": (F("amount").asc(nulls_last=True), F("id").asc()),
    "-status": (F("status").desc(), F("created_at").desc(), F("id").desc()),
    "status": (F("status").asc(), F("created_at").desc(), F("id").desc()),
}
DEFAULT_SORT = "-created_at"

# Ignored inbound events sort by when they arrived; status sorting means nothing for them.
_INBOUND_SORTS: dict[str, tuple] = {
    "created_at": (F("received_at").asc(), F("id").asc()),
    "amount": (F("amount").asc(nulls_last=True), F("id").asc()),
    "-amount": (F("amount").desc(nulls_last=True), F("id").desc()),
}
_INBOUND_DEFAULT_SORT = (F("received_at").desc(), F("id").desc())


def _as_datetime(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _as_decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _as_list(value) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def _index(filters: dict, name: str) -> str:
    """The blind index for a plaintext filter (or the one a stored selection already carries)."""
    if filters.get(name):
        return blind_index(filters[name])
    return filters.get(f"{name}_index") or ""


def _counterparty_grams(filters: dict, tenant_id: int) -> list[str]:
    """The fragment hashes a "contains" search on the name looks for ([]: none, or an exact search)."""
    if filters.get("counterparty"):
        return query_grams(tenant_id, filters["counterparty"])
    return list(filters.get("counterparty_grams") or [])


def search_filters_for_storage(filters: dict, *, tenant_id: int) -> dict:
    """The same selection as JSON, with names replaced by their blind indexes (no plaintext is stored)."""
    stored = {}
    for key, value in filters.items():
        if value in (None, "", []) or key in ("counterparty", "document_number", "sort"):
            continue
        stored[key] = value
    if grams := _counterparty_grams(filters, tenant_id):
        stored["counterparty_grams"] = grams
        stored.pop("counterparty_index", None)
    for name in ("counterparty", "document_number"):
        if (index := _index(filters, name)) and not (name == "counterparty" and grams):
            stored[f"{name}_index"] = index
    return json.loads(json.dumps(stored, cls=DjangoJSONEncoder))


def delivery_search(*, tenant, filters: dict | None = None) -> QuerySet[Delivery]:
    """The tenant's deliveries matching `filters` (see the module docstring), sorted."""
    filters = filters or {}
    qs = Delivery.objects.for_tenant(tenant)
    statuses = _as_list(filters.get("status"))
    if statuses:
        wanted = [s for s in statuses if s in Delivery.Status.values]
        if not wanted:
            return qs.none()
        qs = qs.filter(status__in=wanted)
    if since := _as_datetime(filters.get("since")):
        qs = qs.filter(created_at__gte=since)
    if until := _as_datetime(filters.get("until")):
        qs = qs.filter(created_at__lt=until)
    if events := _as_list(filters.get("event")):
        qs = qs.filter(event_name__in=events)
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("action"):
        qs = qs.filter(action=filters["action"])
    if filters.get("channel_id"):
        qs = qs.filter(channel_id=filters["channel_id"])
    qs = _filter_searchable_columns(qs, filters, tenant.pk)
    if filters.get("max_id"):
        qs = qs.filter(id__lte=int(filters["max_id"]))
    return qs.order_by(*SORTS.get(filters.get("sort") or DEFAULT_SORT, SORTS[DEFAULT_SORT]))


def _filter_searchable_columns(qs, filters: dict, tenant_id: int):
    """Amount range, blind-index matches and object id: columns deliveries and inbound events share."""
    if (low := _as_decimal(filters.get("amount_min"))) is not None:
        qs = qs.filter(amount__gte=low)
    if (high := _as_decimal(filters.get("amount_max"))) is not None:
        qs = qs.filter(amount__lte=high)
    if grams := _counterparty_grams(filters, tenant_id):
        qs = qs.filter(_AnyOf(F("counterparty_index"), names_containing(tenant_id=tenant_id, grams=grams)))
    elif counterparty := _index(filters, "counterparty"):
        qs = qs.filter(counterparty_index=counterparty)
    if document := _index(filters, "document_number"):
        qs = qs.filter(document_number_index=document)
    if filters.get("object_id"):
        qs = qs.filter(object_id=filters["object_id"])
    return qs


class _AnyOf(Lookup):
    """`column = ANY(...)` with a list of blind indexes (hex, no commas) sent as ONE comma-joined string: a
    fragment most names hold ("ltd") matches thousands of names, and `IN (%s, %s, ...)` with thousands of
    parameters, or a list adapted as an array by psycopg's Python code, costs more to build and bind (tens
    of milliseconds) than the query takes to run."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):  # SQLite (`make run`'s default database): a plain IN list
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if not self.rhs:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*lhs_params, *self.rhs]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(string_to_array(%s, ','))", [*lhs_params, ",".join(self.rhs)]


def _event_names(*, kind: str = "", action: str = "") -> list[str]:
    return [name for name, (k, a) in SUPPORTED_EVENTS.items()
            if (not kind or k == kind) and (not action or a == action)]


def inbound_search(*, tenant, filters: dict | None = None) -> QuerySet[InboundEvent]:
    """The tenant's ignored inbound events (they made no delivery) matching the same filters.

    Only when the search asks for status ``ignored`` or for no status at all. A channel filter finds none
    (an ignored event went to no channel). Amount, counterparty and document number match the event's own
    search columns, which unhandled event names (never fetched, never normalised) do not have.
    """
    filters = filters or {}
    qs = InboundEvent.objects.for_tenant(tenant).filter(status=InboundEvent.Status.IGNORED)
    statuses = _as_list(filters.get("status"))
    if (statuses and IGNORED not in statuses) or filters.get("channel_id"):
        return qs.none()
    if since := _as_datetime(filters.get("since")):
        qs = qs.filter(received_at__gte=since)
    if until := _as_datetime(filters.get("until")):
        qs = qs.filter(received_at__lt=until)
    if events := _as_list(filters.get("event")):
        qs = qs.filter(name__in=events)
    if filters.get("kind") and not filters.get("action"):
        # Unhandled event names of the same kind count too (e.g. invoice.dispute).
        qs = qs.filter(name__startswith=f"{filters['kind']}.")
    elif filters.get("action"):
        qs = qs.filter(name__in=_event_names(kind=filters.get("kind", ""), action=filters["action"]))
    qs = _filter_searchable_columns(qs, filters, tenant.pk)
    return qs.order_by(*_INBOUND_SORTS.get(filters.get("sort") or "", _INBOUND_DEFAULT_SORT))


def delivery_get(*, tenant, pk: int) -> Delivery:
    return Delivery.objects.for_tenant(tenant).select_related("inbound_event").get(pk=pk)


def inbound_get(*, tenant, pk: int) -> InboundEvent:
    return InboundEvent.objects.for_tenant(tenant).get(pk=pk)


def delivery_timeline(*, delivery: Delivery):
    """The delivery's attempts, oldest first."""
    return delivery.attempts.filter(tenant_id=delivery.tenant_id).order_by("started_at", "id")


def delivery_related(*, delivery: Delivery) -> dict:
    """The delivery it replays (if any), its replays, and its siblings (same event, other channels)."""
    scoped = Delivery.objects.for_tenant(delivery.tenant)
    return {
        "original": scoped.filter(pk=delivery.replay_of_id).first() if delivery.replay_of_id else None,
        "replays": list(scoped.filter(replay_of=delivery).order_by("id")),
        "siblings": list(scoped.filter(inbound_event_id=delivery.inbound_event_id).exclude(pk=delivery.pk)
                         .exclude(replay_of=delivery).order_by("id")),
    }


# A loose index scan over (tenant, channel_id, -created_at): one index probe per distinct channel instead of
# reading every delivery of the tenant, so the channel list stays instant at millions of rows. Each channel
# is named by its most recent delivery (channels get renamed). Plain SQL that PostgreSQL and SQLite share.
_CHANNELS_SQL = """
WITH RECURSIVE channel AS (
    SELECT (SELECT MIN(channel_id) FROM audit_delivery WHERE tenant_id = %(tenant)s) AS channel_id
    UNION ALL
    SELECT (SELECT MIN(d.channel_id) FROM audit_delivery d
            WHERE d.tenant_id = %(tenant)s AND d.channel_id > channel.channel_id)
    FROM channel WHERE channel.channel_id IS NOT NULL
)
SELECT channel.channel_id,
       (SELECT d.channel_name FROM audit_delivery d WHERE d.tenant_id = %(tenant)s
        AND d.channel_id = channel.channel_id ORDER BY d.created_at DESC LIMIT 1)
FROM channel WHERE channel.channel_id IS NOT NULL AND channel.channel_id <> ''
"""


def delivery_channels(*, tenant) -> list[tuple[str, str]]:
    """Distinct (channel_id, channel_name) the tenant's deliveries went to, sorted by name."""
    if tenant is None:
        raise ValueError("delivery_channels() needs a tenant")
    with connection.cursor() as cursor:
        cursor.execute(_CHANNELS_SQL, {"tenant": tenant.pk})
        rows = [(channel_id, name or "") for channel_id, name in cursor.fetchall()]
    return sorted(rows, key=lambda item: ((item[1] or item[0]).lower(), item[0]))


def bulk_replay_get(*, tenant, pk: int) -> BulkReplay:
    return BulkReplay.objects.for_tenant(tenant).select_related("requested_by").get(pk=pk)
