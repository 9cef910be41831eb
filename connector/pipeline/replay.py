"""Replay: send a delivery again, through the same paced, deduplicated path, recorded with who asked."""

import logging
from dataclasses import dataclass

from django.db import transaction

from audit.activity import activity_record
from audit.models import Delivery
from connector.core.errors import ApplicationError
from connector.core.events import FinancialEvent
from connector.pipeline.cards import card_message
from connector.pipeline.doorbell import channel_kick
from connector.pipeline.inbound import delivery_attach_installation, delivery_for
from connector.slack.selectors import channel_resolve, installation_for
from routing.match import match
from routing.selectors import rules_enabled

logger = logging.getLogger(__name__)


class ReplayMode:
    AS_ROUTED = "as_routed"  # the same message, to the original channel or the one asked for
    REEVALUATE = "reevaluate"  # today's rules decide the channels; the message is built afresh
    ALL = (AS_ROUTED, REEVALUATE)


def replay_mode_check(mode: str) -> None:
    if mode not in ReplayMode.ALL:
        raise ApplicationError("Unknown replay mode.", {"fields": {"mode": [f"Choose one of {ReplayMode.ALL}."]}})


@dataclass(frozen=True)
class ChannelChoice:
    channel_id: str
    channel_name: str


def _channel(tenant, channel_id: str) -> ChannelChoice:
    channel = channel_resolve(tenant=tenant, channel_id=channel_id)
    if channel is None:
        raise ApplicationError("That channel is not in this business's Slack workspace.",
                               {"fields": {"channel_id": ["Unknown channel."]}})
    return ChannelChoice(channel.channel_id, channel.name)


def delivery_replay(*, tenant, delivery: Delivery, actor, mode: str = ReplayMode.AS_ROUTED,
                    channel_id: str | None = None) -> list[Delivery]:
    """Create the replay deliveries of one delivery and ring their channels. Returns the new deliveries."""
    replay_mode_check(mode)
    if delivery.tenant_id != tenant.pk:
        raise ApplicationError("Not found.", status=404)
    installation = installation_for(tenant=tenant)
    new: list[Delivery] = []
    with transaction.atomic():
        if mode == ReplayMode.REEVALUATE:
            data = delivery.inbound_event.financial_event
            if not data:
                raise ApplicationError("This event was never normalised, so today's rules cannot be applied.")
            fin = FinancialEvent.from_dict(data)
            targets = match(rules_enabled(tenant=tenant), fin, base_currency=tenant.base_currency)
            if not targets:
                raise ApplicationError("Today's rules send this event nowhere: nothing to replay.")
            for target in targets:
                replay = delivery_for(delivery.inbound_event, fin, target, installation)
                replay.replay_of, replay.requested_by = delivery, actor
                new.append(replay)
        else:
            choice = _channel(tenant, channel_id) if channel_id else ChannelChoice(delivery.channel_id,
                                                                                   delivery.channel_name)
            replay = Delivery(
                tenant=tenant, inbound_event=delivery.inbound_event, event_name=delivery.event_name,
                object_id=delivery.object_id, kind=delivery.kind, action=delivery.action, amount=delivery.amount,
                currency=delivery.currency, counterparty=delivery.counterparty,
                counterparty_index=delivery.counterparty_index, document_number=delivery.document_number,
                document_number_index=delivery.document_number_index, channel_id=choice.channel_id,
                channel_name=choice.channel_name, rule_ids=delivery.rule_ids, message_text=delivery.message_text,
                message_blocks=delivery.message_blocks, replay_of=delivery, requested_by=actor,
                slack_action=delivery.slack_action, thread_ts=delivery.thread_ts,
                reply_broadcast=delivery.reply_broadcast, card=delivery.card,
            )
            if delivery.card is not None and delivery.slack_action != Delivery.SlackAction.REPLY:
                # A card's post or edit: re-post the card as it is now (a new message, not the card's).
                replay.message_text, replay.message_blocks = card_message(delivery.card)
                replay.slack_action, replay.card = Delivery.SlackAction.POST, None
            elif choice.channel_id != delivery.channel_id:
                # A reply sent to another channel has no thread there: it is posted on its own.
                replay.slack_action, replay.thread_ts, replay.reply_broadcast, replay.card = (
                    Delivery.SlackAction.POST, "", False, None)
            new.append(delivery_attach_installation(replay, installation))
        Delivery.objects.bulk_create(new)
        activity_record(tenant=tenant, actor=actor, action="delivery.replay_requested",
                        target=f"delivery {delivery.pk}",
                        details={"mode": mode, "replays": [d.pk for d in new],
                                 "channels": [d.channel_id for d in new]})
        for d in new:
            transaction.on_commit(lambda d=d: channel_kick(d.slack_team_id, d.channel_id))
    logger.info("delivery.replayed", extra={"delivery_id": delivery.pk, "replays": [d.pk for d in new]})
    return new
