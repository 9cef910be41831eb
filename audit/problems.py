"""What is held or failed for a tenant, grouped by cause, each with the one action that fixes it."""

from dataclasses import dataclass

from django.db.models import Count, Min
from django.urls import NoReverseMatch, reverse

from audit.models import Delivery, HeldReason, InboundEvent

# Cause -> (what happened, in plain words; what fixes it; the URL name of the page where it is fixed).
# {channel} is the channel's name. A cause is Slack's error code where it says more (the code a hold came
# with is the delivery's last_error_code), else the HeldReason.
DELIVERY_FIXES: dict[str, tuple[str, str, str]] = {
    HeldReason.SLACK_NOT_CONNECTED: ("Slack is not connected yet", "Add to Slack", "slack:home"),
    HeldReason.SLACK_ACCESS_LOST: ("Slack no longer accepts our access", "Reinstall Slack", "slack:home"),
    HeldReason.CHANNEL_UNUSABLE: ("Slack cannot post to #{channel}",
                                  "Pick another channel in the rule, or invite the bot to #{channel}", "rule_list"),
    "token_revoked": ("Slack access was revoked", "Reinstall Slack", "slack:home"),
    "invalid_auth": ("Slack no longer accepts our access", "Reinstall Slack", "slack:home"),
    "account_inactive": ("The Slack account behind the app is inactive", "Reinstall Slack", "slack:home"),
    "not_authed": ("Slack access is missing", "Reinstall Slack", "slack:home"),
    "missing_scope": ("Slack needs new permissions", "Reinstall Slack to grant them", "slack:home"),
    "channel_not_found": ("#{channel} no longer exists, or it is private and the bot is not in it",
                          "Pick another channel in the rule, or invite the bot to #{channel}", "rule_list"),
    "not_in_channel": ("The bot is not a member of #{channel}",
                       "Invite the bot to #{channel} (type /invite @ml-connector there)", "rule_list"),
    "is_archived": ("#{channel} is archived", "Channel archived: pick another in the rule, or unarchive it",
                    "rule_list"),
}
DEFAULT_FIX = ("Slack refused these messages", "Look at them in Activity and replay them", "activity")


def delivery_cause(*, held_reason: str, last_error_code: str) -> str:
    """The most precise cause of a held or failed delivery that has words in DELIVERY_FIXES."""
    if held_reason and last_error_code in DELIVERY_FIXES:
        return last_error_code
    return held_reason or last_error_code or "unknown"


@dataclass(frozen=True)
class Problem:
    status: str  # held or failed
    reason: str
    channel_name: str
    count: int
    since: object
    what: str
    fix: str
    fix_url: str


def _url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def delivery_problems(*, tenant) -> list[Problem]:
    rows = (Delivery.objects.for_tenant(tenant)
            .filter(status__in=[Delivery.Status.HELD, Delivery.Status.FAILED])
            .values("status", "held_reason", "last_error_code", "channel_name", "channel_id")
            .annotate(count=Count("id"), since=Min("created_at")).order_by("-count"))
    problems = []
    for row in rows:
        reason = delivery_cause(held_reason=row["held_reason"], last_error_code=row["last_error_code"])
        what, fix, url_name = DELIVERY_FIXES.get(reason, DEFAULT_FIX)
        channel = row["channel_name"] or row["channel_id"]
        problems.append(Problem(status=row["status"], reason=reason, channel_name=channel, count=row["count"],
                                since=row["since"], what=what.format(channel=channel),
                                fix=fix.format(channel=channel), fix_url=_url(url_name)))
    held_inbound = (InboundEvent.objects.for_tenant(tenant).filter(status=InboundEvent.Status.HELD)
                    .aggregate(count=Count("id"), since=Min("received_at")))
    if held_inbound["count"]:
        problems.insert(0, Problem(status="held", reason=HeldReason.FRESHBOOKS_REAUTH, channel_name="",
                                   count=held_inbound["count"], since=held_inbound["since"],
                                   what="FreshBooks needs you to connect again before we can read these events",
                                   fix="Reconnect FreshBooks", fix_url=_url("freshbooks:overview")))
    return problems
