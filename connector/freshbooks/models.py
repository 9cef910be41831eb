"""The FreshBooks side of a tenant: its OAuth connection, registered callbacks, last-seen objects,
and the per-day count of rejected (badly signed) webhooks."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from connector.core.crypto import EncryptedJSONField, EncryptedTextField
from tenants.models import TenantOwned


class FreshBooksConnection(TenantOwned):
    """One tenant's authorisation to read one FreshBooks business. At most one not disconnected."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Connected"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"  # FreshBooks refused our refresh token
        DISCONNECTED = "disconnected", "Disconnected"

    account_id = models.CharField(max_length=32)  # alphanumeric, used in /accounting/account/<id>/ paths
    business_id = models.CharField(max_length=32)
    business_name = models.CharField(max_length=200, blank=True)
    identity_id = models.CharField(max_length=32, blank=True)  # the FreshBooks user who connected
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=300, blank=True)
    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    disconnected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=~Q(status="disconnected"),
                                    name="freshbooks_one_live_connection_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"FreshBooks {self.business_name or self.business_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class FreshBooksCallback(TenantOwned):
    """A webhook registration at FreshBooks (one per event name) and its verification state."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for verification"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(FreshBooksConnection, on_delete=models.CASCADE, related_name="callbacks")
    callback_id = models.CharField(max_length=32, blank=True)  # FreshBooks' `callbackid`; blank if refused
    event = models.CharField(max_length=64)
    uri = models.CharField(max_length=500)
    # The signing secret, stored only once FreshBooks accepted our PUT of it.
    verifier = EncryptedTextField(blank=True)
    # A code that arrived in a callback.verify POST and is not yet accepted by FreshBooks.
    pending_verifier = EncryptedTextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    last_error = models.CharField(max_length=300, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # When we last asked FreshBooks for a code (registration or resend): a callback.verify POST for a
    # verified callback is only taken within an hour of this, so an unsolicited one changes nothing.
    verification_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "event"], name="freshbooks_callback_once_per_event"),
        ]
        indexes = [models.Index(fields=["tenant", "callback_id"], name="freshbooks_callback_lookup")]

    def __str__(self) -> str:
        return f"{self.event} -> callback {self.callback_id or '?'} ({self.state})"


class ObjectSnapshot(TenantOwned):
    """What the product last saw of one FreshBooks object, to say what an update changed."""

    kind = models.CharField(max_length=16)  # invoice, payment, bill, expense
    object_id = models.CharField(max_length=64)
    data = EncryptedJSONField()  # the compared fields (amount, status, counterparty, ...)
    updated = models.CharField(max_length=32, blank=True)  # FreshBooks' `updated` stamp of `data`
    # The state before `data`, so normalising the same update again gives the same changes.
    previous = EncryptedJSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "object_id"], name="freshbooks_snapshot_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} @ {self.updated}"


class WebhookRejection(TenantOwned):
    """How many webhooks to this tenant's URL were refused for a missing or wrong signature, per day."""

    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day"], name="freshbooks_rejection_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.count}"
