"""Routing rules: which FreshBooks events reach which Slack channel of a tenant.

A rule's conditions are all optional and combined with AND; `routing.match` holds the exact semantics.
"""

from django.db import models
from django.db.models import Q

from tenants.models import Tenant, TenantOwned

AMOUNT_MAX_DIGITS = 18  # as audit.Delivery.amount: room for any real-world invoice total
AMOUNT_DECIMAL_PLACES = 2
NAME_MAX_LENGTH = 100
NOTE_MAX_LENGTH = 500  # a mention or a short instruction, prepended to the message
COUNTERPARTY_MAX_LENGTH = 200
POSITION_MAX = 2**31 - 1  # the column is a PostgreSQL integer


class Updates(models.TextChoices):
    """What later events about an invoice or bill do in the rule's channel (contract values)."""

    THREAD = "thread", "Edit its card and reply in its thread"  # the first message is the document's card
    CHANNEL = "channel", "Post each as a new message"  # every matching event is its own top-level message


class Rule(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    enabled = models.BooleanField(default=True)
    # FreshBooks event names from connector.core.events.SUPPORTED_EVENTS, e.g. ["invoice.create"].
    events = models.JSONField(default=list)
    # Amount bounds, inclusive, in the rule's currency (the tenant's base currency when currency is null).
    min_amount = models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES,
                                     null=True, blank=True)
    max_amount = models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES,
                                     null=True, blank=True)
    # ISO 4217. Set: only events in this currency match. Null: the tenant's base currency for the bounds.
    currency = models.CharField(max_length=3, null=True, blank=True)
    counterparty_contains = models.CharField(max_length=COUNTERPARTY_MAX_LENGTH, blank=True)
    # Expense conditions; they do not affect invoice, payment or bill events.
    expense_categories_in = models.JSONField(default=list, blank=True)
    expense_categories_not_in = models.JSONField(default=list, blank=True)
    has_client = models.BooleanField(null=True, blank=True)  # null: either
    statuses = models.JSONField(default=list, blank=True)  # FreshBooks status words, e.g. ["paid"]
    status_changed_only = models.BooleanField(default=False)  # update events: only when the status changed
    # The target: a Slack channel id of the tenant's workspace, and its name when the rule was saved.
    channel_id = models.CharField(max_length=32)
    channel_name = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=NOTE_MAX_LENGTH, blank=True)
    position = models.PositiveIntegerField(default=0)
    # New rules: thread. Rules saved before this field existed keep posting every event (migration).
    updates = models.CharField(max_length=8, choices=Updates.choices, default=Updates.THREAD)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True) | Q(max_amount__isnull=True)
                | Q(min_amount__lte=models.F("max_amount")),
                name="rule_min_not_above_max",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "position", "id"], name="rule_tenant_order")]

    def __str__(self) -> str:
        return self.name

    def effective_currency(self, base_currency: str) -> str:
        return (self.currency or base_currency).upper()

    @property
    def has_amount_bound(self) -> bool:
        return self.min_amount is not None or self.max_amount is not None
