"""Tenants (customer businesses), their members and roles, and API tokens.

Every tenant-owned model derives from TenantOwned: a non-null tenant key and a manager whose only
way in for user-facing code is `for_tenant(tenant)`.
"""

import hashlib
import logging
import secrets

from django.conf import settings
from django.db import models
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from connector.core.crypto import EncryptedTextField

DEFAULT_RETENTION_DAYS = 90  # how long the audit trail keeps deliveries unless the tenant says otherwise


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_webhook_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits: unguessable, URL-safe

logger = logging.getLogger(__name__)


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    base_currency = models.CharField(max_length=3, default="USD")
    time_zone = models.CharField(max_length=64, default="UTC")  # an IANA name; forms offer the list
    # The webhook URL's token: looked up by hash, kept encrypted only so the UI can show it again.
    webhook_token_hash = models.CharField(max_length=64, unique=True)
    webhook_token = EncryptedTextField()
    retention_days = models.PositiveIntegerField(default=DEFAULT_RETENTION_DAYS)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_webhook_token(self, token: str | None = None) -> str:
        token = token or new_webhook_token()
        self.webhook_token = token
        self.webhook_token_hash = _token_hash(token)
        return token

    @classmethod
    def hash_webhook_token(cls, token: str) -> str:
        return _token_hash(token)

    @property
    def webhook_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/webhooks/freshbooks/{self.webhook_token}/"


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant):
        if tenant is None:
            raise ValueError("for_tenant() needs a tenant: refusing an unscoped query")
        return self.filter(tenant=tenant)


class TenantOwned(models.Model):
    """Base for every tenant-owned model."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.ADMIN: 1, Role.OWNER: 2}


class Membership(TenantOwned):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_per_tenant")]
        ordering = ["tenant__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]

    @property
    def can_change(self) -> bool:
        """Owners and admins change things; viewers only look."""
        return self.has_role(Role.ADMIN)


class ApiToken(TenantOwned):
    """A REST API key bound to one user and one tenant. Only its hash is stored."""

    PREFIX_LENGTH = 8

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=PREFIX_LENGTH)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return _token_hash(key)


INVITATION_LIFETIME_DAYS = 7  # an emailed invitation link works for a week, then the inviter sends a new one


class Invitation(TenantOwned):
    """An emailed link that lets one person join a tenant with a role. Only the token's hash is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and tenant: inviting again replaces the earlier link.
            models.UniqueConstraint(fields=["tenant", "email"], condition=models.Q(accepted_at__isnull=True),
                                    name="invitation_one_open_per_email"),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant} ({self.role})"

    @staticmethod
    def hash_token(token: str) -> str:
        return _token_hash(token)

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at


SIGNUP_LINK_LIFETIME_HOURS = 24  # a sign-up's emailed link works for a day, then the person signs up again


class SignupRequest(models.Model):
    """A sign-up waiting for its email address to be confirmed: the form's answers (none of them grants
    access: the password is chosen on the page behind the link) and the hash of the emailed link's token.
    Finishing there makes the account and the business and marks the row used, so each link works once.
    An address with an account never gets one."""

    email = models.EmailField(db_index=True)
    business_name = models.CharField(max_length=200)
    base_currency = models.CharField(max_length=3, default="USD")
    time_zone = models.CharField(max_length=64, default="UTC")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)  # set when the link finishes its sign-up

    def __str__(self) -> str:
        return f"sign-up of {self.email}"

    @staticmethod
    def hash_token(token: str) -> str:
        return _token_hash(token)

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _revoke_api_tokens_on_password_change(sender, instance, created, **kwargs):
    """A new password (changed, or reset through the emailed link) revokes the user's API tokens: a
    password reset is how someone locks out whoever else had their account. (Other browser sessions end
    by themselves: Django ties each session to the password hash.)"""
    if created or getattr(instance, "_password", None) is None:  # set_password() was not called
        return
    revoked, _ = ApiToken.objects.filter(user=instance).delete()
    if revoked:
        logger.info("api_tokens.revoked_on_password_change", extra={"user_id": instance.pk, "count": revoked})


SLACK_LINK_LIFETIME_MINUTES = 15  # a "link your Slack account" URL from an ephemeral message works this long


class SlackUserLink(TenantOwned):
    """A member's Slack identity in one workspace: what that Slack user does from Slack, the member does.

    Per workspace (team id) because Slack user ids are only unique within one. The member's role is read
    when they act, never copied here, so a changed role or a removed membership takes effect at once.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="slack_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_links")
    team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    linked_by = models.CharField(max_length=32)  # "slack" (the member followed the link) or "operator"

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "team_id", "slack_user_id"], name="slack_link_one_member"),
            models.UniqueConstraint(fields=["tenant", "team_id", "user"], name="slack_link_one_slack_user"),
        ]

    def __str__(self) -> str:
        return f"{self.slack_user_id}@{self.team_id} -> {self.user}"


class SlackLinkRequest(TenantOwned):
    """A one-time, expiring link offered to an unlinked Slack user. Only the token's hash is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"link for {self.slack_user_id}@{self.team_id} ({'used' if self.used_at else 'open'})"

    @staticmethod
    def hash_token(token: str) -> str:
        return _token_hash(token)
