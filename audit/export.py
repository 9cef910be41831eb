"""CSV export of an activity search: streamed row by row, decrypted, safe to open in a spreadsheet."""

import csv
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone

from audit.forms import tenant_zone
from audit.selectors import IGNORED, delivery_search, inbound_search

EXPORT_CHUNK = 2000  # rows fetched per round trip while streaming
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection); such text cells get
# a leading single quote so they are shown as text. Numbers we format ourselves (amounts) are left alone.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = ["id", "type", "created_at", "event", "kind", "action", "object_id", "document_number", "counterparty",
           "amount", "currency", "channel_id", "channel_name", "status", "reason", "attempts", "slack_ts",
           "posted_at", "replay_of"]


def csv_safe(value) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    """A file-like object that hands each written line straight back, for streaming."""

    def write(self, value: str) -> str:
        return value


def _when(value, zone) -> str:
    return timezone.localtime(value, zone).isoformat(timespec="seconds") if value else ""


def export_rows(*, tenant, filters: dict) -> Iterator[list]:
    """The header, then one row per delivery found, then one per ignored inbound event found."""
    zone = tenant_zone(tenant)
    yield COLUMNS
    deliveries = delivery_search(tenant=tenant, filters=filters).defer("message_text", "message_blocks")
    for d in deliveries.iterator(chunk_size=EXPORT_CHUNK):
        yield [d.pk, "delivery", _when(d.created_at, zone), d.event_name, d.kind, d.action, d.object_id,
               d.document_number, d.counterparty, d.amount if d.amount is not None else "", d.currency,
               d.channel_id, d.channel_name, d.status, d.held_reason or d.last_error_code, d.attempt_count,
               d.slack_ts, _when(d.posted_at, zone), d.replay_of_id or ""]
    events = inbound_search(tenant=tenant, filters=filters).only(
        "id", "received_at", "name", "object_id", "amount", "status_reason", "financial_event")
    for e in events.iterator(chunk_size=EXPORT_CHUNK):
        fin = e.financial_event or {}
        kind, _, _ = e.name.partition(".")
        yield [e.pk, "inbound_event", _when(e.received_at, zone), e.name, fin.get("kind", kind),
               fin.get("action", ""), e.object_id, fin.get("document_number", ""), fin.get("counterparty", ""),
               e.amount if e.amount is not None else "", fin.get("currency") or "", "", "", IGNORED,
               e.status_reason, 0, "", "", ""]


def export_response(*, tenant, filters: dict, filename: str = "activity.csv") -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    lines = (writer.writerow([csv_safe(cell) for cell in row]) for row in export_rows(tenant=tenant,
                                                                                      filters=filters))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # decrypted data: not for shared caches
    return response
