"""Activity pages: search the ledger, look at one delivery, replay one or many, export a search as CSV."""

import json
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.contrib import messages
from django.db import connection, transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from audit.export import (
    export_is_small,
    export_job_available,
    export_job_download,
    export_job_start,
    export_response,
)
from audit.forms import ActivitySearchForm, BulkReplayForm, ReplayForm, tenant_zone
from audit.models import BulkReplay, Delivery, ExportJob, InboundEvent
from audit.search_pages import SearchPaginator
from audit.selectors import (
    DEFAULT_SORT,
    IGNORED,
    bulk_replay_get,
    delivery_channels,
    delivery_get,
    delivery_related,
    delivery_search,
    delivery_timeline,
    inbound_get,
    inbound_search,
)
from audit.services import bulk_replay_preview
from connector.core.errors import ApplicationError
from connector.core.events import EVENT_LABELS
from connector.pipeline.bulk_replay import bulk_replay_create
from connector.pipeline.replay import delivery_replay
from tenants.models import Role
from tenants.permissions import tenant_view

PAGE_SIZE = 50  # deliveries per page of the search
IGNORED_PAGE_SIZE = 20  # ignored events per page of their section
BULK_PROGRESS_REFRESH = 2  # seconds between reloads of a running bulk replay's page
SLACK_CHANNEL_LINK = "https://slack.com/app_redirect?team={team}&channel={channel}"

# Column -> (ascending key, the key of a first click). Dates and amounts start newest/biggest first; status
# starts A-Z, which puts failed and held first (and walks its index forwards).
SORTABLE = {"created_at": ("created_at", "-created_at"), "amount": ("amount", "-amount"),
            "status": ("status", "status")}


def replay_channel_choices(tenant) -> list[tuple[str, str]]:
    """(channel_id, channel_name) this tenant's deliveries have gone to: the channels a replay may target.

    Read from the ledger itself, so it needs nothing from the Slack app and lists only channels the
    tenant has actually used; the pipeline still checks the channel when the replay is made.
    """
    return delivery_channels(tenant=tenant)


def _search_form(request):
    return ActivitySearchForm(request.GET or None, tenant=request.tenant,
                              channels=replay_channel_choices(request.tenant))


def _filters(form) -> dict | None:
    """The search's filters; {} for no search yet; None when the form has errors."""
    if not form.is_bound:
        return {}
    return form.search_filters() if form.is_valid() else None


def _sort_links(request, current: str) -> dict[str, dict]:
    links = {}
    params = [(k, v) for k, v in request.GET.lists() if k not in ("sort", "page", "ipage")]
    flat = [(k, v) for k, values in params for v in values]
    for column, (ascending, first) in SORTABLE.items():
        descending = f"-{ascending}"
        if current == descending:
            key, arrow = ascending, "↓"
        elif current == ascending:
            key, arrow = descending, "↑"
        else:
            key, arrow = first, ""
        links[column] = {"url": "?" + urlencode([*flat, ("sort", key)]), "arrow": arrow}
    return links


@tenant_view
def activity_search(request):
    tenant = request.tenant
    form = _search_form(request)
    filters = _filters(form)
    deliveries = ignored = None
    only_ignored = (filters or {}).get("status") == [IGNORED]
    if filters is not None:
        deliveries = SearchPaginator(
            delivery_search(tenant=tenant, filters=filters), PAGE_SIZE,
            rows=Delivery.objects.for_tenant(tenant).defer("message_text", "message_blocks"),
        ).get_page(request.GET.get("page"))
        ignored = SearchPaginator(inbound_search(tenant=tenant, filters=filters)
                                  .only("id", "received_at", "name", "object_id", "amount", "status_reason"),
                                  IGNORED_PAGE_SIZE).get_page(request.GET.get("ipage"))
    query = request.GET.copy()
    for key in ("page", "ipage"):
        query.pop(key, None)
    with timezone.override(tenant_zone(tenant)):
        return render(request, "audit/activity_search.html", {
            "form": form, "deliveries": deliveries, "ignored": ignored, "query": query.urlencode(),
            "only_ignored": only_ignored,
            # the search form stays folded until a filter is in use (or wrong), so results come first
            "filtering": filters is None or any(v for key in query if key != "sort" for v in query.getlist(key)),
            "sort_links": _sort_links(request, (filters or {}).get("sort") or DEFAULT_SORT),
        })


@tenant_view
def activity_export(request):
    form = _search_form(request)
    filters = _filters(form)
    if filters is None:
        messages.error(request, "The search has errors: fix them, then export again.")
        return redirect(f"{reverse('activity')}?{request.GET.urlencode()}")
    stamp = timezone.localtime(timezone.now(), tenant_zone(request.tenant)).strftime("%Y%m%d-%H%M")
    if export_is_small(tenant=request.tenant, filters=filters):
        return export_response(tenant=request.tenant, filters=filters, filename=f"activity-{stamp}.csv")
    job = export_job_start(tenant=request.tenant, actor=request.user, filters=filters,
                           filename=f"activity-{stamp}.csv")
    return redirect("activity_export_job", pk=job.pk)


@tenant_view
def activity_export_job(request, pk: int):
    """A large export: the file once it is ready, until then a page that looks again every few seconds."""
    job = get_object_or_404(ExportJob.objects.for_tenant(request.tenant), pk=pk)
    if export_job_available(job):
        return export_job_download(job)
    return render(request, "audit/export_job.html", {"job": job, "limit": settings.EXPORT_MAX_ROWS},
                  status=200 if job.status == ExportJob.Status.QUEUED else 410)


def _payload_fields(raw_body: str) -> list[tuple[str, str]]:
    """The FreshBooks form body as (field, value) pairs, in the order sent."""
    return parse_qsl(raw_body or "", keep_blank_values=True)


def _pretty(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) if data else ""


def _matched_rules(event: InboundEvent) -> list[dict]:
    """The rules that matched, as recorded, with each channel's name from the business's deliveries to it
    (the record keeps the channel's id only)."""
    rules = [r for r in (event.matched_rules or []) if isinstance(r, dict)]
    deliveries = Delivery.objects.for_tenant(event.tenant).exclude(channel_name="")
    names = {channel_id: deliveries.filter(channel_id=channel_id).order_by("-id")
             .values_list("channel_name", flat=True).first() or ""
             for channel_id in {r.get("channel_id") for r in rules if r.get("channel_id")}}
    return [{**r, "channel_name": names.get(r.get("channel_id"), "")} for r in rules]


def _event_context(event: InboundEvent) -> dict:
    return {
        "event": event,
        "event_label": EVENT_LABELS.get(event.name, event.name),
        "payload_fields": _payload_fields(event.raw_body),
        "fetched_json": _pretty(event.fetched_object),
        "normalised": event.financial_event or {},
        "matched_rules": _matched_rules(event),
    }


def _slack_link(delivery: Delivery) -> str:
    channel = delivery.slack_channel or delivery.channel_id
    if not channel:
        return ""
    return SLACK_CHANNEL_LINK.format(team=delivery.slack_team_id, channel=channel)


@tenant_view
def delivery_detail(request, pk: int):
    try:
        delivery = delivery_get(tenant=request.tenant, pk=pk)
    except Delivery.DoesNotExist as exc:
        raise Http404 from exc
    channels = replay_channel_choices(request.tenant)
    form = ReplayForm(channels=channels,
                      original_label=f"Its original channel (#{delivery.channel_name or delivery.channel_id})")
    with timezone.override(tenant_zone(request.tenant)), _one_snapshot():
        delivery.refresh_from_db()
        return render(request, "audit/delivery_detail.html", {
            **_event_context(delivery.inbound_event),
            "delivery": delivery, "attempts": delivery_timeline(delivery=delivery),
            **delivery_related(delivery=delivery), "slack_link": _slack_link(delivery), "replay_form": form,
        })


@contextmanager
def _one_snapshot():
    """The page's reads from one snapshot, so a delivery's status and its attempts agree even while a worker
    is posting it (it writes the status, then the attempt). PostgreSQL's REPEATABLE READ gives that; where
    a transaction is already open (tests) or on SQLite (serial anyway) a plain atomic block is enough."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


@tenant_view  # POST: admins and owners only; viewers get 403
def delivery_replay_view(request, pk: int):
    if request.method != "POST":
        return redirect("delivery_detail", pk=pk)
    try:
        delivery = delivery_get(tenant=request.tenant, pk=pk)
    except Delivery.DoesNotExist as exc:
        raise Http404 from exc
    form = ReplayForm(request.POST, channels=replay_channel_choices(request.tenant))
    if not form.is_valid():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        messages.error(request, f"Nothing replayed: {errors}")
        return redirect("delivery_detail", pk=pk)
    try:
        replays = delivery_replay(tenant=request.tenant, delivery=delivery, actor=request.user,
                                  mode=form.cleaned_data["mode"],
                                  channel_id=form.cleaned_data["to_channel_id"] or None)
    except ApplicationError as exc:
        messages.error(request, f"Nothing replayed: {exc.message}")
        return redirect("delivery_detail", pk=pk)
    where = ", ".join(f"#{r.channel_name or r.channel_id}" for r in replays)
    messages.success(request, f"Replay queued for {where}. It goes out at the channel's pace; this page shows "
                              "how it went.")
    return redirect("delivery_detail", pk=replays[0].pk if len(replays) == 1 else delivery.pk)


@tenant_view
def inbound_detail(request, pk: int):
    try:
        event = inbound_get(tenant=request.tenant, pk=pk)
    except InboundEvent.DoesNotExist as exc:
        raise Http404 from exc
    deliveries = Delivery.objects.for_tenant(request.tenant).filter(inbound_event=event).defer(
        "message_text", "message_blocks").order_by("id")
    with timezone.override(tenant_zone(request.tenant)):
        return render(request, "audit/inbound_detail.html", {**_event_context(event), "deliveries": deliveries})


@tenant_view(role=Role.ADMIN)  # viewers get 403, even on the preview
def bulk_replay_view(request):
    form = _search_form(request)
    filters = _filters(form)
    if filters is None:
        messages.error(request, "The search has errors: fix them before replaying its results.")
        return redirect(f"{reverse('activity')}?{request.GET.urlencode()}")
    channels = replay_channel_choices(request.tenant)
    if request.method == "POST":
        replay_form = BulkReplayForm(request.POST, channels=channels)
        if replay_form.is_valid():
            data = replay_form.cleaned_data
            try:
                bulk = bulk_replay_create(
                    tenant=request.tenant, actor=request.user, filters=filters,
                    max_delivery_id=data["max_delivery_id"], mode=data["mode"],
                    to_channel_id=data["to_channel_id"],
                    to_channel_name=replay_form.channel_names.get(data["to_channel_id"], ""))
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return redirect(f"{reverse('activity')}?{request.GET.urlencode()}")
            return redirect("bulk_replay_progress", pk=bulk.pk)
        count, max_id = bulk_replay_preview(tenant=request.tenant, filters=filters)
    else:
        count, max_id = bulk_replay_preview(tenant=request.tenant, filters=filters)
        replay_form = BulkReplayForm(channels=channels, initial={"max_delivery_id": max_id})
    return render(request, "audit/bulk_replay_confirm.html", {
        "form": form, "replay_form": replay_form, "count": count, "query": request.GET.urlencode(),
        "filters_summary": _filters_summary(form),
    })


def _filters_summary(form) -> list[tuple[str, str]]:
    if not form.is_bound or not form.is_valid():
        return []
    summary = []
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)
        if name == "sort" or value in (None, "", []):
            continue
        if hasattr(field, "choices"):
            labels = dict(field.choices)
            value = ", ".join(str(labels.get(v, v)) for v in value) if isinstance(value, list) else labels.get(
                value, value)
        summary.append((str(field.label), str(value)))
    return summary


@tenant_view
def bulk_replay_progress(request, pk: int):
    try:
        bulk = bulk_replay_get(tenant=request.tenant, pk=pk)
    except BulkReplay.DoesNotExist as exc:
        raise Http404 from exc
    with timezone.override(tenant_zone(request.tenant)):
        return render(request, "audit/bulk_replay_progress.html", {
            "bulk": bulk, "refresh": None if bulk.finished else BULK_PROGRESS_REFRESH,
        })
