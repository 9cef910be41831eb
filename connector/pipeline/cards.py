"""Living cards: in a channel whose rules say updates "thread", the first message about an invoice or bill is
its card; later events about the document edit the card (coalesced: one pending edit per card, the latest
state wins) and post a reply in its thread when a person should read the change.

Called inside inbound processing's transaction: the card row is locked, so two events about one document
are applied one after the other whatever the number of workers.
"""

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import ledger
from audit.models import Card, Delivery, InboundEvent
from connector.core.events import CARD_KINDS, Action, DocumentState, FinancialEvent, Kind
from connector.freshbooks.normalise import document_state
from connector.pipeline.policy import CARD_EDIT_INTERVAL
from connector.slack.cards import build_card, build_reply, card_change
from connector.slack.models import SlackInstallation
from routing.match import Target
from routing.models import Updates

logger = logging.getLogger(__name__)

SlackAction = Delivery.SlackAction
# An edit not claimed yet: its content may still be replaced by a newer state.
_EDIT_PENDING = (Delivery.Status.PENDING, Delivery.Status.RETRYING, Delivery.Status.HELD)


def target_note(target: Target) -> str:
    """The notes of a target's rules, once each, as the message's first line."""
    return " ".join(dict.fromkeys(r.note.strip() for r in target.rules if getattr(r, "note", "").strip()))


def target_uses_cards(target: Target) -> bool:
    """Cards when every rule sending to the channel says "thread": a rule asking for every event as its own
    message keeps today's behaviour for the channel."""
    return bool(target.rules) and all(getattr(r, "updates", Updates.CHANNEL) == Updates.THREAD
                                      for r in target.rules)


def card_deliveries(*, event: InboundEvent, fin: FinancialEvent, fetched: dict, target: Target,
                    installation: SlackInstallation | None,
                    make: Callable[[], Delivery]) -> list[Delivery] | None:
    """The deliveries (saved) that `fin` makes in a card channel: a new card, or a reply and an edit of the
    document's card. None when it goes out as an ordinary post (no document, no card for a payment or a
    deletion, no Slack workspace). `make` builds the event's ordinary unsaved delivery to that target."""
    state = document_state(fin, fetched or {})
    if state is None or installation is None or state.kind not in CARD_KINDS or not state.document_id:
        return None
    key = {"tenant": event.tenant, "slack_team_id": installation.team_id, "channel_id": target.channel_id,
           "document_kind": str(state.kind), "document_id": state.document_id}
    # News about a document this channel has no card of opens one, except a payment's, a deletion's or an
    # overdue alert's (a message as today).
    opens = fin.kind != Kind.PAYMENT and fin.action not in (Action.DELETED, Action.OVERDUE)
    card = None
    # A new document's card is all but sure not to exist yet: it is opened without reading first (one
    # statement, no lock to wait for). Should it exist, it is read with a row lock as for any other news.
    if not (opens and fin.action == Action.CREATED):
        card = Card.objects.select_for_update().filter(**key, forgotten_at__isnull=True).first()
        if card is None and not opens:
            return None
    if card is None:
        card = Card(**key, state=dataclasses.replace(state, last_change=fin.label).to_dict(), note=target_note(target))
        if ledger.card_open(card):
            return [_card_open(card, make=make)]
        card = Card.objects.select_for_update().get(**key, forgotten_at__isnull=True)  # opened before, or meanwhile
    return _card_news(card, event=event, fin=fin, state=state, make=make)


def _card_open(card: Card, *, make: Callable[[], Delivery]) -> Delivery:
    """The card's first message (the event's own message, as today), for a card made with its state."""
    post = make()
    post.card = card
    post.save()
    card.post_delivery = post
    Card.objects.filter(pk=card.pk).update(post_delivery=post, updated_at=timezone.now())
    return post


def _card_news(card: Card, *, event: InboundEvent, fin: FinancialEvent, state: DocumentState,
               make: Callable[[], Delivery]) -> list[Delivery]:
    before = DocumentState.from_dict(card.state) if card.state else state
    if state.deleted and card.state:  # gone from FreshBooks: the card keeps its last figures, marked deleted
        state = dataclasses.replace(before, deleted=True, updated=max(before.updated, state.updated))
    # FreshBooks may deliver late: an older state than the card's never replaces it (its news is still told).
    stale = bool(before.updated and state.updated and state.updated < before.updated)
    newest = before if stale else dataclasses.replace(state, last_change=before.last_change)
    change = card_change(fin, before, newest)
    after = newest if stale else dataclasses.replace(newest, last_change=change.line)
    made: list[Delivery] = []
    if change.reply:
        reply = make()
        reply.message_text, reply.message_blocks = build_reply(change.line)
        reply.slack_action, reply.card = SlackAction.REPLY, card
        reply.thread_ts, reply.reply_broadcast = card.ts, change.broadcast
        reply.save()
        made.append(reply)
    if after != before:
        ledger.card_show(card, state=after.to_dict())
    if _visible(after) != _visible(before):  # an update that changes nothing shown edits nothing
        edit = card_edit(card, event=event, fin=fin, state=after, make=make)
        if edit is not None:
            made.append(edit)
    return made


def _visible(state: DocumentState) -> tuple:
    return (*state.shown(), state.last_change, state.link)


def card_message(card: Card) -> tuple[str, list[dict]]:
    """The card as it should look now: its document's latest state (read afresh)."""
    card.refresh_from_db(fields=["state", "note"])
    return build_card(DocumentState.from_dict(card.state), business_name=card.tenant.name, note=card.note)


def _edit_due(card: Card) -> datetime | None:
    if card.shown_at is None:
        return None
    return max(timezone.now(), card.shown_at + CARD_EDIT_INTERVAL)


def card_edit(card: Card, *, event: InboundEvent, fin: FinancialEvent, state: DocumentState,
              make: Callable[[], Delivery]) -> Delivery | None:
    """Make sure one edit showing `state` is pending for the card: the pending one takes the new content
    (returns None), or a new edit is made, due when the card may be edited again (returns it, saved)."""
    text, blocks = build_card(state, business_name=card.tenant.name, note=card.note)
    pending = (Delivery.objects.select_for_update(of=("self",))
               .filter(card=card, slack_action=SlackAction.EDIT, status__in=_EDIT_PENDING, sending_since__isnull=True,
                       replay_of__isnull=True).order_by("id").first())
    if pending is not None:
        ledger.delivery_coalesce(pending, inbound_event=event, event_name=fin.event_name, kind=str(fin.kind),
                                 action=str(fin.action), message_text=text, message_blocks=blocks)
        return None
    edit = make()
    edit.message_text, edit.message_blocks = text, blocks
    edit.slack_action, edit.card = SlackAction.EDIT, card
    if edit.status == Delivery.Status.PENDING:
        edit.next_attempt_at = _edit_due(card)
    edit.save()
    return edit


def card_repost(delivery: Delivery) -> Delivery | None:
    """The card of `delivery` is gone from Slack: forget it and post its latest state as a new card (nothing
    is lost). Returns the new card's post, or None when the event already has one in that channel."""
    old = delivery.card
    ledger.card_forget(old.pk)
    text, blocks = card_message(old)
    try:
        with transaction.atomic():
            # In the delivery's channel: where the card's news now goes (a rule may have moved it).
            card = Card.objects.create(tenant=old.tenant, slack_team_id=delivery.slack_team_id,
                                       channel_id=delivery.channel_id,
                                       document_kind=old.document_kind, document_id=old.document_id,
                                       state=old.state, note=old.note)
            post = Delivery(
                tenant=delivery.tenant, inbound_event_id=delivery.inbound_event_id, event_name=delivery.event_name,
                object_id=delivery.object_id, kind=delivery.kind, action=delivery.action, amount=delivery.amount,
                currency=delivery.currency, counterparty=delivery.counterparty,
                counterparty_index=delivery.counterparty_index, document_number=delivery.document_number,
                document_number_index=delivery.document_number_index, slack_team_id=delivery.slack_team_id,
                channel_id=delivery.channel_id, channel_name=delivery.channel_name, rule_ids=delivery.rule_ids,
                message_text=text, message_blocks=blocks, slack_action=SlackAction.POST, card=card)
            post.save()
            card.post_delivery = post
            card.save(update_fields=["post_delivery", "updated_at"])
    except IntegrityError:
        logger.warning("card.repost_skipped", extra={"delivery_id": delivery.pk, "card_id": old.pk})
        return None
    logger.info("card.reposted", extra={"card_id": card.pk, "old_card_id": old.pk, "delivery_id": post.pk})
    return post
