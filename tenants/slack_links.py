"""Which member a Slack user is: links per workspace, offered by a one-time link, kept until removed."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.activity import activity_record
from connector.core.errors import ApplicationError
from tenants.models import SLACK_LINK_LIFETIME_MINUTES, Membership, SlackLinkRequest, SlackUserLink, Tenant

LINKED_BY_SLACK = "slack"
LINKED_BY_OPERATOR = "operator"


class SlackLinkInvalid(ApplicationError):
    """The link is unknown, expired or used: the page says which."""

    def __init__(self, reason: str):
        self.reason = reason  # "unknown", "expired" or "used"
        super().__init__(f"This Slack link is {reason}.", status=400)


@dataclass(frozen=True)
class LinkedMember:
    link: SlackUserLink
    membership: Membership

    @property
    def can_change(self) -> bool:
        return self.membership.can_change

    @property
    def name(self) -> str:
        user = self.membership.user
        return user.get_full_name() or user.email


def slack_link_member(*, tenant: Tenant, team_id: str, slack_user_id: str) -> LinkedMember | None:
    """The member of `tenant` that this Slack user is linked to, with their current membership; None when
    unlinked or no longer a member."""
    link = (SlackUserLink.objects.for_tenant(tenant).select_related("user")
            .filter(team_id=team_id, slack_user_id=slack_user_id).first())
    if link is None:
        return None
    membership = Membership.objects.for_tenant(tenant).select_related("user").filter(user=link.user).first()
    return LinkedMember(link=link, membership=membership) if membership else None


def slack_link_offer(*, tenant: Tenant, team_id: str, slack_user_id: str) -> str:
    """A new one-time URL that links whoever opens it (after logging in as a member) to this Slack user."""
    token = secrets.token_urlsafe(32)  # 256 bits: the URL is the credential, shown only to that Slack user
    now = timezone.now()
    SlackLinkRequest.objects.for_tenant(tenant).filter(expires_at__lt=now - timedelta(days=1)).delete()
    SlackLinkRequest.objects.create(
        tenant=tenant, token_hash=SlackLinkRequest.hash_token(token), team_id=team_id, slack_user_id=slack_user_id,
        expires_at=now + timedelta(minutes=SLACK_LINK_LIFETIME_MINUTES))
    return f"{settings.PUBLIC_BASE_URL}/accounts/slack/link/{token}/"


def slack_link_request_open(*, token: str) -> SlackLinkRequest:
    """The open request behind a link token; raises SlackLinkInvalid when unknown, expired or used."""
    request = (SlackLinkRequest.objects.select_related("tenant")
               .filter(token_hash=SlackLinkRequest.hash_token(token)).first())
    if request is None:
        raise SlackLinkInvalid("unknown")
    if request.used_at is not None:
        raise SlackLinkInvalid("used")
    if request.expires_at <= timezone.now():
        raise SlackLinkInvalid("expired")
    return request


def slack_link_complete(*, token: str, user) -> SlackUserLink:
    """Link the signed-in `user` to the Slack user of the link. They must be a member of its business.
    The token is spent in the same transaction (a second use finds it used)."""
    with transaction.atomic():
        request = slack_link_request_open(token=token)
        spent = SlackLinkRequest.objects.filter(pk=request.pk, used_at__isnull=True).update(used_at=timezone.now())
        if not spent:
            raise SlackLinkInvalid("used")
        if not Membership.objects.for_tenant(request.tenant).filter(user=user).exists():
            raise ApplicationError(f"You are not a member of {request.tenant.name}: ask an owner to invite you, "
                                   "then use a new link from Slack.", status=403)
        return slack_link_save(tenant=request.tenant, user=user, team_id=request.team_id,
                               slack_user_id=request.slack_user_id, linked_by=LINKED_BY_SLACK, actor=user)


def slack_link_save(*, tenant: Tenant, user, team_id: str, slack_user_id: str, linked_by: str,
                    actor) -> SlackUserLink:
    """Link the member to the Slack user in that workspace, replacing either side's earlier link there."""
    if not team_id or not slack_user_id:
        raise ApplicationError("A Slack workspace and user id are needed.")
    if not Membership.objects.for_tenant(tenant).filter(user=user).exists():
        raise ApplicationError(f"{user.email} is not a member of {tenant.name}.")
    with transaction.atomic():
        SlackUserLink.objects.for_tenant(tenant).filter(team_id=team_id, slack_user_id=slack_user_id).exclude(
            user=user).delete()
        link, _ = SlackUserLink.objects.update_or_create(
            tenant=tenant, team_id=team_id, user=user,
            defaults={"slack_user_id": slack_user_id, "linked_by": linked_by})
        activity_record(tenant=tenant, actor=actor, action="slack.user_linked", target=slack_user_id,
                        details={"team_id": team_id, "member": user.email, "linked_by": linked_by})
    return link


def slack_link_remove(*, tenant: Tenant, link_id: int, actor) -> SlackUserLink:
    """Forget a link (from Settings): that Slack user gets the link prompt again on their next action."""
    link = SlackUserLink.objects.for_tenant(tenant).select_related("user").filter(pk=link_id).first()
    if link is None:
        raise ApplicationError("That Slack link does not exist.", status=404)
    with transaction.atomic():
        link.delete()
        activity_record(tenant=tenant, actor=actor, action="slack.user_unlinked", target=link.slack_user_id,
                        details={"team_id": link.team_id, "member": link.user.email})
    return link


def slack_links(*, tenant: Tenant):
    return SlackUserLink.objects.for_tenant(tenant).select_related("user").order_by("user__email")
