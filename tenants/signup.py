"""Sign-up by emailed link, so that the sign-up form never tells whether an address has an account.

The form asks only what grants no access (email, business name, currency, time zone). It always answers
"check your email" and always does the same work: one pending row written and one email sent. A new
address gets a link that works once, for SIGNUP_LINK_LIFETIME_HOURS; the page behind it asks the person
to choose their password, then makes the account and its business in one transaction. The password is
chosen only by whoever holds the link, so someone signing up first with another person's address (a
"pre-registration takeover") never gets an account they can log into. An address that has an account
gets an email saying so, with links to log in and to reset the password, and nothing is stored.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from connector.core.errors import ApplicationError
from connector.core.limits import limit_check
from tenants import services
from tenants.models import SIGNUP_LINK_LIFETIME_HOURS, SignupRequest, Tenant

KEEP_EXPIRED_DAYS = 7  # an expired or used link says so (rather than "not valid") this long, then its row goes
CONFIRM_SUBJECT = "Confirm your email to finish signing up for ml-connector"
EXISTING_SUBJECT = "You already have an ml-connector account"


class SignupInvalid(ApplicationError):
    """The link is unknown, expired, used, or its address got an account meanwhile: the page says which."""

    def __init__(self, reason: str, signup: SignupRequest | None = None):
        self.reason = reason  # "unknown", "expired", "used" or "account_exists"
        self.signup = signup
        super().__init__(f"Sign-up link {reason}.", status=404 if reason == "unknown" else 410)


def _url(name: str, *args) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse(name, args=args)}"


def signup_request(*, email: str, business_name: str, base_currency: str = "USD", time_zone: str = "UTC") -> None:
    """Emails `email` either a link that finishes this sign-up, or (when the address has an account) a note
    with links to log in and reset the password. The caller cannot tell which: same answer, same work.
    Raises RateLimited past SIGNUP_EMAIL_RATE emails to one address, whichever the email would be."""
    email = get_user_model().objects.normalize_email(email).strip().lower()
    limit_check(group="signup_email", rate_setting="SIGNUP_EMAIL_RATE", value=f"email:{email}",
                what="sign-up emails to this address")
    token = secrets.token_urlsafe(32)  # 256 bits: the link is the credential; only its hash is stored
    # The same statements for a known address (the lookup, the row's INSERT, the end of the transaction),
    # so the database work does not tell the two apart either; for a known address the row is rolled back
    # and nothing is stored. No password is hashed here any more, so this write is the step that costs.
    with transaction.atomic():
        known = get_user_model().objects.filter(email__iexact=email).exists()
        SignupRequest.objects.create(
            email=email, business_name=business_name.strip(), base_currency=base_currency,
            time_zone=time_zone or "UTC", token_hash=SignupRequest.hash_token(token),
            expires_at=timezone.now() + timedelta(hours=SIGNUP_LINK_LIFETIME_HOURS))
        transaction.set_rollback(known)
    if known:
        _send(email, EXISTING_SUBJECT, "registration/email/signup_existing.txt",
              {"email": email, "login_link": _url("login"), "reset_link": _url("password_reset")})
        return
    _send(email, CONFIRM_SUBJECT, "registration/email/signup_confirm.txt",
          {"email": email, "business_name": business_name.strip(), "link": _url("signup_verify", token),
           "hours": SIGNUP_LINK_LIFETIME_HOURS})


def signups_purge(now=None) -> int:
    """Deletes sign-up rows KEEP_EXPIRED_DAYS past their expiry. Beat's daily retention purge runs it, so
    they go without new sign-ups; until then an old link's page says "expired" or "used", not "not valid"."""
    deleted, _ = SignupRequest.objects.filter(
        expires_at__lt=(now or timezone.now()) - timedelta(days=KEEP_EXPIRED_DAYS)).delete()
    return deleted


def _send(email: str, subject: str, template: str, context: dict) -> None:
    send_mail(subject=subject, message=render_to_string(template, context), from_email=None, recipient_list=[email])


def _usable(signup: SignupRequest | None) -> SignupRequest:
    if signup is None:
        raise SignupInvalid("unknown")
    if signup.used_at is not None:
        raise SignupInvalid("used", signup)
    if signup.is_expired():
        raise SignupInvalid("expired", signup)
    return signup


def signup_open(token: str) -> SignupRequest:
    """The pending sign-up behind an emailed link (the page that asks to finish it), or SignupInvalid."""
    return _usable(SignupRequest.objects.filter(token_hash=SignupRequest.hash_token(token)).first())


def signup_complete(token: str, password: str):
    """Follows the link: makes the account, with the password chosen now by whoever holds the link (the
    caller validates it), and its business, and returns (user, tenant). The row is locked and marked used in
    the same transaction, so two requests with one link make one account and the second gets
    SignupInvalid("used"). If the address got an account meanwhile (an invitation, another link), nothing
    is made and nobody is logged into that account."""
    password_hash = make_password(password)  # before the lock: hashing is slow on purpose
    with transaction.atomic():
        signup = _usable(SignupRequest.objects.select_for_update()
                         .filter(token_hash=SignupRequest.hash_token(token)).first())
        signup.used_at = timezone.now()
        signup.save(update_fields=["used_at"])
        try:
            user = services.user_create(email=signup.email, password_hash=password_hash)
        except services.AccountExists:
            user = None  # the link is spent all the same (committed below); the page says to log in
        else:
            tenant: Tenant = services.tenant_create(name=signup.business_name, owner=user,
                                                    base_currency=signup.base_currency, time_zone=signup.time_zone)
    if user is None:
        raise SignupInvalid("account_exists", signup)
    return user, tenant
