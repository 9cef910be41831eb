"""Members of a tenant: invitations by email link, role changes and removals, always keeping an owner."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import Truncator

from audit.activity import activity_record
from connector.core.errors import ApplicationError
from connector.core.limits import limit_check
from tenants.models import INVITATION_LIFETIME_DAYS, Invitation, Membership, Role, SlackUserLink, Tenant

SUBJECT_NAME_CHARS = 40  # the business name in an invitation's subject line, at most (the body has it whole)


class InvitationInvalid(ApplicationError):
    """The link is unknown, expired or used: the page says which, and what to do."""

    def __init__(self, reason: str, invitation: Invitation | None = None):
        self.reason = reason  # "unknown", "expired" or "used"
        self.invitation = invitation
        super().__init__(f"Invitation {reason}.")


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    link: str  # the only place the token exists in clear: the email


def roles_assignable_by(membership: Membership) -> list[Role]:
    """Owners give any role; admins invite admins and viewers (never above their own role)."""
    if membership.role == Role.OWNER:
        return [Role.VIEWER, Role.ADMIN, Role.OWNER]
    if membership.role == Role.ADMIN:
        return [Role.VIEWER, Role.ADMIN]
    return []


def invitation_link(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/accounts/invitations/{token}/"


def invitation_create(*, tenant: Tenant, invited_by: Membership, email: str, role: str) -> NewInvitation:
    """Invites `email` with `role`, replacing an earlier open invitation to the same address, and emails it."""
    email = email.strip().lower()
    if role not in roles_assignable_by(invited_by):
        raise ApplicationError("Your role cannot invite someone as that.", {"fields": {"role": ["Not allowed."]}})
    if Membership.objects.for_tenant(tenant).filter(user__email__iexact=email).exists():
        raise ApplicationError(f"{email} is a member already.", {"fields": {"email": ["Already a member."]}})
    # Anyone can sign up, so invitations are someone else's inbox: a cap per tenant (INVITATION_RATE).
    limit_check(group="invitation", rate_setting="INVITATION_RATE", value=f"tenant:{tenant.pk}",
                what="invitations sent from this business")
    token = secrets.token_urlsafe(32)  # 256 bits: the link is the credential
    with transaction.atomic():
        Invitation.objects.for_tenant(tenant).filter(email__iexact=email, accepted_at__isnull=True).delete()
        invitation = Invitation.objects.create(
            tenant=tenant, email=email, role=role, token_hash=Invitation.hash_token(token),
            invited_by=invited_by.user, expires_at=timezone.now() + timedelta(days=INVITATION_LIFETIME_DAYS),
        )
        activity_record(tenant=tenant, actor=invited_by.user, action="member.invited", target=email,
                        details={"role": role})
    link = invitation_link(token)
    context = {"tenant": tenant, "invitation": invitation, "link": link, "inviter": invited_by.user,
               "role_label": Role(role).label, "days": INVITATION_LIFETIME_DAYS}
    send_mail(
        subject=f"Join {Truncator(tenant.name).chars(SUBJECT_NAME_CHARS)} on ml-connector",
        message=render_to_string("tenants/email/invitation.txt", context),
        from_email=None, recipient_list=[email],
    )
    return NewInvitation(invitation=invitation, link=link)


def invitation_revoke(*, tenant: Tenant, actor, pk: int) -> Invitation:
    invitation = Invitation.objects.for_tenant(tenant).get(pk=pk, accepted_at__isnull=True)
    invitation.delete()
    activity_record(tenant=tenant, actor=actor, action="member.invitation_revoked", target=invitation.email)
    return invitation


def invitation_for_token(token: str) -> Invitation:
    """The open invitation behind a link, or InvitationInvalid saying why not."""
    invitation = (Invitation.objects.select_related("tenant", "invited_by")
                  .filter(token_hash=Invitation.hash_token(token)).first())
    if invitation is None:
        raise InvitationInvalid("unknown")
    if invitation.accepted_at is not None:
        raise InvitationInvalid("used", invitation)
    if invitation.is_expired():
        raise InvitationInvalid("expired", invitation)
    return invitation


def invitation_accept(*, token: str, user) -> Membership:
    """Makes `user` a member with the invited role. The link works once, before it expires, for its address."""
    with transaction.atomic():
        invitation = invitation_for_token(token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None:  # accepted by a concurrent request
            raise InvitationInvalid("used", invitation)
        if user.email.lower() != invitation.email.lower():
            raise ApplicationError(f"This invitation is for {invitation.email}.")
        membership, created = Membership.objects.get_or_create(
            tenant=invitation.tenant, user=user, defaults={"role": invitation.role})
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
        activity_record(tenant=invitation.tenant, actor=user, action="member.joined", target=user.email,
                        details={"role": membership.role, "invited_by": getattr(invitation.invited_by, "email", "")})
    return membership


def _owners_locked(tenant: Tenant) -> list[Membership]:
    # Locks the owner rows so two owners demoting each other at once cannot leave the tenant without one.
    return list(Membership.objects.for_tenant(tenant).select_for_update().filter(role=Role.OWNER))


def membership_change_role(*, tenant: Tenant, actor, pk: int, role: str) -> Membership:
    if role not in Role.values:
        raise ApplicationError("Unknown role.")
    with transaction.atomic():
        owners = _owners_locked(tenant)
        membership = Membership.objects.for_tenant(tenant).select_for_update().select_related("user").get(pk=pk)
        if membership.role == Role.OWNER and role != Role.OWNER and len(owners) <= 1:
            raise ApplicationError("A business needs at least one owner: make someone else owner first.")
        previous = membership.role
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
        activity_record(tenant=tenant, actor=actor, action="member.role_changed", target=membership.user.email,
                        details={"from": previous, "to": role})
    return membership


def membership_remove(*, tenant: Tenant, actor, pk: int) -> Membership:
    with transaction.atomic():
        owners = _owners_locked(tenant)
        membership = Membership.objects.for_tenant(tenant).select_related("user").get(pk=pk)
        if membership.role == Role.OWNER and len(owners) <= 1:
            raise ApplicationError("The last owner cannot be removed: make someone else owner first.")
        membership.delete()
        # What they could do from Slack goes with the membership.
        SlackUserLink.objects.for_tenant(tenant).filter(user=membership.user).delete()
        activity_record(tenant=tenant, actor=actor, action="member.removed", target=membership.user.email,
                        details={"role": membership.role})
    return membership
