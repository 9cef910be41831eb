"""Processing one inbound FreshBooks event: fetch and normalise, match the rules, create the deliveries.

Idempotent and safe under concurrent or repeated tasks: a worker first claims the event with a conditional
UPDATE (a lease), and every write is guarded by database constraints (dedupe key, one delivery per event
and channel).
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import ledger
from audit.counterparty_search import counterparty_index_record
from audit.models import Delivery, HeldReason, InboundEvent
from audit.services import inbound_index_fields
from connector.core.crypto import blind_index
from connector.core.events import FinancialEvent
from connector.freshbooks import errors as fb_errors
from connector.freshbooks.normalise import normalise_inbound
from connector.pipeline.cards import card_deliveries, target_note, target_uses_cards
from connector.pipeline.policy import CLAIM_LEASE, FRESHBOOKS_GIVE_UP_AFTER, freshbooks_retry_delay
from connector.slack.installation_cache import installation_cached
from connector.slack.messages import build_message
from connector.slack.models import SlackInstallation
from routing.match import Target, match
from routing.rule_cache import rules_enabled_cached

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What processing decided; `retry_in` set means: run again after that many seconds."""

    status: str
    retry_in: float | None = None
    channels: tuple[tuple[str, str], ...] = ()  # (team_id, channel_id) pairs to drain


def inbound_process(*, inbound_event_id: int) -> Outcome | None:
    """Process one inbound event if it is due. None when there was nothing to do."""
    event = ledger.inbound_claim(inbound_event_id=inbound_event_id, lease=CLAIM_LEASE)
    if event is None:
        return None
    try:
        return _read(event)
    except Exception as exc:
        # A bug, or the database failing mid-way (what was written is rolled back): try again on FreshBooks'
        # schedule, failed for good after FRESHBOOKS_GIVE_UP_AFTER, instead of again at every sweep forever.
        logger.exception("inbound.error", extra={"inbound_event_id": event.pk})
        return _retry(event, freshbooks_retry_delay(event.attempts), f"unexpected error ({type(exc).__name__})")


def _read(event: InboundEvent) -> Outcome:
    """Fetch and normalise a claimed event, then record it; FreshBooks' refusals decide what happens next."""
    try:
        normalised = normalise_inbound(inbound_event=event)
    except fb_errors.AuthorizationLost:
        ledger.inbound_hold(event, reason=HeldReason.FRESHBOOKS_REAUTH)
        logger.info("inbound.held", extra={"inbound_event_id": event.pk, "reason": HeldReason.FRESHBOOKS_REAUTH})
        return Outcome(status=InboundEvent.Status.HELD)
    except fb_errors.NoLongerTrue as exc:  # e.g. an invoice found overdue was paid before its alert was made
        ledger.inbound_ignored(event, reason=str(exc))
        return Outcome(status=InboundEvent.Status.IGNORED)
    except fb_errors.RateLimited as exc:
        return _retry(event, exc.retry_after or freshbooks_retry_delay(event.attempts), "rate limited")
    except fb_errors.Transient as exc:
        return _retry(event, freshbooks_retry_delay(event.attempts), str(exc) or "FreshBooks unavailable")
    except fb_errors.FreshBooksError as exc:
        logger.error("inbound.failed", extra={"inbound_event_id": event.pk, "error": type(exc).__name__})
        return _fail(event, f"FreshBooks refused: {exc}")
    return _record(event, normalised)


def _fail(event: InboundEvent, reason: str) -> Outcome:
    ledger.inbound_fail(event, reason=reason)
    logger.info("inbound.failed", extra={"inbound_event_id": event.pk, "reason": reason})
    return Outcome(status=InboundEvent.Status.FAILED)


def _retry(event: InboundEvent, delay: float, reason: str) -> Outcome:
    if timezone.now() - event.received_at > FRESHBOOKS_GIVE_UP_AFTER:
        return _fail(event, f"gave up after {event.attempts} tries: {reason}")
    ledger.inbound_retry(event, in_seconds=delay, reason=reason)
    return Outcome(status=InboundEvent.Status.RETRYING, retry_in=delay)


def _record(event: InboundEvent, normalised) -> Outcome:
    fin: FinancialEvent = normalised.event
    tenant = event.tenant
    targets = match(rules_enabled_cached(tenant=tenant), fin, base_currency=tenant.base_currency)
    installation = installation_cached(tenant=tenant)
    try:
        with transaction.atomic():
            ledger.inbound_processed(
                event, matched=bool(targets), dedupe_key=normalised.dedupe_key, fetched_object=normalised.fetched,
                financial_event=fin.to_dict(), **inbound_index_fields(fin),
                matched_rules=[{"id": r.pk, "name": r.name, "channel_id": t.channel_id}
                               for t in targets for r in t.rules])
            deliveries = deliveries_make(event, fin, normalised.fetched, targets, installation)
            counterparty_index_record(tenant_id=tenant.pk, name=fin.counterparty,
                                      name_index=blind_index(fin.counterparty))
    except IntegrityError:
        # The dedupe key exists: the same create, or the same update stamp, was processed already.
        ledger.inbound_duplicate(event)
        return Outcome(status=InboundEvent.Status.DUPLICATE)
    logger.info("inbound.processed", extra={"inbound_event_id": event.pk, "deliveries": len(deliveries)})
    return Outcome(status=InboundEvent.Status.PROCESSED,
                   channels=tuple({(d.slack_team_id, d.channel_id) for d in deliveries if d.slack_team_id}))


def deliveries_make(event: InboundEvent, fin: FinancialEvent, fetched: dict, targets: list[Target],
                     installation: SlackInstallation | None) -> list[Delivery]:
    """The saved deliveries of one event: a card's post, reply or edit in channels whose rules want cards,
    an ordinary post everywhere else."""
    made: list[Delivery] = []
    posts: list[Delivery] = []
    for target in targets:
        def make(target=target) -> Delivery:
            return delivery_for(event, fin, target, installation)
        card_work = card_deliveries(event=event, fin=fin, fetched=fetched, target=target, installation=installation,
                                    make=make) if target_uses_cards(target) else None
        if card_work is None:
            posts.append(make())
        else:
            made += card_work
    return made + Delivery.objects.bulk_create(posts)


def delivery_for(event: InboundEvent, fin: FinancialEvent, target: Target,
                 installation: SlackInstallation | None) -> Delivery:
    """A new, unsaved delivery of `fin` to one target channel, with its message built."""
    note = target_note(target)
    text, blocks = build_message(fin, business_name=event.tenant.name, note=note)
    delivery = Delivery(
        tenant=event.tenant, inbound_event=event, event_name=fin.event_name, object_id=fin.object_id,
        kind=str(fin.kind), action=str(fin.action), amount=fin.amount, currency=fin.currency or "",
        counterparty=fin.counterparty, counterparty_index=blind_index(fin.counterparty),
        document_number=fin.document_number, document_number_index=blind_index(fin.document_number),
        channel_id=target.channel_id, channel_name=target.channel_name,
        rule_ids=[r.pk for r in target.rules], message_text=text, message_blocks=blocks,
    )
    return delivery_attach_installation(delivery, installation)


def delivery_attach_installation(delivery: Delivery, installation: SlackInstallation | None) -> Delivery:
    """Point a new delivery at the tenant's Slack workspace, or hold it until Slack is connected again."""
    if installation is None:
        return ledger.delivery_start(delivery, team_id="", held=HeldReason.SLACK_NOT_CONNECTED)
    if not installation.is_active:
        return ledger.delivery_start(delivery, team_id=installation.team_id, held=HeldReason.SLACK_ACCESS_LOST,
                                     error_code=installation.status_reason or "token_revoked")
    return ledger.delivery_start(delivery, team_id=installation.team_id)
