"""A tenant's Slack workspace installation (bot token, rotation) and the channels it can post to."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from connector.core.crypto import EncryptedTextField
from tenants.models import TenantOwned


class InstallationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"


class SlackInstallation(TenantOwned):
    """One per tenant; a reinstall updates the row. Revocation marks it (never deletes it)."""

    team_id = models.CharField(max_length=32, db_index=True)
    team_name = models.CharField(max_length=255, blank=True)
    enterprise_id = models.CharField(max_length=32, blank=True)
    app_id = models.CharField(max_length=32, blank=True)
    bot_user_id = models.CharField(max_length=32, blank=True)
    bot_id = models.CharField(max_length=32, blank=True)
    scopes = models.TextField(blank=True)  # comma-separated, as Slack returns them
    bot_token = EncryptedTextField(blank=True)  # cleared when we revoke it ourselves
    refresh_token = EncryptedTextField(blank=True)  # blank when token rotation is off
    expires_at = models.DateTimeField(null=True, blank=True)  # null when the token does not expire
    installed_at = models.DateTimeField()
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    status = models.CharField(max_length=10, choices=InstallationStatus.choices, default=InstallationStatus.ACTIVE)
    status_reason = models.CharField(max_length=100, blank=True)  # why it was revoked (a Slack code or "uninstalled")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="slack_installation_one_per_tenant"),
            models.CheckConstraint(
                condition=Q(status=InstallationStatus.ACTIVE, revoked_at__isnull=True)
                | Q(status=InstallationStatus.REVOKED, revoked_at__isnull=False),
                name="slack_installation_revoked_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team_name or self.team_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == InstallationStatus.ACTIVE

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


class SlackChannel(TenantOwned):
    """A channel of the tenant's workspace the bot can post to, as last listed by Slack."""

    installation = models.ForeignKey(SlackInstallation, on_delete=models.CASCADE, related_name="channels")
    channel_id = models.CharField(max_length=32)
    name = models.CharField(max_length=255)
    is_private = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False)
    is_member = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "channel_id"], name="slack_channel_unique_per_tenant"),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"#{self.name}"

    @property
    def label(self) -> str:
        return f"#{self.name}" + (" (private)" if self.is_private else "")
