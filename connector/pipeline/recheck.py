"""Held work, seen by the people waiting for it: when the sweep will look at it again by itself, and
"Check now", which looks at once (at most once a minute per tenant and channel, so a held channel cannot
be used to hammer Slack). The checks are the sweep's own: the channel probe and the resume services."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from audit import ledger
from audit.models import HeldReason
from connector.freshbooks.models import FreshBooksConnection
from connector.pipeline import pacing
from connector.pipeline.policy import CHECK_NOW_INTERVAL
from connector.pipeline.resume import resume_channel_holds, resume_freshbooks_holds, resume_slack_holds
from connector.slack.client import slack_channel_usable
from connector.slack.errors import SlackError
from connector.slack.models import InstallationStatus, SlackInstallation


def checkable(reason: str) -> bool:
    """Whether a hold for this HeldReason goes away by itself once its cause is fixed (so can be checked)."""
    return reason == HeldReason.CHANNEL_UNUSABLE or reason in ledger.SLACK_HOLDS or reason in ledger.FRESHBOOKS_HOLDS


def sweep_period() -> timedelta:
    """How often beat runs the sweep, which re-checks every hold."""
    return timedelta(seconds=float(settings.CELERY_BEAT_SCHEDULE["sweep"]["schedule"]))


def next_check_at(*, reason: str, team_id: str = "", channel_id: str = "",
                  now: datetime | None = None) -> datetime:
    """By when the sweep looks at this hold again by itself: its next run, and for a broken channel the
    next run after the channel's probe interval has passed."""
    now = now or timezone.now()
    wait = pacing.probe_wait(team_id, channel_id) if reason == HeldReason.CHANNEL_UNUSABLE and team_id else 0
    return now + timedelta(seconds=wait) + sweep_period()


@dataclass(frozen=True)
class CheckResult:
    released: int  # messages or events let go by this check
    message: str  # what to tell the person who asked
    retry_in: int = 0  # seconds before "Check now" may be used again for this (when refused)


def _rate_limited(tenant, scope: str) -> int:
    """0 when a check may run now (and counts it), else the seconds to wait."""
    interval = int(CHECK_NOW_INTERVAL.total_seconds())
    key = f"mlc:check-now:{tenant.pk}:{scope}"
    until = timezone.now().timestamp() + interval
    if cache.add(key, until, timeout=interval):
        return 0
    return max(1, int((cache.get(key) or until) - timezone.now().timestamp()))


def _released(count: int, what: str) -> str:
    return f"Checked just now: {count} held {what}{'' if count == 1 else 's'} released; they go out now."


def check_now(*, tenant, reason: str, channel_id: str = "") -> CheckResult:
    """Look at once whether the cause of a hold (a HeldReason) is gone, and release what it held if so."""
    if reason == HeldReason.CHANNEL_UNUSABLE:
        return _check_channel(tenant, channel_id)
    if reason in ledger.SLACK_HOLDS:
        if wait := _rate_limited(tenant, "slack"):
            return CheckResult(0, f"Checked less than a minute ago: try again in {wait} s.", wait)
        released = resume_slack_holds(tenant=tenant)
        if released:
            return CheckResult(released, _released(released, "message"))
        return CheckResult(0, "Checked just now: Slack still needs to be (re)installed for this business.")
    if reason in ledger.FRESHBOOKS_HOLDS:
        if wait := _rate_limited(tenant, "freshbooks"):
            return CheckResult(0, f"Checked less than a minute ago: try again in {wait} s.", wait)
        connected = (FreshBooksConnection.objects.for_tenant(tenant)
                     .filter(status=FreshBooksConnection.Status.ACTIVE).exists())
        released = resume_freshbooks_holds(tenant=tenant) if connected else 0
        if released:
            return CheckResult(released, _released(released, "event"))
        return CheckResult(0, "Checked just now: FreshBooks still needs to be connected again.")
    return CheckResult(0, "Nothing to check: this is not held for a cause that goes away by itself.")


def _check_channel(tenant, channel_id: str) -> CheckResult:
    held = ledger.deliveries_held(tenant=tenant, reasons=[HeldReason.CHANNEL_UNUSABLE]).filter(channel_id=channel_id)
    teams = set(held.order_by().values_list("slack_team_id", flat=True).distinct())
    if not teams:
        return CheckResult(0, "Nothing is held for this channel any more.")
    if wait := _rate_limited(tenant, f"channel:{channel_id}"):
        return CheckResult(0, f"Checked less than a minute ago: try again in {wait} s.", wait)
    installations = (SlackInstallation.objects.for_tenant(tenant)
                     .filter(team_id__in=teams, status=InstallationStatus.ACTIVE))
    for installation in installations:
        try:
            usable = slack_channel_usable(installation=installation, channel_id=channel_id)
        except SlackError:
            return CheckResult(0, "Checked just now: Slack did not answer; the sweep tries again by itself.")
        if usable:
            released = resume_channel_holds(tenant=tenant, old_channel_id=channel_id)
            return CheckResult(released, _released(released, "message"))
    channel, code = held.values_list("channel_name", "last_error_code").first() or (channel_id, "")
    why = f" ({code})" if code else ""
    return CheckResult(0, f"Checked just now: #{channel or channel_id} still cannot be posted to{why}.")
