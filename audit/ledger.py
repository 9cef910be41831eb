"""The ledger's state machine: every status change of an InboundEvent or a Delivery is one function here.

Each transition says once which fields it sets and which it clears, so no other module writes `status`,
`held_reason`, `next_attempt_at` or `sending_since` by hand. The pipeline decides *when* a transition
happens; this module decides *what* it means for the row.

Delivery:  pending/retrying --claim--> (sending) --posted|retry|postpone|fail|hold--> ...
           held --release--> pending
           a card's pending edit (not yet sending) --coalesce--> the same edit with the newer state
Card:      opened (pending post) --posted--> shown --edit posted--> shown again ... --forget--> forgotten
InboundEvent: received/retrying --claim--> processed|ignored|duplicate|retrying|held|failed
              held --release--> received
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.signals import post_save
from django.utils import timezone

from audit.models import Card, Delivery, DeliveryAttempt, HeldReason, InboundEvent
from tenants.models import Tenant

WAITING = (Delivery.Status.PENDING, Delivery.Status.RETRYING)
# The attempts after which a delivery is in Slack: posted now, or found posted by an earlier try.
POSTED_OUTCOMES = (DeliveryAttempt.Outcome.POSTED, DeliveryAttempt.Outcome.DUPLICATE_FOUND)
PROCESSABLE = (InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING)

# Held reasons a working Slack installation resolves, and the one a working channel resolves.
SLACK_HOLDS = (HeldReason.SLACK_NOT_CONNECTED, HeldReason.SLACK_ACCESS_LOST)
FRESHBOOKS_HOLDS = (HeldReason.FRESHBOOKS_REAUTH, HeldReason.FRESHBOOKS_NOT_CONNECTED)

_CODE_MAX = Delivery._meta.get_field("last_error_code").max_length
_REASON_MAX = InboundEvent._meta.get_field("status_reason").max_length


def _code(code: str) -> str:
    return (code or "")[:_CODE_MAX]


def _due(now: datetime) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


# ---------------------------------------------------------------------------------------------------------
# Deliveries


def deliveries_waiting(*, team_id: str, channel_id: str) -> QuerySet[Delivery]:
    """The channel's deliveries waiting to be posted, due or not."""
    return Delivery.objects.filter(slack_team_id=team_id, channel_id=channel_id, status__in=WAITING)


def delivery_start(delivery: Delivery, *, team_id: str, held: HeldReason | None = None,
                   error_code: str = "", due_at: datetime | None = None) -> Delivery:
    """The state of a new, unsaved delivery: pending for the workspace `team_id` (due at `due_at`, else now),
    or held for `held`. Sets slack_team_id and next_attempt_at; when held also status, held_reason, held_at
    and last_error_code."""
    delivery.slack_team_id = team_id
    delivery.next_attempt_at = due_at
    if held is not None:
        delivery.status = Delivery.Status.HELD
        delivery.held_reason = held
        delivery.held_at = timezone.now()
        delivery.last_error_code = _code(error_code)
    return delivery


@dataclass(frozen=True)
class Claim:
    """A delivery taken for one post. `outcome_unknown`: a previous post of it was sent and never answered
    (timeout, crash), so it may already be in the channel: look in the channel's history first."""

    delivery: Delivery
    outcome_unknown: bool


_CLAIM_DEFERRED = ("counterparty", "document_number")


def _for_claim() -> QuerySet[Delivery]:
    """Deliveries as a claim reads them: with the tenant and their event's arrival (`event_received_at`, for
    the latency metric), without the names kept for search (encrypted, never posted)."""
    return (Delivery.objects.select_related("tenant").defer(*_CLAIM_DEFERRED)
            .annotate(event_received_at=F("inbound_event__received_at")))


@dataclass(frozen=True)
class Unread:
    """Which of a tenant's events still being read for the first time (received, not yet processed) hold
    its later posts back: those received after `since`, claimed fewer than `claims` times, and not claimed
    or claimed lately (their claim's lease ends after `lease_ends_after`): a read going on for longer, its
    worker gone or FreshBooks not answering, holds nothing back."""

    since: datetime
    claims: int
    lease_ends_after: datetime


def _unread_before(unread: Unread) -> Subquery:
    """The head's `unread_before`: the latest of its tenant's `unread` events told before its own, read in the
    same statement as the head (a later read could find that event processed and miss the post it made)."""
    return Subquery(InboundEvent.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__gt=unread.lease_ends_after),
        tenant_id=OuterRef("tenant_id"), status=InboundEvent.Status.RECEIVED, id__lt=OuterRef("inbound_event_id"),
        received_at__gt=unread.since, attempts__lt=unread.claims).order_by("-id").values("id")[:1])


def delivery_head(*, team_id: str, channel_id: str, unread: Unread,
                  waiting_tenant_id: int | None = None) -> Delivery | None:
    """The channel's next post or reply, read for delivery_take: the oldest due, in the order FreshBooks
    told us of the events (inbound ids), not the order workers finished fetching them. Card edits are not in
    this order: they are paced per card and workspace instead. With its `unread_before` (see Unread).

    With `waiting_tenant_id` (a tenant whose head waits for an unread event): the next post of another
    tenant sharing the workspace whose own head need not wait, so that it is not held back by that news. A
    tenant's later posts wait whenever its first does (the same unread event is earlier than each), so the
    first post found without an unread event keeps every tenant's order."""
    heads = (_for_claim().filter(slack_team_id=team_id, channel_id=channel_id, status__in=WAITING)
             .exclude(slack_action=Delivery.SlackAction.EDIT).annotate(unread_before=_unread_before(unread))
             .filter(_due(timezone.now())))
    if waiting_tenant_id is not None:
        heads = heads.exclude(tenant_id=waiting_tenant_id).filter(unread_before__isnull=True)
    return heads.order_by("inbound_event_id", "id").first()


def channel_head(*, team_id: str, channel_id: str, unread: Unread) -> Delivery | None:
    """The channel's next due delivery, for delivery_take, in one read (most drains find no edit waiting, and
    read no card): its card edit due soonest, ordered by (next_attempt_at, id), when one is due; else its next
    post or reply, in delivery_head's order (inbound ids, then id). As `_for_claim()` reads it, with its
    `unread_before` (see Unread)."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        return _channel_head_portable(team_id=team_id, channel_id=channel_id, now=now, unread=unread)
    with connection.cursor() as cursor:
        edit = Delivery.SlackAction.EDIT.value
        cursor.execute(_HEAD_SQL, [InboundEvent.Status.RECEIVED.value, unread.since, unread.claims,
                                   unread.lease_ends_after, team_id, channel_id, [s.value for s in WAITING], now,
                                   edit, edit, edit])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_HEAD_DELIVERY_FIELDS)
    head = _from_row(Delivery, _HEAD_DELIVERY_FIELDS, row[:split])
    head.event_received_at = _from_db(_RECEIVED_AT, row[split])
    head.unread_before = row[split + 1]
    head.tenant = _from_row(Tenant, _CLAIM_TENANT_FIELDS, row[split + 2:])
    return head


def _channel_head_portable(*, team_id: str, channel_id: str, now: datetime, unread: Unread) -> Delivery | None:
    """channel_head through the ORM (SQLite, `make run`'s default)."""
    edit = Q(slack_action=Delivery.SlackAction.EDIT)
    return (_for_claim().filter(slack_team_id=team_id, channel_id=channel_id, status__in=WAITING)
            .filter(_due(now)).annotate(unread_before=_unread_before(unread))
            .order_by(Case(When(edit, then=Value(0)), default=Value(1)),
                      Case(When(edit, then=F("next_attempt_at"))),
                      Case(When(~edit, then=F("inbound_event_id"))), "id").first())


def delivery_take(delivery: Delivery, *, lease: timedelta) -> Claim | None:
    """Take a delivery read as waiting and due for one post, for `lease` (if the worker dies, the sweep
    retries after it). None when it changed since it was read (claimed, held, moved) or is not due.

    Sets next_attempt_at (now + lease), sending_since (kept if already set: the earlier post's outcome is
    still unknown), first_attempt_at (once) and attempt_count (+1).
    """
    now = timezone.now()
    outcome_unknown = delivery.sending_since is not None
    fields = {"next_attempt_at": now + lease, "sending_since": delivery.sending_since or now,
              "first_attempt_at": delivery.first_attempt_at or now, "attempt_count": delivery.attempt_count + 1,
              "updated_at": now}
    # One conditional UPDATE takes it, no transaction or row lock held: the row must still be as it was read
    # (its attempt_count, which every claim raises, and its updated_at, which every other transition sets),
    # so of two claimers exactly one updates it, and nothing held or moved meanwhile is posted as read.
    taken = (Delivery.objects.filter(pk=delivery.pk, status__in=WAITING, attempt_count=delivery.attempt_count,
                                     updated_at=delivery.updated_at).filter(_due(now)).update(**fields))
    if taken != 1:
        return None
    for name, value in fields.items():
        setattr(delivery, name, value)
    return Claim(delivery=delivery, outcome_unknown=outcome_unknown)


def delivery_claim(*, delivery_id: int, lease: timedelta) -> Claim | None:
    """Read and take a waiting, due delivery (delivery_take); None when it is not due or taken."""
    delivery = _for_claim().filter(pk=delivery_id, status__in=WAITING).filter(_due(timezone.now())).first()
    return delivery_take(delivery, lease=lease) if delivery is not None else None


def delivery_posted(delivery: Delivery, *, channel: str, ts: str, thread_ts: str = "",
                    attempt: dict) -> float | None:
    """It is in Slack, as the attempt (delivery_attempt_record's fields) says. Sets status posted, slack_channel,
    slack_ts, posted_at (and thread_ts of a reply); clears next_attempt_at, sending_since, last_error_code,
    held_reason and held_at. A card's first message gives the card its ts; a card's post or edit sets when the
    card was last shown. Status and attempt are written together (delivery_outcome).

    Returns what the drain asks next: the seconds until the channel's next waiting delivery is due (0: now),
    None when none waits (next_due_in). On PostgreSQL all of it is one statement: the three writes and that
    read took six round trips, a post's largest cost in the worker and in the database."""
    now = timezone.now()
    record = _attempt(delivery, **attempt)
    if connection.vendor != "postgresql":
        with transaction.atomic():
            _posted_portable(delivery, channel=channel, ts=ts, thread_ts=thread_ts, now=now)
            record.save()
        return next_due_in(team_id=delivery.slack_team_id, channel_id=delivery.channel_id)
    card_id = delivery.card_id if delivery.slack_action != Delivery.SlackAction.REPLY else None
    first_message = delivery.slack_action == Delivery.SlackAction.POST
    with connection.cursor() as cursor:
        cursor.execute(_POSTED_SQL, [
            Delivery.Status.POSTED.value, channel or delivery.channel_id, ts, now, now, thread_ts, delivery.pk,
            first_message, ts, now, now, card_id, first_message, delivery.pk,
            *_insert_values(record, _ATTEMPT_FIELDS),
            delivery.slack_team_id, delivery.channel_id, [s.value for s in WAITING], delivery.pk])
        attempt_id, waiting, soonest, due_now = cursor.fetchone()
    _inserted(record, attempt_id)
    # Saved without Model.save: tell its listeners (the metrics) as save would.
    post_save.send(sender=DeliveryAttempt, instance=record, created=True, update_fields=None, raw=False,
                   using=connection.alias)
    if not waiting:
        return None
    return 0.0 if due_now else max(0.0, (soonest - timezone.now()).total_seconds())


def _posted_portable(delivery: Delivery, *, channel: str, ts: str, thread_ts: str, now: datetime) -> None:
    """delivery_posted's writes through the ORM (SQLite, `make run`'s default)."""
    thread = {"thread_ts": thread_ts} if thread_ts else {}
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.POSTED, slack_channel=channel or delivery.channel_id, slack_ts=ts, posted_at=now,
        next_attempt_at=None, sending_since=None, last_error_code="", held_reason="", held_at=None,
        updated_at=now, **thread)
    if delivery.card_id is None:
        return
    if delivery.slack_action == Delivery.SlackAction.POST:
        Card.objects.filter(pk=delivery.card_id, post_delivery=delivery).update(ts=ts, shown_at=now, updated_at=now)
    elif delivery.slack_action == Delivery.SlackAction.EDIT:
        Card.objects.filter(pk=delivery.card_id).update(shown_at=now, updated_at=now)


_ATTEMPT_FIELDS = [f for f in DeliveryAttempt._meta.concrete_fields if not f.primary_key]


def _posted_sql() -> str:
    """delivery_posted in one statement. Its final read sees the channel as it was before the statement (the
    posted delivery still waiting under its claim): that delivery is left out by id. The names are the
    models' own (no value is put into the text)."""
    deliveries, cards, attempts = Delivery._meta.db_table, Card._meta.db_table, DeliveryAttempt._meta.db_table
    columns = ", ".join(f'"{f.column}"' for f in _ATTEMPT_FIELDS)
    values = ", ".join(["%s"] * len(_ATTEMPT_FIELDS))
    return (f'WITH posted AS (UPDATE "{deliveries}" SET "status" = %s, "slack_channel" = %s, "slack_ts" = %s, '  # noqa: S608
            f'"posted_at" = %s, "next_attempt_at" = NULL, "sending_since" = NULL, "last_error_code" = \'\', '
            f'"held_reason" = \'\', "held_at" = NULL, "updated_at" = %s, '
            f'"thread_ts" = COALESCE(NULLIF(%s, \'\'), "thread_ts") WHERE "id" = %s), '
            f'shown AS (UPDATE "{cards}" SET "ts" = CASE WHEN %s THEN %s ELSE "ts" END, "shown_at" = %s, '
            f'"updated_at" = %s WHERE "id" = %s AND (NOT %s OR "post_delivery_id" = %s)), '
            f'attempt AS (INSERT INTO "{attempts}" ({columns}) VALUES ({values}) RETURNING "id") '
            f'SELECT (SELECT "id" FROM attempt), COUNT(*), MIN("next_attempt_at"), '
            f'COUNT(*) FILTER (WHERE "next_attempt_at" IS NULL) FROM "{deliveries}" '
            f'WHERE "slack_team_id" = %s AND "channel_id" = %s AND "status" = ANY(%s) AND "id" <> %s')


_POSTED_SQL = _posted_sql()


def next_due_in(*, team_id: str, channel_id: str) -> float | None:
    """Seconds until the channel's next waiting delivery is due (0 when one is due now), None if none waits."""
    soonest = list(deliveries_waiting(team_id=team_id, channel_id=channel_id)
                   .order_by(F("next_attempt_at").asc(nulls_first=True))  # no time set: due now
                   .values_list("next_attempt_at", flat=True)[:1])
    if not soonest:
        return None
    if soonest[0] is None:
        return 0.0
    return max(0.0, (soonest[0] - timezone.now()).total_seconds())


def delivery_coalesce(edit: Delivery, *, inbound_event: InboundEvent, event_name: str, kind: str, action: str,
                      message_text: str, message_blocks: list[dict]) -> None:
    """A card's pending edit (not sending yet) takes the newer state: the latest wins. Sets the message and
    the event it now answers for (inbound_event, event_name, kind, action); its status and due time stay."""
    Delivery.objects.filter(pk=edit.pk).update(inbound_event=inbound_event, event_name=event_name, kind=kind,
                                               action=action, message_text=message_text,
                                               message_blocks=message_blocks, updated_at=timezone.now())


def delivery_thread(delivery: Delivery, *, thread_ts: str) -> None:
    """A reply learns its card's ts (the card was posted after the reply was made). Sets thread_ts."""
    now = timezone.now()
    delivery.thread_ts, delivery.updated_at = thread_ts, now  # as read again: delivery_take compares updated_at
    Delivery.objects.filter(pk=delivery.pk).update(thread_ts=thread_ts, updated_at=now)


def card_open(card: Card) -> bool:
    """A new card (unsaved), unless its document already has one in the channel that is not forgotten: True
    when saved (its pk set), False when that other card exists (read it with a row lock). Inside the caller's
    transaction, without a savepoint on PostgreSQL (INSERT ... ON CONFLICT DO NOTHING): a conflicting insert
    there would abort the whole transaction, a savepoint costs two more round trips."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                card.save(force_insert=True)
        except IntegrityError:
            return False
        return True
    with connection.cursor() as cursor:
        cursor.execute(_CARD_OPEN_SQL, _insert_values(card, _CARD_FIELDS))
        row = cursor.fetchone()
    if row is None:
        return False
    _inserted(card, row[0])
    return True


_CARD_FIELDS = [f for f in Card._meta.concrete_fields if not f.primary_key]


def _insert_values(instance: models.Model, fields: list) -> list:
    """An unsaved instance's values for a hand-written INSERT of `fields`, as Model.save would send them (times
    set on creation, encrypted fields encrypted)."""
    return [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]


def _inserted(instance: models.Model, pk: int) -> None:
    """The instance as Model.save leaves it once a hand-written INSERT saved it with primary key `pk`."""
    instance.pk = pk
    instance._state.adding, instance._state.db = False, connection.alias


def _card_open_sql() -> str:
    """card_open's insert; the conflict is the one open card per document and channel (its unique constraint,
    partial: forgotten cards do not count). The names are the models' own."""
    unique = next(c for c in Card._meta.constraints if c.name == "card_one_per_document_channel")
    target = ", ".join(f'"{Card._meta.get_field(name).column}"' for name in unique.fields)
    columns = ", ".join(f'"{f.column}"' for f in _CARD_FIELDS)
    return (f'INSERT INTO "{Card._meta.db_table}" ({columns}) VALUES ({", ".join(["%s"] * len(_CARD_FIELDS))}) '  # noqa: S608
            f'ON CONFLICT ({target}) WHERE "forgotten_at" IS NULL DO NOTHING RETURNING "id"')


_CARD_OPEN_SQL = _card_open_sql()


def card_show(card: Card, *, state: dict) -> None:
    """The document's newer state, which the card's next post or edit shows. Sets state."""
    card.state = state
    card.save(update_fields=["state", "updated_at"])


def card_forget(card_id: int) -> None:
    """The card's message is gone from Slack (or can no longer be edited): the next news about the document
    makes a new card. Sets forgotten_at."""
    Card.objects.filter(pk=card_id, forgotten_at__isnull=True).update(forgotten_at=timezone.now(),
                                                                     updated_at=timezone.now())


def delivery_retry(delivery: Delivery, *, in_seconds: float, error_code: str, maybe_posted: bool) -> None:
    """A post failed for now. Sets status retrying, next_attempt_at and last_error_code; clears
    sending_since unless the post `maybe_posted` (sent, never answered: the next try checks history)."""
    now = timezone.now()
    fields = {"status": Delivery.Status.RETRYING, "next_attempt_at": now + timedelta(seconds=in_seconds),
              "last_error_code": _code(error_code), "updated_at": now}
    if not maybe_posted:
        fields["sending_since"] = None
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def delivery_postpone(delivery: Delivery, *, in_seconds: float, maybe_posted: bool = False) -> None:
    """Not a failure (Slack said slow down, or its card or budget is not ready): sets next_attempt_at only,
    keeps the status, and clears sending_since (nothing was posted) unless the last post `maybe_posted`
    (a thread lookup that has to wait)."""
    now = timezone.now()
    fields = {"next_attempt_at": now + timedelta(seconds=in_seconds), "updated_at": now}
    if not maybe_posted:
        fields["sending_since"] = None
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def delivery_fail(delivery: Delivery, *, error_code: str, maybe_posted: bool = False) -> None:
    """Never retried unchanged (a replay makes a new delivery). Sets status failed and last_error_code;
    clears next_attempt_at, and sending_since unless the last post `maybe_posted`."""
    now = timezone.now()
    fields = {"status": Delivery.Status.FAILED, "last_error_code": _code(error_code), "next_attempt_at": None,
              "updated_at": now}
    if not maybe_posted:
        fields["sending_since"] = None
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def delivery_answered(delivery: Delivery) -> None:
    """Slack answered this delivery's post (whatever it said): clears sending_since."""
    Delivery.objects.filter(pk=delivery.pk).update(sending_since=None)


def delivery_hold(*, tenant: Tenant, reason: HeldReason, error_code: str = "", team_id: str = "",
                  channel_id: str = "") -> int:
    """Hold waiting work until a person fixes its cause. The scope is every waiting delivery of the tenant,
    or, with `channel_id`, of that channel of workspace `team_id`. Sets status held, held_reason, held_at
    and last_error_code; clears next_attempt_at. Returns how many were held."""
    scope = Delivery.objects.for_tenant(tenant).filter(status__in=WAITING)
    if channel_id:
        scope = scope.filter(slack_team_id=team_id, channel_id=channel_id)
    now = timezone.now()
    return scope.update(status=Delivery.Status.HELD, held_reason=reason, held_at=now,
                        last_error_code=_code(error_code), next_attempt_at=None, updated_at=now)


def deliveries_held(*, tenant: Tenant, reasons) -> QuerySet[Delivery]:
    return Delivery.objects.for_tenant(tenant).filter(status=Delivery.Status.HELD, held_reason__in=reasons)


def deliveries_release(*, held: QuerySet[Delivery], **moves) -> int:
    """Held -> pending, due now. Clears held_reason, held_at, last_error_code and next_attempt_at; `moves`
    re-point them (e.g. slack_team_id of a new installation). Returns how many were released.

    Only rows still held change: two releases racing (a rule's new channel, the sweep finding the old one
    usable) read the same held rows, and the second must not move, or un-claim, what the first let go."""
    return held.filter(status=Delivery.Status.HELD).update(
        status=Delivery.Status.PENDING, held_reason="", held_at=None, last_error_code="", next_attempt_at=None,
        updated_at=timezone.now(), **moves)


def delivery_release(delivery: Delivery, **moves) -> bool:
    """Release one held delivery (see deliveries_release). When the move would give its event a second
    delivery to the same channel, it fails it instead ("already_routed_to_channel"): the event reaches that
    channel once. True when released."""
    try:
        with transaction.atomic():
            return deliveries_release(held=Delivery.objects.filter(pk=delivery.pk), **moves) == 1
    except IntegrityError:
        delivery_fail(delivery, error_code="already_routed_to_channel")
        return False


def delivery_attempt_record(delivery: Delivery, **fields) -> DeliveryAttempt:
    """One row per try at posting, whatever came of it (`fields`: _attempt's)."""
    record = _attempt(delivery, **fields)
    record.save()
    return record


def _attempt(delivery: Delivery, *, started: datetime, duration_ms: int, outcome: str, error_code: str = "",
             http_status: int | None = None, retry_after: float | None = None, next_in: float | None = None,
             task_id: str = "") -> DeliveryAttempt:
    """An attempt's row, not saved: when it `started`, how long Slack took, its outcome and Slack's error, and
    when the delivery is tried next (`next_in` seconds), if it is."""
    return DeliveryAttempt(
        tenant=delivery.tenant, delivery=delivery, started_at=started, duration_ms=duration_ms, outcome=outcome,
        error_code=_code(error_code), http_status=http_status,
        retry_after=int(retry_after) if retry_after else None,
        next_attempt_at=timezone.now() + timedelta(seconds=next_in) if next_in is not None else None,
        task_id=task_id[:64])


def delivery_outcome(delivery: Delivery, transition: Callable[[], float | None], **attempt) -> float | None:
    """Apply one post's outcome: the status change `transition` makes (it returns the seconds until the next
    try, or None) and the attempt recording it (`attempt`: delivery_attempt_record's fields), in one
    transaction, so a page never shows a delivery's new status without its attempt, or the reverse."""
    with transaction.atomic():
        next_in = transition()
        delivery_attempt_record(delivery, next_in=next_in, **attempt)
    return next_in


def delivery_failure_number(delivery: Delivery) -> int:
    """Which failure this is (1-based), counting only failed posts: a 429 or a history lookup is no failure,
    so it does not push the delivery further along the backoff schedule."""
    failed = (DeliveryAttempt.Outcome.TRANSIENT, DeliveryAttempt.Outcome.UNKNOWN)
    return delivery.attempts.filter(outcome__in=failed).count() + 1


# ---------------------------------------------------------------------------------------------------------
# Inbound events


# The event's columns as processing reads them: not the webhook's body nor an earlier normalised event (both
# encrypted, decrypted on read, and read by neither); the tenant's without its webhook token (read lazily if ever).
_CLAIM_EVENT_FIELDS = [f for f in InboundEvent._meta.concrete_fields if f.name not in ("raw_body", "financial_event")]
_CLAIM_TENANT_FIELDS = [f for f in Tenant._meta.concrete_fields if f.name != "webhook_token"]


def _claim_sql() -> str:
    """One statement takes the event and reads it back with its tenant (two round trips before): the UPDATE's
    conditions are the claim's, and RETURNING gives the row as updated, tenant joined. The names are the
    models' own (no value is put into the text)."""
    event = ", ".join(f'e."{f.column}"' for f in _CLAIM_EVENT_FIELDS)
    tenant = ", ".join(f't."{f.column}"' for f in _CLAIM_TENANT_FIELDS)
    return (f'UPDATE "{InboundEvent._meta.db_table}" e SET "next_attempt_at" = %s, "attempts" = e."attempts" + 1 '  # noqa: S608
            f'FROM "{Tenant._meta.db_table}" t WHERE t."id" = e."tenant_id" AND e."id" = %s '
            f'AND e."status" = ANY(%s) AND (e."next_attempt_at" IS NULL OR e."next_attempt_at" <= %s) '
            f"RETURNING {event}, {tenant}")


_CLAIM_SQL = _claim_sql()

# A drain reads its channel's head before every post. Compiling that read with the ORM (a join, three CASE
# orderings, some 50 columns) cost the worker about four times the database's own time for it, so on
# PostgreSQL its SQL is made once, from the models' names, like the claim's; `_from_row` converts the row.
_HEAD_DELIVERY_FIELDS = [f for f in Delivery._meta.concrete_fields if f.name not in _CLAIM_DEFERRED]
_RECEIVED_AT = InboundEvent._meta.get_field("received_at")


def _head_sql() -> str:
    delivery = ", ".join(f'd."{f.column}"' for f in _HEAD_DELIVERY_FIELDS)
    tenant = ", ".join(f't."{f.column}"' for f in _CLAIM_TENANT_FIELDS)
    edit = 'd."slack_action" = %s'
    # delivery_head's `unread_before`, in the same statement (one snapshot); the names are the models' own.
    events = InboundEvent._meta.db_table
    unread_before = (f'(SELECT u."id" FROM "{events}" u WHERE u."tenant_id" = d."tenant_id" AND u."status" = %s '  # noqa: S608
                     f'AND u."id" < d."inbound_event_id" AND u."received_at" > %s AND u."attempts" < %s '
                     f'AND (u."next_attempt_at" IS NULL OR u."next_attempt_at" > %s) ORDER BY u."id" DESC LIMIT 1)')
    return (f'SELECT {delivery}, e."{_RECEIVED_AT.column}", {unread_before}, {tenant} '  # noqa: S608
            f'FROM "{Delivery._meta.db_table}" d '
            f'JOIN "{InboundEvent._meta.db_table}" e ON e."id" = d."inbound_event_id" '
            f'JOIN "{Tenant._meta.db_table}" t ON t."id" = d."tenant_id" '
            f'WHERE d."slack_team_id" = %s AND d."channel_id" = %s AND d."status" = ANY(%s) '
            f'AND (d."next_attempt_at" IS NULL OR d."next_attempt_at" <= %s) '
            f'ORDER BY CASE WHEN {edit} THEN 0 ELSE 1 END, CASE WHEN {edit} THEN d."next_attempt_at" END, '
            f'CASE WHEN NOT ({edit}) THEN d."inbound_event_id" END, d."id" LIMIT 1')


_HEAD_SQL = _head_sql()


def _from_db(field: models.Field, value):
    """A raw column value of `field` as a query would give it (decrypted, JSON parsed, a datetime)."""
    column, converters = _converters(field)
    for convert in converters:
        value = convert(value, column, connection)
    return value


@functools.cache
def _converters(field: models.Field) -> tuple:
    """The column of `field` and the converters a query applies to its values (the database's, then the
    field's), found once: looking them up for every column of every row read cost a tenth of a drain's CPU.
    Only PostgreSQL rows are read raw, and its backend adds no converter of its own: the field's are kept, and
    are given the calling thread's connection each time."""
    column = field.get_col(field.model._meta.db_table)
    return column, tuple(connection.ops.get_db_converters(column) + field.get_db_converters(connection))


def _from_row(model: type[models.Model], fields: list, values) -> models.Model:
    """An instance of `model` read from a raw row as a query would make it; the fields not read are deferred."""
    converted = [_from_db(field, value) for field, value in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def inbound_claim(*, inbound_event_id: int, lease: timedelta) -> InboundEvent | None:
    """Take a received or retrying, due event for `lease`, with its tenant. Sets next_attempt_at (now +
    lease) and attempts (+1). None when it is not due or another worker has it."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        return _inbound_claim_portable(inbound_event_id=inbound_event_id, now=now, lease=lease)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [now + lease, inbound_event_id, [s.value for s in PROCESSABLE], now])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_CLAIM_EVENT_FIELDS)
    event = _from_row(InboundEvent, _CLAIM_EVENT_FIELDS, row[:split])
    event.tenant = _from_row(Tenant, _CLAIM_TENANT_FIELDS, row[split:])
    return event


def _inbound_claim_portable(*, inbound_event_id: int, now: datetime, lease: timedelta) -> InboundEvent | None:
    """inbound_claim in two statements, for SQLite (`make run`'s default database), whose UPDATE ... FROM
    cannot return the joined tenant's columns."""
    claimed = (InboundEvent.objects.filter(pk=inbound_event_id, status__in=PROCESSABLE).filter(_due(now))
               .update(next_attempt_at=now + lease, attempts=models.F("attempts") + 1))
    if claimed != 1:
        return None
    return InboundEvent.objects.select_related("tenant").defer("raw_body", "financial_event").get(pk=inbound_event_id)


def inbound_processed(event: InboundEvent, *, matched: bool, **facts) -> None:
    """Normalised and matched: status processed when a rule `matched`, else ignored ("No rule matched").
    Sets the normalised `facts`, status_reason and processed_at; clears next_attempt_at."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.PROCESSED if matched else InboundEvent.Status.IGNORED,
        status_reason="" if matched else "No rule matched this event",
        processed_at=timezone.now(), next_attempt_at=None, **facts)


def inbound_duplicate(event: InboundEvent) -> None:
    """The same FreshBooks change was processed before. Sets status duplicate, status_reason and processed_at;
    clears next_attempt_at."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.DUPLICATE, next_attempt_at=None, processed_at=timezone.now(),
        status_reason="Same FreshBooks change as an event processed earlier")


def inbound_ignored(event: InboundEvent, *, reason: str) -> None:
    """Nothing to say after all (the news was no longer true when fetched). Sets status ignored, status_reason
    and processed_at; clears next_attempt_at."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.IGNORED, status_reason=reason[:_REASON_MAX], processed_at=timezone.now(),
        next_attempt_at=None)


def inbound_retry(event: InboundEvent, *, in_seconds: float, reason: str) -> None:
    """Try again later. Sets status retrying, status_reason and next_attempt_at."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.RETRYING, status_reason=reason[:_REASON_MAX],
        next_attempt_at=timezone.now() + timedelta(seconds=in_seconds))


def inbound_hold(event: InboundEvent, *, reason: HeldReason) -> None:
    """Wait for a person (reconnect FreshBooks). Sets status held and status_reason (the HeldReason);
    clears next_attempt_at."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.HELD, status_reason=reason, next_attempt_at=None)


def inbound_fail(event: InboundEvent, *, reason: str) -> None:
    """A bug or a permanent refusal. Sets status failed and status_reason; clears next_attempt_at."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.FAILED, status_reason=reason[:_REASON_MAX], next_attempt_at=None)


def inbound_release_freshbooks_holds(*, tenant: Tenant) -> list[int]:
    """FreshBooks works again: held -> received, oldest first. Clears status_reason and next_attempt_at.
    Returns the released ids."""
    ids = list(InboundEvent.objects.for_tenant(tenant)
               .filter(status=InboundEvent.Status.HELD, status_reason__in=FRESHBOOKS_HOLDS)
               .order_by("id").values_list("id", flat=True))
    InboundEvent.objects.filter(pk__in=ids).update(status=InboundEvent.Status.RECEIVED, status_reason="",
                                                  next_attempt_at=None)
    return ids
