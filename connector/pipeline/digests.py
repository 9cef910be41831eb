"""Sending digests: the figures of a period from the ledger (and the overdue invoices from FreshBooks), laid
out as one Slack message, delivered by the same engine as every event (pacing, retries, audit, replay).

A digest is not a FreshBooks webhook, yet the delivery engine, the audit trail and replay all start from an
InboundEvent. So each digest send is recorded as an InboundEvent of its own name (`digest`), already
processed, with a FinancialEvent of kind `digest` and a dedupe key per digest and period; its Delivery goes
to the digest's channel. The unique dedupe key makes a send happen once however often beat or a retry asks.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from audit.models import Delivery, HeldReason, InboundEvent
from connector.core.digest import DigestReport, OverdueLine, Total
from connector.core.events import DIGEST_EVENT, Action, FinancialEvent, Kind
from connector.freshbooks.client import FreshBooksClient
from connector.freshbooks.errors import FreshBooksError
from connector.freshbooks.invoices import invoices_overdue
from connector.freshbooks.selectors import connection_live
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.inbound import delivery_attach_installation
from connector.slack.digest_message import build_digest_message
from connector.slack.selectors import installation_for
from digests.models import Digest
from digests.schedule import next_occurrence, period_length
from tenants.models import Tenant
from tenants.zones import tenant_zone

logger = logging.getLogger(__name__)

OLDEST_OVERDUE_SHOWN = 5
# The events a digest counts, by what they mean: creations only (an update or a deletion is not new money).
COUNTED = {"payment.create": "payments", "invoice.create": "invoices", "bill.create": "bills",
           "expense.create": "expenses"}
# Events whose figures are known: normalised, whether or not a rule sent them somewhere.
KNOWN = (InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED)


def _totals(amounts: dict[str, list[Decimal]]) -> list[Total]:
    """Per currency, biggest count first, then by code: stable for a stable input."""
    totals = [Total(currency=code, count=len(values), amount=sum(values, Decimal("0")))
              for code, values in amounts.items()]
    return sorted(totals, key=lambda t: (-t.count, t.currency))


def ledger_figures(*, tenant: Tenant, since: datetime, until: datetime) -> dict[str, list[Total]]:
    """Payments, invoices, bills and expenses created in [since, until), per currency, from the ledger.
    The amounts are encrypted in the stored FinancialEvent, so they are summed here, in Decimal."""
    sums: dict[str, dict[str, list[Decimal]]] = {figure: defaultdict(list) for figure in COUNTED.values()}
    events = (InboundEvent.objects.for_tenant(tenant)
              .filter(name__in=list(COUNTED), status__in=KNOWN, received_at__gte=since, received_at__lt=until)
              .only("name", "financial_event").order_by("id"))
    for event in events.iterator(chunk_size=500):
        data = event.financial_event or {}
        if data.get("event_name") != event.name:  # normalised as something else (e.g. found deleted)
            continue
        try:
            amount = Decimal(str(data.get("amount")))
        except (InvalidOperation, TypeError, ValueError):
            continue
        if not amount.is_finite():
            continue
        sums[COUNTED[event.name]][(data.get("currency") or "").upper()].append(amount)
    return {figure: _totals(amounts) for figure, amounts in sums.items()}


def held_figures(*, tenant: Tenant) -> tuple[int, list[tuple[str, int]]]:
    """Deliveries held now (waiting for a fix: a channel, the Slack installation), by reason."""
    rows = (Delivery.objects.for_tenant(tenant).filter(status=Delivery.Status.HELD)
            .values("held_reason").annotate(n=Count("id")).order_by("-n", "held_reason"))
    labels = dict(HeldReason.choices)
    reasons = [(labels.get(row["held_reason"], row["held_reason"] or "unknown reason"), row["n"]) for row in rows]
    return sum(n for _, n in reasons), reasons


@dataclass(frozen=True)
class OverdueFigures:
    count: int = 0
    totals: tuple[Total, ...] = ()
    oldest: tuple[OverdueLine, ...] = ()
    unavailable: str = ""


def overdue_figures(*, tenant: Tenant, now: datetime) -> OverdueFigures:
    """The invoices overdue now, read from FreshBooks (the ledger only knows what was announced)."""
    connection = connection_live(tenant=tenant)
    if connection is None or not connection.is_active:
        return OverdueFigures(unavailable="FreshBooks is not connected")
    today = now.astimezone(tenant_zone(tenant)).date()
    try:
        found = list(invoices_overdue(FreshBooksClient(connection), today=today))
    except FreshBooksError as exc:
        logger.warning("digest.overdue_unavailable", extra={"tenant_id": tenant.pk, "error": type(exc).__name__})
        return OverdueFigures(unavailable="FreshBooks did not answer")
    sums: dict[str, list[Decimal]] = defaultdict(list)
    for invoice in found:
        sums[invoice.currency].append(invoice.outstanding)
    oldest = sorted(found, key=lambda i: (i.due_date, i.invoice_number, i.invoice_id))[:OLDEST_OVERDUE_SHOWN]
    return OverdueFigures(
        count=len(found), totals=tuple(_totals(sums)),
        oldest=tuple(OverdueLine(invoice_number=i.invoice_number, counterparty=i.counterparty,
                                 outstanding=i.outstanding, currency=i.currency, due_date=i.due_date,
                                 days_overdue=i.days_overdue) for i in oldest))


def digest_report(*, digest: Digest, since: datetime, until: datetime) -> DigestReport:
    tenant = digest.tenant
    zone = tenant_zone(tenant)
    figures = ledger_figures(tenant=tenant, since=since, until=until)
    overdue = overdue_figures(tenant=tenant, now=until)
    held, reasons = held_figures(tenant=tenant)
    return DigestReport(
        title=digest.name, period_start=since.astimezone(zone), period_end=until.astimezone(zone),
        time_zone=str(zone), payments=figures["payments"], invoices=figures["invoices"], bills=figures["bills"],
        expenses=figures["expenses"], overdue_count=overdue.count, overdue_totals=list(overdue.totals),
        overdue_oldest=list(overdue.oldest), overdue_unavailable=overdue.unavailable, held_count=held,
        held_reasons=reasons)


def digest_send(*, digest: Digest, until: datetime, occasion: str) -> Delivery | None:
    """Record and queue one digest covering the period from its last send (or one period back) to `until`.
    `occasion` names this send in the dedupe key (the scheduled slot, or "now:<moment>"): a second send for
    the same occasion finds it recorded and does nothing (None)."""
    tenant = digest.tenant
    since = digest.last_sent_at or (until - period_length(digest.frequency))
    report = digest_report(digest=digest, since=since, until=until)
    text, blocks = build_digest_message(report, business_name=tenant.name)
    fin = FinancialEvent(event_name=DIGEST_EVENT, kind=Kind.DIGEST, action=Action.SUMMARISED,
                         object_id=str(digest.pk), document_number=digest.name,
                         issue_date=report.period_start.date().isoformat(),
                         updated=until.isoformat())
    installation = installation_for(tenant=tenant)
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                tenant=tenant, name=DIGEST_EVENT, object_id=str(digest.pk),
                raw_body=urlencode({"name": DIGEST_EVENT, "object_id": digest.pk, "source": "digest",
                                    "occasion": occasion, "since": since.isoformat(), "until": until.isoformat()}),
                dedupe_key=f"{DIGEST_EVENT}:{digest.pk}:{occasion}", financial_event=fin.to_dict(),
                status=InboundEvent.Status.PROCESSED, status_reason=f"Digest “{digest.name}”"[:300],
                processed_at=timezone.now(),
                matched_rules=[{"id": None, "name": f"Digest: {digest.name}", "channel_id": digest.channel_id}],
            )
            delivery = delivery_attach_installation(Delivery(
                tenant=tenant, inbound_event=event, event_name=DIGEST_EVENT, object_id=str(digest.pk),
                kind=str(Kind.DIGEST), action=str(Action.SUMMARISED), document_number=digest.name,
                channel_id=digest.channel_id, channel_name=digest.channel_name, rule_ids=[],
                message_text=text, message_blocks=blocks), installation)
            delivery.save()
            Digest.objects.filter(pk=digest.pk).update(last_sent_at=until, updated_at=timezone.now())
            transaction.on_commit(lambda: channel_kick(delivery.slack_team_id, delivery.channel_id))
    except IntegrityError:
        logger.info("digest.already_sent", extra={"digest_id": digest.pk, "occasion": occasion})
        return None
    digest.last_sent_at = until
    logger.info("digest.queued", extra={"digest_id": digest.pk, "delivery_id": delivery.pk})
    return delivery


def digests_send_now(*, tenant: Tenant) -> list[Delivery]:
    """Every enabled digest of the tenant, at once (the `send_digests --now` command). Their schedules stay."""
    now = timezone.now()
    sent = []
    for digest in Digest.objects.for_tenant(tenant).filter(enabled=True).select_related("tenant").order_by("id"):
        delivery = digest_send(digest=digest, until=now, occasion=f"now:{now.isoformat()}")
        if delivery is not None:
            sent.append(delivery)
    return sent


def digests_due(*, now: datetime | None = None, tenant: Tenant | None = None) -> list[int]:
    """Ids of the enabled digests whose time has come (beat's tick asks, then one task per digest sends)."""
    due = Digest.objects.filter(enabled=True, next_due_at__lte=now or timezone.now())
    if tenant is not None:
        due = due.filter(tenant=tenant)
    return list(due.order_by("next_due_at", "id").values_list("id", flat=True))


def digest_send_if_due(*, digest_id: int, now: datetime | None = None) -> Delivery | None:
    """Send one digest if its time has come, once. A digest whose time passed while beat was down is sent on
    the next tick, once (not once per missed slot), covering everything since the last; its next time is
    counted from now. Concurrent or repeated calls: only the one that moves next_due_at on sends."""
    now = now or timezone.now()
    digest = (Digest.objects.filter(pk=digest_id, enabled=True, next_due_at__lte=now)
              .select_related("tenant").first())
    if digest is None:
        return None
    slot = digest.next_due_at
    following = next_occurrence(frequency=digest.frequency, weekday=digest.weekday, at=digest.time,
                                zone=tenant_zone(digest.tenant), after=now)
    if not Digest.objects.filter(pk=digest.pk, next_due_at=slot).update(next_due_at=following):
        return None
    try:
        return digest_send(digest=digest, until=now, occasion=slot.isoformat())
    except Exception:
        Digest.objects.filter(pk=digest.pk, next_due_at=following).update(next_due_at=slot)  # next tick retries
        raise


def digests_send_due(*, now: datetime | None = None, tenant: Tenant | None = None) -> list[Delivery]:
    """Every due digest (of one tenant, or all), here and now, one after the other."""
    sent = []
    for digest_id in digests_due(now=now, tenant=tenant):
        delivery = digest_send_if_due(digest_id=digest_id, now=now)
        if delivery is not None:
            sent.append(delivery)
    return sent
