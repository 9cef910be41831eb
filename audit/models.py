"""The ledger: inbound FreshBooks events, one Delivery per (event, channel), one row per Slack attempt,
and the hash-chained activity log of who did what. Payloads, names and message text are encrypted."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from connector.core.crypto import EncryptedJSONField, EncryptedTextField
from tenants.models import Tenant, TenantOwned, TenantQuerySet


class HeldReason(models.TextChoices):
    """Why work waits for a person; the one set used by the pipeline, the dashboard and the API. The exact
    Slack error code behind a Slack hold stays in Delivery.last_error_code."""

    SLACK_NOT_CONNECTED = "slack_not_connected", "Slack is not connected"
    SLACK_ACCESS_LOST = "slack_access_lost", "Slack access lost"  # token revoked, app removed, scope missing
    CHANNEL_UNUSABLE = "channel_unusable", "Channel unusable"  # deleted, archived, bot not a member
    FRESHBOOKS_REAUTH = "freshbooks_reauth", "FreshBooks needs reconnecting"
    FRESHBOOKS_NOT_CONNECTED = "freshbooks_not_connected", "FreshBooks is not connected"


class InboundEvent(TenantOwned):
    """One webhook FreshBooks sent us, verified, as received; then what processing made of it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"  # persisted, processing queued
        PROCESSED = "processed", "Processed"  # normalised, rules matched, deliveries made
        IGNORED = "ignored", "Ignored"  # an event name the product does not handle
        DUPLICATE = "duplicate", "Duplicate"  # same create, or same update stamp, seen before
        RETRYING = "retrying", "Retrying"  # FreshBooks rate limited or failed: trying again later
        HELD = "held", "Held"  # the FreshBooks connection needs the user (authorisation lost)
        FAILED = "failed", "Failed"  # a bug or a permanent refusal

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"  # FreshBooks posted it to our webhook URL
        POLL = "poll", "Catch-up read"  # a catch-up read found a change no webhook had brought

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="inbound_events")
    name = models.CharField(max_length=64)  # FreshBooks event name, e.g. invoice.create
    object_id = models.CharField(max_length=64)
    account_id = models.CharField(max_length=32, blank=True)
    business_id = models.CharField(max_length=32, blank=True)
    raw_body = EncryptedTextField()  # the form body exactly as FreshBooks sent it (empty for a poll)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEBHOOK)
    signature_valid = models.BooleanField(default=True)
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    status_reason = models.CharField(max_length=300, blank=True)  # a HeldReason when held, else words
    # creates and deletes: "name:object_id" at intake; updates: "name:object_id:updated" once fetched.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    fetched_object = EncryptedJSONField(null=True, blank=True)  # the FreshBooks object(s) as fetched
    financial_event = EncryptedJSONField(null=True, blank=True)  # FinancialEvent.to_dict()
    matched_rules = models.JSONField(default=list, blank=True)  # [{"id", "name", "channel_id"}]
    # Searchable facts of the normalised event (audit.services.inbound_index_fields), so that events which
    # made no delivery (ignored: no rule matched) can be found by amount, counterparty or document number
    # like deliveries. Blind indexes only: the names themselves stay encrypted in financial_event.
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    counterparty_index = models.CharField(max_length=64, blank=True)
    document_number_index = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    @property
    def currency(self) -> str:
        """The normalised event's currency ("" before it is processed): its amount is shown with it."""
        return (self.financial_event or {}).get("currency") or ""

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "dedupe_key"], condition=Q(dedupe_key__isnull=False),
                                    name="inbound_event_dedupe"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="inbound_due"),
            models.Index(fields=["tenant", "-received_at"], name="inbound_tenant_recent"),
            # The activity search's "ignored" section and retention: tenant + status + age.
            models.Index(fields=["tenant", "status", "-received_at"], name="inbound_tenant_status"),
            models.Index(fields=["tenant", "counterparty_index"], name="inbound_counterparty"),
            models.Index(fields=["tenant", "document_number_index"], name="inbound_document"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.object_id}"


class Delivery(TenantOwned):
    """One message for one channel about one event: a post, a reply in a card's thread, or an edit of a card.
    Unique per (event, channel, Slack action), replays aside."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        HELD = "held", "Held"
        POSTED = "posted", "Posted"
        FAILED = "failed", "Failed"

    class SlackAction(models.TextChoices):
        """What the delivery does in Slack (contract values of the deliveries API's `slack_action`)."""

        POST = "post", "Post"  # a top-level message (a card's first message included)
        REPLY = "reply", "Reply"  # a line in a card's thread
        EDIT = "edit", "Edit"  # chat.update of a card with its document's latest state

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="deliveries")
    inbound_event = models.ForeignKey(InboundEvent, on_delete=models.CASCADE, related_name="deliveries")
    event_name = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    action = models.CharField(max_length=16)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    counterparty = EncryptedTextField(blank=True)
    counterparty_index = models.CharField(max_length=64, blank=True)  # blind index: exact search
    document_number = EncryptedTextField(blank=True)
    document_number_index = models.CharField(max_length=64, blank=True)
    slack_team_id = models.CharField(max_length=32)
    channel_id = models.CharField(max_length=32)
    channel_name = models.CharField(max_length=100, blank=True)
    rule_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    held_reason = models.CharField(max_length=64, blank=True, choices=HeldReason.choices)
    message_text = EncryptedTextField(blank=True)
    message_blocks = EncryptedJSONField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=64, blank=True)
    # Set when a post starts, cleared when its outcome is known. Still set on a later pick means the last
    # post may have reached Slack (timeout, crash): look for it in the channel's history before re-posting.
    sending_since = models.DateTimeField(null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    slack_channel = models.CharField(max_length=32, blank=True)  # the channel id Slack answered with
    slack_ts = models.CharField(max_length=32, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    slack_action = models.CharField(max_length=8, choices=SlackAction.choices, default=SlackAction.POST)
    # Replies: the card's ts (known once the card is posted); blank for posts and edits.
    thread_ts = models.CharField(max_length=32, blank=True)
    reply_broadcast = models.BooleanField(default=False)  # a reply also shown in the channel (paid in full)
    # The card this delivery posts (its first message), replies under or edits; null for other posts.
    card = models.ForeignKey("Card", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="replays")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["inbound_event", "channel_id", "slack_action"],
                                    condition=Q(replay_of__isnull=True), name="delivery_once_per_event_channel"),
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="delivery_tenant_recent"),
            models.Index(fields=["tenant", "status", "-created_at"], name="delivery_tenant_status"),
            models.Index(fields=["slack_team_id", "channel_id", "status", "id"], name="delivery_channel_queue"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            # Client or vendor search, exact or "contains" (a list of names): the sort keys in the index let a
            # page's ids be found without reading the table (audit/search_pages.py).
            models.Index(fields=["tenant", "counterparty_index", "-created_at", "-id"],
                         name="delivery_counterparty_recent"),
            models.Index(fields=["tenant", "document_number_index"], name="delivery_document"),
            # The activity search's other common filters, each with the default newest-first order.
            models.Index(fields=["tenant", "kind", "-created_at"], name="delivery_tenant_kind"),
            models.Index(fields=["tenant", "event_name", "-created_at"], name="delivery_tenant_event"),
            models.Index(fields=["tenant", "channel_id", "-created_at"], name="delivery_tenant_channel"),
            models.Index(fields=["tenant", "amount"], name="delivery_tenant_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.object_id} -> {self.channel_id} ({self.status})"


class Card(TenantOwned):
    """The living message of one invoice or bill in one channel: its first message, edited in place as the
    document changes, with the changes a person reads as replies in its thread.

    `state` is the document's latest known state (connector.core.events.DocumentState, encrypted: names and
    amounts); an edit shows it. `ts` is the parent message's ts, kept here because reading threads back from
    Slack (conversations.replies) may be limited to one request a minute. A card whose message is gone from
    Slack is forgotten (`forgotten_at`): the next event about the document posts a new card.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    slack_team_id = models.CharField(max_length=32)
    channel_id = models.CharField(max_length=32)
    document_kind = models.CharField(max_length=16)  # invoice | bill (connector.core.events.CARD_KINDS)
    document_id = models.CharField(max_length=64)
    post_delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ts = models.CharField(max_length=32, blank=True)  # set when the first message is posted
    state = EncryptedJSONField(default=dict, blank=True)
    note = EncryptedTextField(blank=True)  # the rule's note, kept on the card when it is edited
    shown_at = models.DateTimeField(null=True, blank=True)  # Slack last got its state (post or edit)
    forgotten_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slack_team_id", "channel_id", "document_kind", "document_id"],
                                    condition=Q(forgotten_at__isnull=True), name="card_one_per_document_channel"),
        ]

    def __str__(self) -> str:
        return f"card of {self.document_kind} {self.document_id} in {self.channel_id}"


class DeliveryAttempt(TenantOwned):
    """One try at posting a Delivery to Slack, whatever came of it."""

    class Outcome(models.TextChoices):
        POSTED = "posted", "Posted"
        RATE_LIMITED = "rate_limited", "Rate limited"
        TRANSIENT = "transient", "Transient failure"
        INSTALLATION_DEAD = "installation_dead", "Installation dead"
        DESTINATION_BROKEN = "destination_broken", "Destination broken"
        PAYLOAD_BUG = "payload_bug", "Payload rejected"
        UNKNOWN = "unknown", "Outcome unknown"  # timeout after sending: check history before re-posting
        DUPLICATE_FOUND = "duplicate_found", "Already posted"  # found in channel history
        MESSAGE_GONE = "message_gone", "Card gone from Slack"  # an edit found its message deleted

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    error_code = models.CharField(max_length=64, blank=True)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["started_at"]


class ActivityLog(TenantOwned):
    """Append-only: who did what. Each tenant's entries form a hash chain (see audit.activity)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="activity")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_label = models.CharField(max_length=254)  # the email (or "system") when it happened
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)  # set before hashing
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)
    # Which ACTIVITY_CHAIN_KEY signed entry_hash (audit.activity.chain_key_id); blank: an entry written
    # before the chain was keyed, hashed with plain SHA-256.
    chain_key_id = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["tenant", "id"], name="activity_tenant_chain")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("The activity log is append-only")
        super().save(*args, **kwargs)


class BulkReplay(TenantOwned):
    """Replaying every result of one activity search, in batches by a Celery task, with its progress.

    The selection is frozen when the user confirms: the search's filters (counterparty and document number
    as blind indexes only, never plaintext) plus `max_delivery_id`, so deliveries created afterwards, the
    replays this makes included, are never swept in. `last_delivery_id` is the cursor: a batch advances it
    in the same transaction as its replays, so a task that dies mid-way resumes without replaying twice.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Stopped by an error"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bulk_replays")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    filters = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=16)  # connector.pipeline.replay.ReplayMode
    to_channel_id = models.CharField(max_length=32, blank=True)  # blank: each delivery's own channel
    to_channel_name = models.CharField(max_length=100, blank=True)
    max_delivery_id = models.BigIntegerField()
    last_delivery_id = models.BigIntegerField(default=0)
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)  # replayed
    skipped = models.PositiveIntegerField(default=0)  # refused (e.g. today's rules send it nowhere)
    last_error = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Progress never runs past the frozen selection.
            models.CheckConstraint(condition=Q(total__gte=F("done") + F("skipped")), name="bulk_replay_progress"),
        ]

    def __str__(self) -> str:
        return f"bulk replay {self.pk} ({self.done + self.skipped}/{self.total})"

    @property
    def processed(self) -> int:
        return self.done + self.skipped

    @property
    def percent(self) -> int:
        # Finished is 100% even when retention removed a selected delivery before its turn.
        if self.status == self.Status.DONE or not self.total:
            return 100
        return min(100, self.processed * 100 // self.total)

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class CounterpartyGram(models.Model):
    """The "contains" search on client and vendor names, without their plaintext (audit/counterparty_search.py).

    One row per short fragment (2 and 3 characters) of each distinct name a tenant's events carry, keyed by
    the name's exact blind index (counterparty_index): keyed hashes of fragments, never the text. A name is
    indexed once, however many deliveries carry it, so the table grows with the number of names, not events.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name_index = models.CharField(max_length=64)  # = Delivery.counterparty_index / InboundEvent.counterparty_index
    gram = models.CharField(max_length=64)  # keyed hash of one fragment, bound to the tenant

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # Also the search's index: (tenant, gram) -> the names holding that fragment.
            models.UniqueConstraint(fields=["tenant", "gram", "name_index"], name="counterparty_gram_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "name_index"], name="counterparty_gram_name")]

    def __str__(self) -> str:
        return f"fragment of name {self.name_index[:8]}… (tenant {self.tenant_id})"


class ExportJob(TenantOwned):
    """A CSV export too large to stream within one request (more than EXPORT_MAX_ROWS rows): built by a
    Celery task, kept encrypted (it holds decrypted names and amounts) until the user downloads it, and
    deleted EXPORT_KEEP_HOURS after it was made."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Being prepared"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="export_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    filters = models.JSONField(default=dict, blank=True)  # as BulkReplay: blind indexes, never plaintext
    filename = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveIntegerField(default=0)
    content = EncryptedTextField(blank=True, default="")  # the CSV
    error = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"
class InvoiceState(TenantOwned):
    """The latest known state of one FreshBooks invoice, kept so Slack gets answers within its 3 seconds
    (/freshbooks, App Home) and so actions from Slack have one row per invoice to decide on: who follows
    it up, and when a reminder was last emailed (at most one a day, however many clicks or workers)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    invoice_id = models.CharField(max_length=64)
    number = EncryptedTextField(blank=True)
    number_index = models.CharField(max_length=64, blank=True)  # blind index: /freshbooks invoice <number>
    client_name = EncryptedTextField(blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    outstanding = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=32, blank=True)  # FreshBooks' v3_status word: draft, sent, paid ...
    due_date = models.DateField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    fetched_at = models.DateTimeField(null=True, blank=True)  # last read from FreshBooks; null: not yet
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)  # taken before sending, given back on failure

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "invoice_id"], name="invoice_state_one_per_invoice"),
        ]
        indexes = [
            # /freshbooks unpaid: the largest open amounts first; overdue: the oldest due dates first.
            models.Index(fields=["tenant", "-outstanding"], name="invoice_state_outstanding"),
            models.Index(fields=["tenant", "due_date"], name="invoice_state_due"),
            models.Index(fields=["tenant", "number_index"], name="invoice_state_number"),
        ]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id} ({self.status})"
