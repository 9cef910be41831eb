"""Catch-up reads: FreshBooks delivers webhooks best effort, so each connected tenant's invoices, payments,
bills and expenses are listed now and then, and every change no webhook brought goes into the same pipeline
as a webhook (an InboundEvent with source `poll`, processed and deduplicated the same way).

FreshBooks filters lists by date only and stamps objects in US/Eastern without a zone, so a read starts a
day before its watermark and tells seen from new itself: by the stamp of the state the ledger last
processed (ObjectSnapshot), the creates and deletes already in the ledger, and events still in flight. The
pipeline's dedupe keys (stamp and content) settle any race with a webhook. Deletions a list does not show
are not caught up.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.models import InboundEvent
from connector.core.errors import ApplicationError
from connector.core.events import Kind
from connector.freshbooks import services as fb_services
from connector.freshbooks.client import FreshBooksClient
from connector.freshbooks.errors import FreshBooksError, RateLimited
from connector.freshbooks.models import CatchUpState, FreshBooksConnection, ObjectSnapshot
from connector.freshbooks.normalise import VIS_STATE_DELETED, creation_dedupe_key, object_stamp
from connector.freshbooks.selectors import connection_active
from connector.pipeline import catch_up_schedule as schedule
from tenants.models import Tenant

logger = logging.getLogger(__name__)

KINDS = (Kind.INVOICE, Kind.PAYMENT, Kind.BILL, Kind.EXPENSE)
# `search[updated_min]` takes a date and the stamps carry no zone: start a day early.
OVERLAP = timedelta(days=1)
EASTERN = ZoneInfo("America/New_York")
# Bills stamp `created_at` / `updated_at` in UTC; every other accounting stamp is US/Eastern.
UTC_STAMPED = {Kind.BILL}
STAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ")
# Events of an object still being processed: the next read sees what they made of it.
IN_FLIGHT = (InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING, InboundEvent.Status.HELD)

Enqueue = Callable[[list[int]], None]  # hands a page's new inbound events to the pipeline's workers


@dataclass
class CatchUpResult:
    read: int = 0  # objects listed
    new: int = 0  # changes no webhook had brought, fed to the pipeline

    @property
    def already_seen(self) -> int:
        return self.read - self.new

    def summary(self) -> str:
        return f"read {self.read}, new {self.new}, already seen {self.already_seen}"


def stamp_moment(kind: str, stamp: str) -> datetime | None:
    """A FreshBooks stamp as an aware datetime (US/Eastern, or UTC for bills); None if unreadable."""
    for fmt in STAMP_FORMATS:
        try:
            naive = datetime.strptime(stamp.strip(), fmt)
        except (AttributeError, ValueError):
            continue
        return naive.replace(tzinfo=UTC if kind in UTC_STAMPED else EASTERN)
    return None


def catch_up_state(*, connection: FreshBooksConnection) -> CatchUpState:
    """The connection's catch-up state, made on first use: history ends when FreshBooks was connected."""
    state = CatchUpState.objects.filter(connection=connection).first()
    if state is not None:
        return state
    try:
        with transaction.atomic():
            return CatchUpState.objects.create(
                tenant_id=connection.tenant_id, connection=connection, history_before=connection.created_at,
                watermark=connection.created_at,
                next_read_at=schedule.next_slot(tenant_id=connection.tenant_id, after=timezone.now()))
    except IntegrityError:  # made meanwhile by another worker
        return CatchUpState.objects.get(connection=connection)


def catch_up_run(*, tenant: Tenant, enqueue: Enqueue, since: date | None = None) -> CatchUpResult:
    """One read for the tenant now. `since` backfills: every change from that day (US/Eastern) on is news,
    history included. Raises ApplicationError when FreshBooks is not connected, FreshBooksError when
    FreshBooks refuses or fails (the state records it and backs off)."""
    connection = connection_active(tenant=tenant)
    if connection is None:
        raise ApplicationError("FreshBooks is not connected (or needs reconnecting) for this business.")
    state = catch_up_state(connection=connection)
    started = timezone.now()
    if since is not None:
        horizon, list_from = datetime.combine(since, time.min, tzinfo=EASTERN), since
    else:
        horizon = state.history_before
        list_from = state.watermark.astimezone(EASTERN).date() - OVERLAP
    client = FreshBooksClient(connection)
    result = CatchUpResult()
    try:
        for kind in KINDS:
            for page in client.objects_updated(kind, updated_min=list_from):
                result.read += len(page)
                result.new += _feed(connection=connection, kind=kind, objects=page, horizon=horizon,
                                    enqueue=enqueue)
    except FreshBooksError as exc:
        _record_failure(state, exc)
        raise
    callback_problem = _callbacks_check(tenant)
    _record_success(state, result, started=started, note=callback_problem)
    logger.info("catch_up.read", extra={"tenant_id": tenant.pk, "read": result.read, "new": result.new})
    return result


def _callbacks_check(tenant: Tenant) -> str:
    """Registers again the callbacks FreshBooks lost or never verified. A problem here does not undo the
    read: it is noted on the state for the dashboard."""
    try:
        repaired = fb_services.callbacks_repair(tenant=tenant)
    except (FreshBooksError, ApplicationError) as exc:
        logger.warning("catch_up.callbacks_check_failed", extra={"tenant_id": tenant.pk,
                                                                 "error": type(exc).__name__})
        return f"Could not check the FreshBooks callbacks: {getattr(exc, 'message', str(exc))}"[:300]
    if repaired is not None and repaired.failed:
        return f"FreshBooks refused to register callbacks for: {', '.join(sorted(repaired.failed))}"[:300]
    return ""


# --- Seen or new -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Change:
    name: str
    object_id: str
    obj: dict
    dedupe_key: str | None  # creates and deletes: set now, like a webhook's at intake


def _feed(*, connection: FreshBooksConnection, kind: Kind, objects: list[dict], horizon: datetime,
          enqueue: Enqueue) -> int:
    """Feeds the page's unseen changes to the pipeline; how many."""
    changes = list(_unseen(tenant_id=connection.tenant_id, kind=kind, objects=objects, horizon=horizon))
    if not changes:
        return 0
    events = [InboundEvent(tenant_id=connection.tenant_id, name=c.name, object_id=c.object_id,
                           account_id=connection.account_id, business_id=connection.business_id, raw_body="",
                           source=InboundEvent.Source.POLL, fetched_object={kind: c.obj}, dedupe_key=c.dedupe_key)
              for c in changes]
    try:
        with transaction.atomic():
            created = InboundEvent.objects.bulk_create(events)
    except IntegrityError:  # a webhook brought one of these creates meanwhile: insert one by one
        created = []
        for event in events:
            try:
                with transaction.atomic():
                    event.pk = None
                    event.save(force_insert=True)
                created.append(event)
            except IntegrityError:
                continue
    ids = [event.pk for event in created]
    transaction.on_commit(lambda: _enqueue_page(ids, enqueue))
    return len(ids)


def _enqueue_page(ids: list[int], enqueue: Enqueue) -> None:
    try:
        enqueue(ids)
    except Exception:  # the broker is down: the sweep re-enqueues every event still received
        logger.exception("catch_up.enqueue_failed", extra={"inbound_events": len(ids)})


def _unseen(*, tenant_id: int, kind: Kind, objects: list[dict], horizon: datetime):
    by_id = {}
    for obj in objects:
        object_id = str(obj.get("id") or obj.get(f"{kind}id") or "")
        if object_id:
            by_id[object_id] = obj
    ids = list(by_id)
    known = dict(ObjectSnapshot.objects.filter(tenant_id=tenant_id, kind=kind, object_id__in=ids)
                 .values_list("object_id", "updated"))
    keys = {creation_dedupe_key(f"{kind}.{verb}", i) for i in ids for verb in ("create", "delete")}
    in_ledger = set(InboundEvent.objects.filter(tenant_id=tenant_id, dedupe_key__in=keys)
                    .values_list("dedupe_key", flat=True))
    in_flight = set(InboundEvent.objects.filter(tenant_id=tenant_id, object_id__in=ids, name__startswith=f"{kind}.",
                                                status__in=IN_FLIGHT).values_list("object_id", flat=True))
    for object_id, obj in by_id.items():
        stamp = object_stamp(obj)
        moment = stamp_moment(kind, stamp)
        if moment is None or moment < horizon or object_id in in_flight:
            continue  # history (or unreadable), or a webhook's event is being processed
        create_key = creation_dedupe_key(f"{kind}.create", object_id)
        if obj.get("vis_state") == VIS_STATE_DELETED:
            delete_key = creation_dedupe_key(f"{kind}.delete", object_id)
            if delete_key not in in_ledger:
                yield _Change(f"{kind}.delete", object_id, obj, delete_key)
            continue
        last_stamp = known.get(object_id)
        if last_stamp is not None:
            if stamp > last_stamp:  # same format, so the strings order as the moments do
                yield _Change(f"{kind}.update", object_id, obj, None)
            continue
        if create_key in in_ledger:
            continue  # reported, though not (or not yet) as a state: e.g. its processing failed
        created = stamp_moment(kind, str(obj.get("created_at") or ""))
        # Payments and expenses carry no creation stamp: an object never seen, changed after the horizon,
        # is taken as new.
        if created is None or created >= horizon:
            yield _Change(f"{kind}.create", object_id, obj, create_key)
        else:
            yield _Change(f"{kind}.update", object_id, obj, None)


# --- The state after a read ----------------------------------------------------------------------------

def _record_success(state: CatchUpState, result: CatchUpResult, *, started: datetime, note: str) -> None:
    now = timezone.now()
    fields = {"last_read_at": now, "last_success_at": now, "last_error": note, "failures": 0,
              "backoff_until": None, "last_read_count": result.read, "last_new_count": result.new,
              "updated_at": now}
    if result.new:
        fields.update(last_missed_at=now, last_missed_count=result.new, missed_total=F("missed_total") + result.new)
    # Changes stamped during the read are covered by the next one's overlap.
    CatchUpState.objects.filter(pk=state.pk, watermark__lt=started).update(watermark=started)
    CatchUpState.objects.filter(pk=state.pk).update(**fields)


def _record_failure(state: CatchUpState, exc: FreshBooksError) -> None:
    now = timezone.now()
    failures = state.failures + 1
    delay = schedule.failure_backoff(failures=failures,
                                     retry_after=exc.retry_after if isinstance(exc, RateLimited) else None)
    CatchUpState.objects.filter(pk=state.pk).update(
        last_read_at=now, last_error=f"FreshBooks: {exc.message}"[:300], failures=failures,
        backoff_until=now + delay, updated_at=now)
    logger.warning("catch_up.failed", extra={"tenant_id": state.tenant_id, "error": type(exc).__name__,
                                             "backoff_s": int(delay.total_seconds())})
