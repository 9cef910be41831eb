"""Sending one channel's next delivery to Slack, and deciding what each outcome means.

A channel drain takes the channel's pace slot, claims its oldest due delivery with a conditional UPDATE,
posts it, records the attempt and moves the delivery to its next state. Nothing sleeps: when the slot is
taken or Slack said wait, the caller is told when to come back. Card edits (chat.update) do not use the
channel's post slot: each waits for its card's interval and the workspace's edit budget instead; replies
are posts like any other, in their card's thread.
"""

import logging
import time
from dataclasses import dataclass

from django.utils import timezone

from audit import ledger
from audit.ledger import Claim
from audit.models import Card, Delivery, DeliveryAttempt, HeldReason
from connector.pipeline import order, pacing
from connector.pipeline.cards import card_repost
from connector.pipeline.policy import (
    CARD_EDIT_INTERVAL,
    CHANNEL_INTERVAL_MS,
    CLAIM_LEASE,
    DEFAULT_RETRY_AFTER,
    HISTORY_LOOKBACK,
    REPLY_WAITS_FOR_CARD,
    SLACK_GIVE_UP_AFTER,
    slack_retry_delay,
)
from connector.slack import errors as slack_errors
from connector.slack.client import (
    slack_find_posted,
    slack_find_reply,
    slack_post_message,
    slack_update_message,
)
from connector.slack.installation_cache import installation_cached, workspaces_shared
from connector.slack.lifecycle import installation_mark_revoked
from connector.slack.models import SlackInstallation

logger = logging.getLogger(__name__)

Outcome = DeliveryAttempt.Outcome
SlackAction = Delivery.SlackAction


@dataclass(frozen=True)
class DrainResult:
    """`again_in`: seconds until this channel should be drained again; None when nothing is due."""

    again_in: float | None
    posted: int = 0


def channel_drain_once(*, team_id: str, channel_id: str, task_id: str = "") -> DrainResult:
    """Send at most one delivery of this channel (a due card edit first, when its card and the workspace's
    edit budget allow; else a post, if the channel's pace allows); say when to come back."""
    unread = order.unread()
    head = ledger.channel_head(team_id=team_id, channel_id=channel_id, unread=unread)
    if head is not None and head.slack_action == SlackAction.EDIT:
        edited = _edit_once(head, team_id=team_id, channel_id=channel_id, task_id=task_id)
        if edited is not None:
            return edited
    candidate = _post_head(head, team_id=team_id, channel_id=channel_id, unread=unread)
    if candidate is None:
        return DrainResult(again_in=ledger.next_due_in(team_id=team_id, channel_id=channel_id))
    turn = order.head_turn(candidate)
    if turn is order.Turn.READ_AGAIN:
        return DrainResult(again_in=0.0)
    if turn is order.Turn.WHEN_WOKEN:
        # Its tenant's news waits (and wakes the channel once read); another tenant's post may go meanwhile.
        if team_id not in workspaces_shared():
            return DrainResult(again_in=None)
        candidate = ledger.delivery_head(team_id=team_id, channel_id=channel_id, unread=unread,
                                         waiting_tenant_id=candidate.tenant_id)
        if candidate is None:
            return DrainResult(again_in=None)
    if candidate.slack_action == SlackAction.REPLY and not candidate.thread_ts and not _reply_threaded(candidate):
        return DrainResult(again_in=0.0)  # it waits for its card; the next due delivery may go
    wait = pacing.take_slot(team_id, channel_id)  # or Slack's park (429) of the channel or workspace
    if wait:
        return DrainResult(again_in=wait)
    claim = ledger.delivery_take(candidate, lease=CLAIM_LEASE)
    if claim is None:  # another worker took it (or it was held) between our read and our claim
        pacing.slot_give_back(team_id, channel_id)
        return DrainResult(again_in=0.0)
    try:
        sent = delivery_send(claim=claim, task_id=task_id)
    finally:
        pacing.slot_restart(team_id, channel_id)
        slot_opens = time.monotonic() + CHANNEL_INTERVAL_MS / 1000
    again = sent.next_due_in
    if again is not None:
        # The slot just restarted: come back when it opens (not later, not to be told to wait).
        again = max(again, slot_opens - time.monotonic(), 0.0)
    return DrainResult(again_in=again, posted=int(sent.posted))


def _never_posted(card: Card | None) -> bool:
    """The card will never get a ts: gone, forgotten, or its first message failed."""
    return card is None or card.forgotten_at is not None or card.post_delivery is None \
        or card.post_delivery.status == Delivery.Status.FAILED


def _until_posted(card: Card) -> float:
    """Seconds to wait for a card's first message: until its next try, at least REPLY_WAITS_FOR_CARD (so a
    card retrying for hours is not asked about every few seconds)."""
    due = card.post_delivery.next_attempt_at if card.post_delivery else None
    return max(REPLY_WAITS_FOR_CARD, (due - timezone.now()).total_seconds() if due else 0.0)


def _card_of(delivery: Delivery) -> Card | None:
    """The card of a reply or edit as a drain reads it (its ts, when it was shown, whether and when its first
    message goes out), without its encrypted state and note nor its first message's text: a drain reads
    neither (an edit posts its own text; a repost reads the state afresh)."""
    card = (Card.objects.filter(pk=delivery.card_id).select_related("post_delivery")
            .defer("state", "note", "post_delivery__message_text", "post_delivery__message_blocks",
                   "post_delivery__counterparty", "post_delivery__document_number").first())
    delivery.card = card
    return card


def _reply_threaded(reply: Delivery) -> bool:
    """Give a reply its card's ts. True when it may be sent now: in the thread, or at the top level when its
    card will never be posted; False when it waits for the card (postponed until then)."""
    card = _card_of(reply)
    if card is not None and card.ts:
        ledger.delivery_thread(reply, thread_ts=card.ts)
        return True
    if _never_posted(card):
        return True
    ledger.delivery_postpone(reply, in_seconds=_until_posted(card))
    return False


def _edit_wait(card: Card) -> float:
    """Seconds until the card may be edited: once it is posted, CARD_EDIT_INTERVAL after it was last shown."""
    if not card.ts:
        return _until_posted(card)
    shown = card.shown_at or timezone.now()
    since = (timezone.now() - shown).total_seconds()
    return max(CARD_EDIT_INTERVAL.total_seconds() - since, pacing.card_edit_wait(card.pk), 0.0)


def _post_head(head: Delivery | None, *, team_id: str, channel_id: str,
               unread: ledger.Unread) -> Delivery | None:
    """The channel's next due post or reply: the head read, unless that was an edit which had to wait (then
    read again without edits: they go their own way, paced per card and workspace)."""
    if head is None or head.slack_action != SlackAction.EDIT:
        return head
    return ledger.delivery_head(team_id=team_id, channel_id=channel_id, unread=unread)


def _edit_once(edit: Delivery, *, team_id: str, channel_id: str, task_id: str) -> DrainResult | None:
    """Send the channel's due card `edit`, if its card and the workspace's edit budget allow. None when it
    was postponed: the channel's posts go on."""
    card = _card_of(edit)
    if card is None or card.forgotten_at is not None:
        # Its card was replaced by a new one, which already shows the latest state.
        ledger.delivery_fail(edit, error_code="card_replaced")
        return DrainResult(again_in=0.0)
    if not card.ts and _never_posted(card):
        ledger.delivery_fail(edit, error_code="card_not_posted")  # its first message failed: nothing to edit
        return DrainResult(again_in=0.0)
    wait = _edit_wait(card) or pacing.edit_take(team_id)
    if wait:
        ledger.delivery_postpone(edit, in_seconds=wait)
        return None
    claim = ledger.delivery_take(edit, lease=CLAIM_LEASE)
    if claim is None:  # taken, or its content replaced by newer news, since we read it: read it again
        return DrainResult(again_in=0.0)
    pacing.card_edit_mark(edit.card_id)
    sent = delivery_send(claim=claim, task_id=task_id)
    return DrainResult(again_in=sent.next_due_in, posted=int(sent.posted))


def _installation(delivery: Delivery) -> SlackInstallation | None:
    installation = installation_cached(tenant=delivery.tenant)
    return installation if installation and installation.team_id == delivery.slack_team_id else None


@dataclass(frozen=True)
class SendResult:
    """What one try at sending came to: an outcome, and what Slack said (its channel and ts when posted,
    its error otherwise)."""

    outcome: Outcome
    channel: str = ""
    ts: str = ""
    error: slack_errors.SlackError | None = None
    thread_ts: str = ""

    @property
    def code(self) -> str:
        return self.error.code if self.error else ""


# Each Slack error class is one outcome (most specific class first). An error outside these classes is
# a bug of ours: a payload bug, never retried unchanged.
OUTCOME_OF_ERROR: tuple[tuple[type[slack_errors.SlackError], Outcome], ...] = (
    (slack_errors.RateLimited, Outcome.RATE_LIMITED),
    (slack_errors.OutcomeUnknown, Outcome.UNKNOWN),
    (slack_errors.Transient, Outcome.TRANSIENT),
    (slack_errors.InstallationDead, Outcome.INSTALLATION_DEAD),
    (slack_errors.DestinationBroken, Outcome.DESTINATION_BROKEN),
    (slack_errors.MessageGone, Outcome.MESSAGE_GONE),
    (slack_errors.SlackError, Outcome.PAYLOAD_BUG),
)


def outcome_of(error: slack_errors.SlackError) -> Outcome:
    return next(outcome for cls, outcome in OUTCOME_OF_ERROR if isinstance(error, cls))


def _find_earlier(claim: Claim, installation: SlackInstallation, started) -> str | None:
    """The ts of this delivery's earlier post if it reached Slack: a post in the channel's history, a reply
    in its thread (conversations.replies, paced to one lookup a minute per workspace: RateLimited until then)."""
    delivery = claim.delivery
    oldest = max(((delivery.first_attempt_at or started) - HISTORY_LOOKBACK).timestamp(), 0)
    if delivery.slack_action == SlackAction.REPLY and delivery.thread_ts:
        wait = pacing.thread_lookup_take(delivery.slack_team_id)
        if wait:
            raise slack_errors.RateLimited("thread_lookup_paced", retry_after=max(1, round(wait)), scope="lookup")
        return slack_find_reply(installation=installation, channel_id=delivery.channel_id,
                                thread_ts=delivery.thread_ts, delivery_id=delivery.pk, oldest=oldest)
    return slack_find_posted(installation=installation, channel_id=delivery.channel_id, delivery_id=delivery.pk,
                             oldest=oldest)


def _send(claim: Claim, installation: SlackInstallation, started) -> SendResult:
    """The transport: an edit updates its card; a post or reply looks in history first if an earlier try may
    have landed, else posts. Never raises a Slack error: it becomes the result's outcome."""
    delivery = claim.delivery
    metadata = {"delivery_id": delivery.pk, "tenant": delivery.tenant.slug}
    try:
        if delivery.slack_action == SlackAction.EDIT:
            # chat.update is idempotent (the same content again changes nothing): no history to look in.
            updated = slack_update_message(installation=installation, channel_id=delivery.channel_id,
                                           ts=delivery.card.ts, text=delivery.message_text,
                                           blocks=delivery.message_blocks or [])
            return SendResult(Outcome.POSTED, channel=updated.channel, ts=updated.ts)
        if claim.outcome_unknown:
            ts = _find_earlier(claim, installation, started)
            if ts:
                return SendResult(Outcome.DUPLICATE_FOUND, channel=delivery.channel_id, ts=ts,
                                  thread_ts=delivery.thread_ts)
        threaded = delivery.slack_action == SlackAction.REPLY and bool(delivery.thread_ts)
        posted = slack_post_message(
            installation=installation, channel_id=delivery.channel_id, text=delivery.message_text,
            blocks=delivery.message_blocks or [], metadata=metadata,
            thread_ts=delivery.thread_ts if threaded else "", reply_broadcast=threaded and delivery.reply_broadcast,
        )
    except slack_errors.SlackError as exc:
        return SendResult(outcome_of(exc), error=exc)
    return SendResult(Outcome.POSTED, channel=posted.channel, ts=posted.ts,
                      thread_ts=delivery.thread_ts if threaded else "")


# What each outcome but a post does to the delivery (and to its channel, workspace or installation). An
# effect returns the seconds until the delivery's next try, or None when there is none.

def _on_rate_limited(delivery: Delivery, result: SendResult, installation) -> float | None:
    retry_after = result.error.retry_after or DEFAULT_RETRY_AFTER
    if result.error.scope == "edits":  # chat.update's budget: the workspace's edits wait, its posts go on
        pacing.edits_park(delivery.slack_team_id, retry_after)
        ledger.delivery_postpone(delivery, in_seconds=retry_after)
        return retry_after
    if result.error.scope == "lookup":  # the thread lookup must wait; the reply may still be in Slack
        ledger.delivery_postpone(delivery, in_seconds=retry_after, maybe_posted=True)
        return retry_after
    pacing.park(delivery.slack_team_id, delivery.channel_id, retry_after,
                whole_team=result.error.scope == "team")
    # The park holds the channel back; the delivery stays due so that it keeps its place at the head of the
    # channel's queue (a later delivery must not overtake it when the park ends).
    ledger.delivery_postpone(delivery, in_seconds=0)
    return retry_after


def _on_failed_for_now(delivery: Delivery, result: SendResult, installation) -> float | None:
    """Transient or unknown: back off by the number of failed posts, and fail once SLACK_GIVE_UP_AFTER has
    passed. An unknown outcome keeps the sending mark, so the next try looks in history first."""
    maybe_posted = result.outcome == Outcome.UNKNOWN
    delay = slack_retry_delay(ledger.delivery_failure_number(delivery))
    code = result.code or "transient"
    first = delivery.first_attempt_at or timezone.now()
    if timezone.now() + timezone.timedelta(seconds=delay) - first > SLACK_GIVE_UP_AFTER:
        ledger.delivery_fail(delivery, error_code=code, maybe_posted=maybe_posted)
        return None
    ledger.delivery_retry(delivery, in_seconds=delay, error_code=code, maybe_posted=maybe_posted)
    return delay


def _on_installation_dead(delivery: Delivery, result: SendResult, installation) -> float | None:
    if installation is not None:  # (marking an installation already revoked changes nothing)
        installation_mark_revoked(installation=installation, reason=result.code)
    ledger.delivery_answered(delivery)
    reason = HeldReason.SLACK_ACCESS_LOST if installation is not None else HeldReason.SLACK_NOT_CONNECTED
    ledger.delivery_hold(tenant=delivery.tenant, reason=reason, error_code=result.code)
    logger.warning("delivery.installation_dead", extra={"tenant": delivery.tenant.slug, "code": result.code})
    return None


def _on_destination_broken(delivery: Delivery, result: SendResult, installation) -> float | None:
    ledger.delivery_answered(delivery)
    ledger.delivery_hold(tenant=delivery.tenant, reason=HeldReason.CHANNEL_UNUSABLE, error_code=result.code,
                         team_id=delivery.slack_team_id, channel_id=delivery.channel_id)
    logger.warning("delivery.destination_broken",
                   extra={"tenant": delivery.tenant.slug, "channel": delivery.channel_id, "code": result.code})
    return None


def _on_message_gone(delivery: Delivery, result: SendResult, installation) -> float | None:
    """The card's message was deleted in Slack (or can no longer be edited): this edit or reply fails, and
    the card's latest state goes out as a new card, which later news edits and replies under."""
    ledger.delivery_fail(delivery, error_code=result.code)
    if delivery.card_id is not None:
        card_repost(delivery)
    logger.info("delivery.card_gone", extra={"delivery_id": delivery.pk, "code": result.code})
    return None


def _on_payload_bug(delivery: Delivery, result: SendResult, installation) -> float | None:
    ledger.delivery_fail(delivery, error_code=result.code)
    logger.error("delivery.payload_rejected", extra={"delivery_id": delivery.pk, "code": result.code})
    return None


EFFECTS = {
    Outcome.RATE_LIMITED: _on_rate_limited,
    Outcome.TRANSIENT: _on_failed_for_now,
    Outcome.UNKNOWN: _on_failed_for_now,
    Outcome.INSTALLATION_DEAD: _on_installation_dead,
    Outcome.DESTINATION_BROKEN: _on_destination_broken,
    Outcome.PAYLOAD_BUG: _on_payload_bug,
    Outcome.MESSAGE_GONE: _on_message_gone,
}


@dataclass(frozen=True)
class Sent:
    """What sending a claimed delivery came to, and when its channel is next due (ledger.next_due_in's answer:
    read with the post's record when it was posted)."""

    posted: bool
    next_due_in: float | None


def delivery_send(*, claim: Claim, task_id: str = "") -> Sent:
    """Post a claimed delivery; record the attempt; move the delivery on."""
    delivery = claim.delivery
    started = timezone.now()
    clock = time.monotonic()
    installation = _installation(delivery)
    if installation is None or not installation.is_active:
        # Known without asking Slack: the workspace is gone or was never connected.
        code = "token_revoked" if installation else HeldReason.SLACK_NOT_CONNECTED.value
        result = SendResult(Outcome.INSTALLATION_DEAD, error=slack_errors.InstallationDead(code))
    else:
        result = _send(claim, installation, started)
    error = result.error
    attempt = {"started": started, "duration_ms": int((time.monotonic() - clock) * 1000),
               "outcome": result.outcome, "error_code": result.code, "http_status": getattr(error, "http_status", None),
               "retry_after": getattr(error, "retry_after", None), "task_id": task_id}
    if result.outcome in ledger.POSTED_OUTCOMES:
        if result.outcome == Outcome.DUPLICATE_FOUND:
            logger.info("delivery.found_in_history", extra={"delivery_id": delivery.pk})
        return Sent(posted=True, next_due_in=ledger.delivery_posted(
            delivery, channel=result.channel, ts=result.ts, thread_ts=result.thread_ts, attempt=attempt))
    ledger.delivery_outcome(delivery, lambda: EFFECTS[result.outcome](delivery, result, installation), **attempt)
    return Sent(posted=False, next_due_in=ledger.next_due_in(team_id=delivery.slack_team_id,
                                                             channel_id=delivery.channel_id))
