"""CSV export of an activity search: decrypted, safe to open in a spreadsheet. Up to EXPORT_MAX_ROWS rows
it is streamed at once; a larger one becomes an ExportJob that a Celery task builds and the user downloads
when it is ready, so no request holds a web worker for a whole ledger."""

import csv
import io
import logging
from collections.abc import Iterator
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from audit.forms import tenant_zone
from audit.models import ExportJob
from audit.selectors import IGNORED, delivery_search, inbound_search, search_filters_for_storage

logger = logging.getLogger(__name__)
EXPORT_BUILD_TASK = "audit.tasks.export_build"
EXPORT_KEEP_HOURS = 24  # a finished export can be downloaded this long, then it is deleted

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


def export_row_count(*, tenant, filters: dict) -> int:
    return (delivery_search(tenant=tenant, filters=filters).count()
            + inbound_search(tenant=tenant, filters=filters).count())


def export_is_small(*, tenant, filters: dict) -> bool:
    """Whether the export can be streamed within the request (at most EXPORT_MAX_ROWS rows)."""
    return export_row_count(tenant=tenant, filters=filters) <= settings.EXPORT_MAX_ROWS


def _csv_lines(*, tenant, filters: dict) -> Iterator[str]:
    writer = csv.writer(_Echo())
    return (writer.writerow([csv_safe(cell) for cell in row]) for row in export_rows(tenant=tenant, filters=filters))


def _csv_response(response, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # decrypted data: not for shared caches
    return response


def export_response(*, tenant, filters: dict, filename: str = "activity.csv") -> StreamingHttpResponse:
    lines = _csv_lines(tenant=tenant, filters=filters)
    return _csv_response(StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8"), filename)


def export_job_start(*, tenant, actor, filters: dict, filename: str) -> ExportJob:
    """Queue a background export of this search (and forget the tenant's expired ones)."""
    stored = {**search_filters_for_storage(filters, tenant_id=tenant.pk), "sort": filters.get("sort") or ""}
    ExportJob.objects.for_tenant(tenant).filter(
        created_at__lt=timezone.now() - timedelta(hours=EXPORT_KEEP_HOURS)).delete()
    with transaction.atomic():
        job = ExportJob.objects.create(tenant=tenant, requested_by=actor if getattr(actor, "pk", None) else None,
                                       filters=stored, filename=filename)
        transaction.on_commit(lambda: current_app.send_task(EXPORT_BUILD_TASK, args=[job.pk]))
    logger.info("export.queued", extra={"tenant_id": tenant.pk, "export_id": job.pk})
    return job


def export_job_build(*, job_id: int) -> None:
    """The task's work: write the CSV of the job's frozen search, store it encrypted, mark it ready."""
    job = ExportJob.objects.select_related("tenant").filter(pk=job_id, status=ExportJob.Status.QUEUED).first()
    if job is None:
        return
    out = io.StringIO()
    rows = -1  # the header is not a row
    for line in _csv_lines(tenant=job.tenant, filters=job.filters):
        out.write(line)
        rows += 1
    job.content = out.getvalue()
    job.rows = rows
    job.status = ExportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["content", "rows", "status", "finished_at", "updated_at"])
    logger.info("export.done", extra={"tenant_id": job.tenant_id, "export_id": job.pk, "rows": rows})


def export_job_fail(*, job_id: int, reason: str) -> None:
    ExportJob.objects.filter(pk=job_id).update(status=ExportJob.Status.FAILED, error=reason[:300],
                                               finished_at=timezone.now(), updated_at=timezone.now())


def export_job_download(job: ExportJob) -> HttpResponse:
    return _csv_response(HttpResponse(job.content, content_type="text/csv; charset=utf-8"), job.filename)


def export_job_available(job: ExportJob) -> bool:
    return (job.status == ExportJob.Status.DONE
            and job.created_at >= timezone.now() - timedelta(hours=EXPORT_KEEP_HOURS))
