"""Writes for tenants, memberships and API tokens."""

import secrets

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from audit.activity import activity_record
from connector.core.errors import ApplicationError
from tenants.models import ApiToken, Membership, Role, Tenant

User = get_user_model()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def user_get_or_create(*, email: str, password: str | None = None) -> tuple[User, bool]:
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user:
        return user, False
    user = User(username=email, email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    return user, True


class AccountExists(ApplicationError):
    def __init__(self, email: str):
        super().__init__("An account with this email exists already: log in instead.",
                         {"fields": {"email": ["An account with this email exists already."]}})
        self.email = email


def user_create(*, email: str, password: str | None = None, password_hash: str | None = None) -> User:
    """A new account with this password (or this already hashed one, from a confirmed sign-up), or
    AccountExists. Never hands back an existing account: two sign-ups for one address racing each other
    meet at the unique username (the email) and one fails."""
    if (password is None) == (password_hash is None):
        raise ValueError("user_create takes a password or a password hash")
    email = User.objects.normalize_email(email).strip().lower()
    try:
        with transaction.atomic():
            if User.objects.filter(email__iexact=email).exists():
                raise AccountExists(email)
            user = User(username=email, email=email)
            if password_hash is None:
                user.set_password(password)
            else:
                user.password = password_hash
            user.save()
    except IntegrityError as exc:
        raise AccountExists(email) from exc
    return user


@transaction.atomic
def tenant_create(*, name: str, owner: User, base_currency: str = "USD", time_zone: str = "UTC") -> Tenant:
    if not name.strip():
        raise ApplicationError("A tenant needs a name.", {"fields": {"name": ["This field is required."]}})
    tenant = Tenant(name=name.strip(), slug=_unique_slug(name), base_currency=base_currency.upper(),
                    time_zone=time_zone)
    tenant.set_webhook_token()
    tenant.save()
    Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    activity_record(tenant=tenant, actor=owner, action="tenant.created", target=tenant.slug)
    return tenant


@transaction.atomic
def tenant_rotate_webhook_token(*, tenant: Tenant, actor: User | None) -> str:
    token = tenant.set_webhook_token()
    tenant.save(update_fields=["webhook_token", "webhook_token_hash", "updated_at"])
    activity_record(tenant=tenant, actor=actor, action="tenant.webhook_token_rotated", target=tenant.slug)
    return token


def api_token_create(*, tenant: Tenant, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Returns the token row and the key itself, which is shown once and never stored."""
    if not Membership.objects.for_tenant(tenant).filter(user=user).exists():
        raise ApplicationError(f"{user.email} is not a member of {tenant.slug}.")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(tenant=tenant, user=user, name=name, key_hash=ApiToken.hash_key(key),
                                    prefix=key[: ApiToken.PREFIX_LENGTH])
    activity_record(tenant=tenant, actor=user, action="api_token.created", target=token.prefix)
    return token, key
