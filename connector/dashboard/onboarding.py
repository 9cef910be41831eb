"""The onboarding checklist and the providers' status on the dashboard, read from the other apps' models.

Each check is a tiny function of the tenant. The provider and routing models are imported inside the
functions because those apps sit above this module in the layering.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import ActivityLog, Delivery, InboundEvent
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection
from connector.freshbooks.selectors import catch_up_state_of
from connector.slack.oauth import oauth_configured
from connector.slack.selectors import installation_for
from routing.models import Rule

# Activity-log actions that mean "a test message reached Slack" (recorded by the Slack page's test button).
TEST_MESSAGE_ACTIONS = ("slack.test_message_sent",)
CALLBACK_ERRORS_SHOWN = 3  # the dashboard lists at most this many failed callbacks' errors
RECENT_EVENTS_WINDOW = timedelta(hours=24)  # "events in the last day" on the callbacks' health


def freshbooks_url() -> str:
    return reverse("freshbooks:overview")


def slack_url() -> str:
    return reverse("slack:home")


def freshbooks_connect_url() -> str:
    """Where a POST starts FreshBooks' OAuth at once (the dashboard's one-click "Connect")."""
    return reverse("freshbooks:connect")


def slack_connect_url() -> str:
    """Where a POST starts "Add to Slack" at once; "" when this server has no Slack app (the Slack page
    then says what the operator can do instead)."""
    return reverse("slack:install") if oauth_configured() else ""


def rules_url() -> str:
    return reverse("rule_list")


def activity_url() -> str:
    return reverse("activity")


# --- The checks ------------------------------------------------------------------------------------------

def freshbooks_connection(tenant):
    """The tenant's current (not disconnected) FreshBooks connection, or None."""
    return (FreshBooksConnection.objects.for_tenant(tenant).exclude(status="disconnected")
            .order_by("-created_at").first())


def slack_installation(tenant):
    """The tenant's Slack installation (active or revoked), or None."""
    return installation_for(tenant=tenant)


def callback_states(tenant) -> dict[str, int]:
    """How many FreshBooks callbacks of the current connection are in each state (waiting, verified, failed)."""
    connection = freshbooks_connection(tenant)
    if connection is None:
        return {}
    counts: dict[str, int] = {}
    for state in FreshBooksCallback.objects.for_tenant(tenant).filter(connection=connection) \
            .values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def callback_errors(tenant) -> list[str]:
    connection = freshbooks_connection(tenant)
    if connection is None:
        return []
    rows = (FreshBooksCallback.objects.for_tenant(tenant).filter(connection=connection, state="failed")
            .values_list("event", "last_error")[:CALLBACK_ERRORS_SHOWN])
    return [f"{event}: {error}" if error else event for event, error in rows]


def rule_count(tenant) -> int:
    return Rule.objects.for_tenant(tenant).count()


def is_freshbooks_connected(tenant) -> bool:
    connection = freshbooks_connection(tenant)
    return connection is not None and connection.status == "active"


def is_slack_installed(tenant) -> bool:
    installation = slack_installation(tenant)
    return installation is not None and installation.status == "active"


def are_callbacks_verified(tenant) -> bool:
    states = callback_states(tenant)
    return bool(states) and set(states) == {"verified"}


def has_rule(tenant) -> bool:
    return rule_count(tenant) > 0


def has_sent_test_message(tenant) -> bool:
    """A test message from the Slack page, or any real message posted, shows the path to Slack works."""
    return (ActivityLog.objects.for_tenant(tenant).filter(action__in=TEST_MESSAGE_ACTIONS).exists()
            or Delivery.objects.for_tenant(tenant).filter(status=Delivery.Status.POSTED).exists())


# --- The checklist ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    key: str
    title: str
    what: str  # what the step does
    why: str  # why it matters
    action_label: str
    url: str
    done: bool
    post: bool = False  # the action is a form posted to `url` (it starts a provider's sign-in at once)


def onboarding_steps(*, tenant) -> list[Step]:
    """The five setup steps, in the order a new business does them."""
    return [
        Step("freshbooks", "Connect FreshBooks",
             "Lets ml-connector read your invoices, payments, bills and expenses (read only).",
             "Without it we cannot see what happens in your books.",
             "Connect FreshBooks", freshbooks_connect_url(), is_freshbooks_connected(tenant), post=True),
        Step("slack", "Add to Slack",
             "Installs the ml-connector app in your Slack workspace so it can post messages.",
             "This is where your team will see the news.",
             "Add to Slack", slack_connect_url() or slack_url(), is_slack_installed(tenant),
             post=bool(slack_connect_url())),
        Step("callbacks", "Check that FreshBooks can reach us",
             "FreshBooks confirms each notification (invoice, payment, bill, expense) it will send us.",
             "Until they are confirmed, FreshBooks sends nothing and no message can go out.",
             "Check the notifications", freshbooks_url(), are_callbacks_verified(tenant)),
        Step("rule", "Create your first rule",
             "A rule says which events go to which Slack channel, e.g. payments to #accounting.",
             "Without a rule nothing is posted, so nobody is disturbed by surprise.",
             "Create a rule", rules_url(), has_rule(tenant)),
        Step("test_message", "Send a test message",
             "Posts a sample message in the channel you choose.",
             "It proves the whole path works before a real invoice depends on it.",
             "Send a test message", slack_url(), has_sent_test_message(tenant)),
    ]


def onboarding_complete(steps: list[Step]) -> bool:
    return all(step.done for step in steps)


# --- Status of the connections ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ProviderStatus:
    name: str
    state: str  # "connected", "attention" (connected but needs the user) or "missing"
    summary: str
    url: str  # the provider's page: status, test, reconnect, disconnect
    connect_url: str = ""  # when missing or in need of attention: POST here to (re)connect in one click


def freshbooks_status(*, tenant) -> ProviderStatus:
    connection = freshbooks_connection(tenant)
    url = freshbooks_url()
    if connection is None:
        return ProviderStatus("FreshBooks", "missing", "Not connected yet.", url, freshbooks_connect_url())
    business = connection.business_name or f"business {connection.business_id}"
    if connection.status == "active":
        return ProviderStatus("FreshBooks", "connected", f"Connected to {business}.", url)
    reason = connection.status_reason or "FreshBooks stopped accepting our access."
    return ProviderStatus("FreshBooks", "attention", f"{business} needs you to connect again: {reason}", url,
                          freshbooks_connect_url())


def slack_status(*, tenant) -> ProviderStatus:
    installation = slack_installation(tenant)
    url = slack_url()
    if installation is None:
        return ProviderStatus("Slack", "missing", "Not added to a workspace yet.", url, slack_connect_url())
    team = installation.team_name or installation.team_id
    if installation.status == "active":
        return ProviderStatus("Slack", "connected", f"Posting in the Slack workspace “{team}”.", url)
    return ProviderStatus("Slack", "attention",
                          f"The app was removed from {team}: messages wait until you add it again.", url,
                          slack_connect_url())


@dataclass(frozen=True)
class CallbackHealth:
    state: str  # "healthy", "waiting", "failing" or "none"
    verified: int
    waiting: int
    failed: int
    errors: list[str]
    last_event_at: datetime | None
    events_last_day: int


def callback_health(*, tenant) -> CallbackHealth:
    states = callback_states(tenant)
    verified, waiting, failed = states.get("verified", 0), states.get("waiting", 0), states.get("failed", 0)
    if failed:
        state = "failing"
    elif waiting:
        state = "waiting"
    elif verified:
        state = "healthy"
    else:
        state = "none"
    events = InboundEvent.objects.for_tenant(tenant)
    last = events.order_by("-received_at").values_list("received_at", flat=True).first()
    recent = events.filter(received_at__gte=timezone.now() - RECENT_EVENTS_WINDOW).count()
    return CallbackHealth(state=state, verified=verified, waiting=waiting, failed=failed,
                          errors=callback_errors(tenant) if failed else [], last_event_at=last,
                          events_last_day=recent)


@dataclass(frozen=True)
class CatchUpStatus:
    """What the catch-up reads did lately, for the dashboard ("Last checked with FreshBooks ...")."""

    enabled: bool
    checked_at: datetime | None  # the last good read; None before the first (shown with the one `ago` format)
    missed_last: int  # changes the last read found that no webhook had brought
    missed_at: datetime | None  # the last read that found any
    missed_count: int
    missed_total: int
    error: str


def catch_up_status(*, tenant) -> CatchUpStatus | None:
    """None when FreshBooks is not connected (nothing to check)."""
    if freshbooks_connection(tenant) is None:
        return None
    state = catch_up_state_of(tenant=tenant)
    enabled = settings.CATCH_UP_INTERVAL_MINUTES > 0
    if state is None:
        return CatchUpStatus(enabled, None, 0, None, 0, 0, "")
    return CatchUpStatus(enabled=enabled, checked_at=state.last_success_at,
                         missed_last=state.last_new_count if state.last_success_at else 0,
                         missed_at=state.last_missed_at, missed_count=state.last_missed_count,
                         missed_total=state.missed_total, error=state.last_error)
