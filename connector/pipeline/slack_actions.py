"""Acting from Slack: button clicks on invoice messages (Send reminder, Mine), /freshbooks, App Home.

Every request is signed (checked in connector.slack.interactivity), then tied to one tenant (the
workspace's installation, and for a click the message's own delivery) and to the member the Slack user
is linked to in that tenant; an unlinked user gets a one-time link instead. Slack wants an answer within
3 s, so the request path only reads the database and enqueues: FreshBooks and Slack calls run in the
tasks below.

Reminders: at most one email per invoice per REMINDER_WINDOW. The slot is taken on the request path by a
conditional UPDATE of the invoice's ledger row (one winner however many clicks or workers), given back
when no email went out.
"""

import logging
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.activity import activity_record
from audit.models import Delivery, InvoiceState
from audit.problems import delivery_problems
from connector.core.crypto import blind_index
from connector.freshbooks import errors as fb_errors
from connector.freshbooks.client import FreshBooksClient
from connector.freshbooks.normalise import InvoiceSummary, invoice_summary
from connector.freshbooks.selectors import connection_active
from connector.slack import answers, client
from connector.slack.errors import PayloadBug, RateLimited, SlackError
from connector.slack.errors import Transient as SlackTransient
from connector.slack.interactivity import (
    Command,
    Interaction,
    SlackRequestRefused,
    command_parse,
    interaction_parse,
    verified_body,
)
from connector.slack.messages import CLAIM_ACTION_ID, SEND_REMINDER_ACTION_ID, escape, with_follow_up
from connector.slack.models import InstallationStatus, SlackInstallation
from connector.slack.signals import app_home_opened
from tenants.models import Tenant
from tenants.slack_links import LinkedMember, slack_link_member, slack_link_offer

logger = logging.getLogger(__name__)

REMINDER_WINDOW = timedelta(hours=24)  # at most one reminder email per invoice in this window
# The invoice ledger is refreshed from FreshBooks in the background when older than this; answers never wait.
LEDGER_STALE_SECONDS = 300
LEDGER_MAX_PAGES = 100  # 10,000 invoices at 100 a page: a refresh stays bounded whatever FreshBooks answers
TOP_LINES = 10  # invoices listed by /freshbooks unpaid and overdue
TASK_RETRIES = 5  # FreshBooks or Slack busy: tries of a reminder or an answer before giving up
TASK_RETRY_SECONDS = 20  # first wait; doubles each try (20 s ... 5 min), well inside response_url's 30 minutes
NOT_OWED_STATUSES = ("draft", "created", "paid", "autopaid", "auto-paid")

UNKNOWN_TEAM = ("This Slack workspace is not connected to ml-connector, so there is nothing I can do here. "
                "An owner of your business can add ml-connector to Slack from its Slack page.")
NOT_OURS = "I could not find that invoice in your business. It may be from another business or deleted."


def _enqueue(task, *args) -> bool:
    """Hand work to a worker. False (logged) when the broker cannot be reached: Slack still gets an answer,
    never a 500."""
    try:
        task.delay(*args)
    except Exception:  # noqa: BLE001 - any broker failure
        logger.exception("slack_actions.enqueue_failed", extra={"task": task.name})
        return False
    return True


# --- Who is acting, for which tenant ---------------------------------------------------------------------

def _installations(team_id: str) -> list[SlackInstallation]:
    return list(SlackInstallation.objects.select_related("tenant")
                .filter(team_id=team_id, status=InstallationStatus.ACTIVE).order_by("installed_at"))


def _delivery_clicked(installations: list[SlackInstallation], click: Interaction) -> Delivery | None:
    """Our delivery behind the clicked message (its channel and ts), among the workspace's tenants."""
    if not click.channel_id or not click.message_ts:
        return None
    return (Delivery.objects.filter(tenant__in=[i.tenant_id for i in installations],
                                    slack_team_id=click.team_id, slack_ts=click.message_ts)
            .filter(Q(slack_channel=click.channel_id) | Q(channel_id=click.channel_id))
            .select_related("tenant").first())


def _member_in(installations: list[SlackInstallation], team_id: str, user_id: str
               ) -> tuple[Tenant, LinkedMember | None]:
    """The first tenant of the workspace the Slack user is linked in; else the first tenant, unlinked."""
    for installation in installations:
        member = slack_link_member(tenant=installation.tenant, team_id=team_id, slack_user_id=user_id)
        if member is not None:
            return installation.tenant, member
    return installations[0].tenant, None


def _link_prompt(tenant: Tenant, team_id: str, user_id: str) -> dict:
    url = slack_link_offer(tenant=tenant, team_id=team_id, slack_user_id=user_id)
    return answers.ephemeral(
        f"First, link your Slack account to your ml-connector account for *{escape(tenant.name)}*: "
        f"<{url}|link my account> (works once, for 15 minutes). Then try again.")


# --- Clicks ------------------------------------------------------------------------------------------------

def interaction_answer(click: Interaction) -> dict:
    """Decide what a click does. Returns the ephemeral answer to show at once ({} when the work went to a
    task that answers for itself)."""
    if click.action_id not in (SEND_REMINDER_ACTION_ID, CLAIM_ACTION_ID):
        return {}  # URL buttons (Open in FreshBooks) also send a payload: nothing to do
    installations = _installations(click.team_id)
    if not installations:
        return answers.ephemeral(UNKNOWN_TEAM)
    delivery = _delivery_clicked(installations, click)
    if delivery is not None:
        tenant = delivery.tenant
        member = slack_link_member(tenant=tenant, team_id=click.team_id, slack_user_id=click.user_id)
    else:
        tenant, member = _member_in(installations, click.team_id, click.user_id)
    if member is None:
        return _link_prompt(tenant, click.team_id, click.user_id)
    invoice_id = click.value.strip()
    known = (delivery is not None and delivery.kind == "invoice" and delivery.object_id == invoice_id) or \
        InvoiceState.objects.for_tenant(tenant).filter(invoice_id=invoice_id).exists()
    if not invoice_id or not known:
        return answers.ephemeral(NOT_OURS)
    if not member.can_change:
        verb = "send reminders" if click.action_id == SEND_REMINDER_ACTION_ID else "claim invoices"
        return answers.ephemeral(f"Sorry, only owners and admins of {escape(tenant.name)} can {verb}. "
                                 "You can still read everything with /freshbooks.")
    if click.action_id == SEND_REMINDER_ACTION_ID:
        return _reminder_request(tenant, member, invoice_id, click)
    return _claim(tenant, member, invoice_id, click, delivery)


def _ledger_row(tenant: Tenant, invoice_id: str) -> InvoiceState:
    # get_or_create survives a concurrent click inserting the same row (unique per tenant and invoice).
    return InvoiceState.objects.get_or_create(tenant=tenant, invoice_id=invoice_id)[0]


def reminder_reserve(*, tenant: Tenant, invoice_id: str) -> bool:
    """Take the invoice's reminder slot for REMINDER_WINDOW. One caller wins, however many race."""
    _ledger_row(tenant, invoice_id)
    now = timezone.now()
    return bool(InvoiceState.objects.for_tenant(tenant).filter(invoice_id=invoice_id).filter(
        Q(reminder_sent_at__isnull=True) | Q(reminder_sent_at__lte=now - REMINDER_WINDOW),
    ).update(reminder_sent_at=now))


def reminder_release(*, tenant: Tenant, invoice_id: str) -> None:
    """Give the slot back: no email went out."""
    InvoiceState.objects.for_tenant(tenant).filter(invoice_id=invoice_id).update(reminder_sent_at=None)


def _reminder_request(tenant: Tenant, member: LinkedMember, invoice_id: str, click: Interaction) -> dict:
    row = _ledger_row(tenant, invoice_id)
    if row.fetched_at is not None and (row.outstanding <= 0 or row.deleted or row.status in NOT_OWED_STATUSES):
        return answers.ephemeral(f"Invoice {escape(row.number or invoice_id)} has nothing outstanding: "
                                 "no reminder sent.")
    if not reminder_reserve(tenant=tenant, invoice_id=invoice_id):
        sent = InvoiceState.objects.for_tenant(tenant).get(invoice_id=invoice_id).reminder_sent_at
        when = timezone.localtime(sent).strftime("%b %-d at %H:%M %Z") if sent else "recently"
        return answers.ephemeral(f"A reminder for this invoice was sent {when}: at most one a day, "
                                 "so nothing was sent now.")
    if not _enqueue(reminder_send, tenant.pk, invoice_id, member.membership.user_id, click.channel_id,
                    click.message_ts, click.response_url):
        reminder_release(tenant=tenant, invoice_id=invoice_id)
        return answers.ephemeral("The reminder could not be started just now, so nothing was sent. Try again in "
                                 "a minute.")
    return {}


def _claim(tenant: Tenant, member: LinkedMember, invoice_id: str, click: Interaction,
           delivery: Delivery | None) -> dict:
    _ledger_row(tenant, invoice_id)
    with transaction.atomic():
        InvoiceState.objects.for_tenant(tenant).filter(invoice_id=invoice_id).update(
            claimed_by=member.membership.user, claimed_at=timezone.now())
        activity_record(tenant=tenant, actor=member.membership.user, action="invoice.claimed", target=invoice_id,
                        details={"via": "slack", "slack_user_id": click.user_id})
    blocks = delivery.message_blocks if delivery is not None and delivery.message_blocks else \
        click.message.get("blocks") or []
    text = delivery.message_text if delivery is not None else str(click.message.get("text") or "")
    body = {"replace_original": True, "text": text, "blocks": with_follow_up(list(blocks), name=member.name)}
    if click.response_url:
        _enqueue(slack_respond, click.response_url, body)
    return {}


# --- The reminder -------------------------------------------------------------------------------------------

def _reminder_words(summary: InvoiceSummary, tenant: Tenant) -> tuple[str, str]:
    number = summary.number or summary.invoice_id
    subject = f"Reminder: invoice {number} from {tenant.name}"
    body = (f"This is a friendly reminder that invoice {number} has "
            f"{summary.outstanding:,.2f} {summary.currency} outstanding"
            + (f", due {summary.due_date:%B %-d, %Y}" if summary.due_date else "") + ". Thank you!")
    return subject, body


def _retry_delay(attempt: int) -> int:
    return TASK_RETRY_SECONDS * 2 ** attempt


@shared_task(bind=True, ignore_result=True, acks_late=False, max_retries=TASK_RETRIES)
def reminder_send(self, tenant_id: int, invoice_id: str, user_id: int, channel_id: str, message_ts: str,
                  response_url: str) -> str:
    """Email the invoice again through FreshBooks, then say so in the clicked message's thread.

    Acked on receipt (not late): a task lost with its worker leaves the slot taken rather than risk a
    second email to the client.
    """
    tenant = Tenant.objects.get(pk=tenant_id)
    membership = tenant.memberships.select_related("user").filter(user_id=user_id).first()
    if membership is None or not membership.can_change:  # removed or demoted since the click
        outcome = "Your role no longer allows sending reminders, so none was sent."
    else:
        outcome = _reminder_deliver(self, tenant, invoice_id)
    if isinstance(outcome, str):  # a refusal in words: the slot goes back, the clicker is told
        reminder_release(tenant=tenant, invoice_id=invoice_id)
        if response_url:
            _enqueue(slack_respond, response_url, answers.ephemeral(outcome))
        return "refused"
    summary, recipient = outcome
    user = membership.user
    name = user.get_full_name() or user.email
    activity_record(tenant=tenant, actor=user, action="invoice.reminder_sent", target=invoice_id,
                    details={"invoice_number": summary.number, "recipient": recipient, "via": "slack"})
    _enqueue(reminder_reply, tenant_id, channel_id, message_ts, f"Reminder sent to {recipient} by {name}",
             response_url)
    logger.info("slack_actions.reminder_sent", extra={"tenant_id": tenant_id, "invoice_id": invoice_id})
    return "sent"


@shared_task(bind=True, ignore_result=True, max_retries=TASK_RETRIES)
def reminder_reply(self, tenant_id: int, channel_id: str, message_ts: str, line: str, response_url: str) -> None:
    """Say in the clicked message's thread that the reminder went out (its own task: retrying a busy
    channel must never send the email again)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    installation = SlackInstallation.objects.for_tenant(tenant).filter(status=InstallationStatus.ACTIVE).first()
    try:
        if installation is None or not channel_id or not message_ts:
            raise PayloadBug("no_thread")
        client.slack_post_reply(installation=installation, channel_id=channel_id, thread_ts=message_ts,
                                text=escape(line))
    except (RateLimited, SlackTransient) as exc:
        if self.request.retries < TASK_RETRIES:
            raise self.retry(countdown=getattr(exc, "retry_after", None) or _retry_delay(self.request.retries),
                             exc=exc) from exc
        _reply_instead(tenant_id, exc, line, response_url)
    except SlackError as exc:
        _reply_instead(tenant_id, exc, line, response_url)


def _reply_instead(tenant_id: int, exc: SlackError, line: str, response_url: str) -> None:
    """The email went out but the thread reply could not be posted: still tell the person who clicked."""
    logger.info("slack_actions.reminder_reply_failed", extra={"tenant_id": tenant_id, "error_code": exc.code})
    if response_url:
        _enqueue(slack_respond, response_url, answers.ephemeral(escape(line)))


def _reminder_deliver(task, tenant: Tenant, invoice_id: str) -> tuple[InvoiceSummary, str] | str:
    """The PUT with action_email, or why not in words. FreshBooks busy: the task retries, slot kept."""
    connection = connection_active(tenant=tenant)
    if connection is None:
        return "FreshBooks is not connected (or needs reconnecting), so no reminder was sent."
    freshbooks = FreshBooksClient(connection)
    try:
        summary = invoice_summary(freshbooks.object_get("invoice", invoice_id))
        ledger_store(tenant=tenant, summaries=[summary])
        if not summary.owed:
            return f"Invoice {escape(summary.number or invoice_id)} has nothing outstanding: no reminder sent."
        recipient = summary.email
        if not recipient and summary.client_id:
            recipient = str(freshbooks.object_get("client", summary.client_id).get("email") or "").strip()
        if not recipient:
            return (f"The client of invoice {escape(summary.number or invoice_id)} has no email address in "
                    "FreshBooks, so no reminder was sent.")
        subject, body = _reminder_words(summary, tenant)
        freshbooks.invoice_email(invoice_id, recipients=[recipient], subject=subject, body=body)
    except fb_errors.NotFound:
        return NOT_OURS
    except fb_errors.AuthorizationLost:
        return "FreshBooks needs to be connected again (on the FreshBooks page), so no reminder was sent."
    except (fb_errors.RateLimited, fb_errors.Transient) as exc:
        if task.request.retries >= TASK_RETRIES:
            return "FreshBooks is not answering right now, so no reminder was sent. Try again later."
        wait = getattr(exc, "retry_after", None) or _retry_delay(task.request.retries)
        raise task.retry(countdown=wait, exc=exc) from exc
    except fb_errors.FreshBooksError as exc:
        logger.warning("slack_actions.reminder_refused", extra={"tenant_id": tenant.pk, "error": str(exc)[:200]})
        if getattr(exc, "status_code", None) == 403:
            return ("FreshBooks did not allow sending the invoice: reconnect FreshBooks (on the FreshBooks "
                    "page) to grant ml-connector permission to send invoices.")
        return "FreshBooks refused to send the invoice, so no reminder was sent."
    return summary, recipient


@shared_task(bind=True, ignore_result=True, max_retries=TASK_RETRIES)
def slack_respond(self, response_url: str, body: dict) -> None:
    """Post an answer to a response_url (ephemeral note, or the rebuilt message)."""
    try:
        client.slack_respond(response_url=response_url, body=body)
    except (RateLimited, SlackTransient) as exc:
        wait = getattr(exc, "retry_after", None) or _retry_delay(self.request.retries)
        raise self.retry(countdown=wait, exc=exc) from exc
    except SlackError as exc:  # spent or expired URL: nothing more to do
        logger.info("slack_actions.respond_refused", extra={"error_code": exc.code})


# --- The invoice ledger: what /freshbooks and App Home answer from ------------------------------------------

def ledger_store(*, tenant: Tenant, summaries: list[InvoiceSummary]) -> None:
    """Upsert the invoices' latest state (claims and reminder slots are kept)."""
    now = timezone.now()
    rows = [InvoiceState(tenant=tenant, invoice_id=s.invoice_id, number=s.number, number_index=blind_index(s.number),
                         client_name=s.client_name, amount=s.amount, outstanding=s.outstanding, currency=s.currency,
                         status=s.status, due_date=s.due_date, deleted=s.deleted, fetched_at=now)
            for s in summaries if s.invoice_id]
    InvoiceState.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["tenant", "invoice_id"],
        update_fields=["number", "number_index", "client_name", "amount", "outstanding", "currency", "status",
                       "due_date", "deleted", "fetched_at", "updated_at"])


def ledger_refresh_soon(*, tenant: Tenant) -> None:
    """Refresh the tenant's invoices from FreshBooks in the background, at most once per stale window."""
    try:
        due = cache.add(f"slack:ledger-refresh:{tenant.pk}", 1, LEDGER_STALE_SECONDS)
    except Exception:  # noqa: BLE001 - any cache backend failure: answers still work, from the ledger as is
        logger.warning("slack_actions.ledger_refresh_unscheduled", extra={"tenant_id": tenant.pk})
        return
    if due:
        _enqueue(ledger_refresh, tenant.pk)


@shared_task(ignore_result=True)
def ledger_refresh(tenant_id: int) -> int:
    """Read every invoice of the tenant from FreshBooks (pages of 100) into the ledger. Returns how many."""
    tenant = Tenant.objects.get(pk=tenant_id)
    connection = connection_active(tenant=tenant)
    if connection is None:
        return 0
    freshbooks = FreshBooksClient(connection)
    started = timezone.now()
    read = 0
    try:
        for number in range(1, LEDGER_MAX_PAGES + 1):
            page = freshbooks.objects_list("invoice", page=number)
            ledger_store(tenant=tenant, summaries=[invoice_summary(i) for i in page.items])
            read += len(page.items)
            if number >= page.pages or not page.items:
                # The whole list was read: an invoice it no longer shows was deleted in FreshBooks.
                InvoiceState.objects.for_tenant(tenant).filter(fetched_at__lt=started, deleted=False) \
                    .update(deleted=True)
                break
    except fb_errors.FreshBooksError as exc:
        # The next stale answer schedules another refresh; until then answers use what we have.
        logger.info("slack_actions.ledger_refresh_failed", extra={"tenant_id": tenant_id, "error": str(exc)[:200]})
    logger.info("slack_actions.ledger_refreshed", extra={"tenant_id": tenant_id, "invoices": read})
    return read


def _owed(tenant: Tenant):
    return (InvoiceState.objects.for_tenant(tenant).filter(outstanding__gt=0, deleted=False)
            .exclude(status__in=NOT_OWED_STATUSES))


def _totals(queryset) -> list[answers.Total]:
    rows = queryset.order_by().values("currency").annotate(count=Count("id"), total=Sum("outstanding")) \
        .order_by("currency")
    return [answers.Total(currency=r["currency"], count=r["count"], amount=r["total"] or Decimal(0)) for r in rows]


def _line(row: InvoiceState, today) -> answers.InvoiceLine:
    return answers.InvoiceLine(
        number=row.number, client=row.client_name, outstanding=row.outstanding, amount=row.amount,
        currency=row.currency, status=row.status, due_date=row.due_date,
        days_overdue=max(0, (today - row.due_date).days) if row.due_date and row.outstanding > 0 else 0,
        followed_by=(row.claimed_by.get_full_name() or row.claimed_by.email) if row.claimed_by else "")


def _today(tenant: Tenant):
    return timezone.localdate(timezone=_zone(tenant))


def _zone(tenant: Tenant):
    try:
        return ZoneInfo(tenant.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _as_of(tenant: Tenant) -> str:
    latest = InvoiceState.objects.for_tenant(tenant).order_by("-fetched_at").values_list("fetched_at", flat=True) \
        .first()
    return timezone.localtime(latest, _zone(tenant)).strftime("%b %-d, %H:%M") if latest else ""


def unpaid_answer(*, tenant: Tenant) -> dict:
    owed = _owed(tenant)
    today = _today(tenant)
    top = [_line(r, today) for r in owed.select_related("claimed_by").order_by("-outstanding", "id")[:TOP_LINES]]
    return answers.unpaid_answer(top, _totals(owed), as_of=_as_of(tenant))


def overdue_answer(*, tenant: Tenant) -> dict:
    today = _today(tenant)
    overdue = _owed(tenant).filter(due_date__lt=today)
    top = [_line(r, today) for r in overdue.select_related("claimed_by").order_by("due_date", "id")[:TOP_LINES]]
    return answers.overdue_answer(top, _totals(overdue), as_of=_as_of(tenant))


def invoice_lookup_answer(*, tenant: Tenant, number: str) -> dict:
    row = (InvoiceState.objects.for_tenant(tenant).select_related("claimed_by")
           .filter(number_index=blind_index(number)).order_by("-fetched_at").first())
    if row is None:
        return answers.ephemeral(f"No invoice numbered {escape(number[:40])} in "
                                 f"{escape(tenant.name)} yet. Check the number, or ask again in a minute if it "
                                 "is new.")
    return answers.invoice_answer(_line(row, _today(tenant)), as_of=_as_of(tenant))


def command_answer(command: Command) -> dict:
    """The ephemeral answer to /freshbooks, from the ledger (which refreshes itself when stale)."""
    if command.command != answers.COMMAND:
        return answers.ephemeral(f"I only know {answers.COMMAND}.")
    installations = _installations(command.team_id)
    if not installations:
        return answers.ephemeral(UNKNOWN_TEAM)
    word, _, rest = command.text.partition(" ")
    word = word.lower()
    if word in ("", "help"):
        return answers.ephemeral(answers.HELP)
    number = rest.strip()
    if word not in ("unpaid", "overdue", "invoice") or (word == "invoice" and not number):
        return answers.ephemeral(f"I did not understand that.\n{answers.HELP}")
    tenant, member = _member_in(installations, command.team_id, command.user_id)
    if member is None:
        return _link_prompt(tenant, command.team_id, command.user_id)
    ledger_refresh_soon(tenant=tenant)
    if not InvoiceState.objects.for_tenant(tenant).filter(fetched_at__isnull=False).exists():
        return answers.ephemeral("I am reading your invoices from FreshBooks for the first time: ask again in a "
                                 "minute.")
    if word == "unpaid":
        return unpaid_answer(tenant=tenant)
    if word == "overdue":
        return overdue_answer(tenant=tenant)
    return invoice_lookup_answer(tenant=tenant, number=number)


# --- App Home ---------------------------------------------------------------------------------------------

@shared_task(ignore_result=True)
def home_publish(team_id: str, user_id: str) -> None:
    """Publish the App Home tab for a Slack user: their linked tenant's totals and held messages."""
    installations = _installations(team_id)
    if not installations:
        return
    tenant, member = _member_in(installations, team_id, user_id)
    installation = next(i for i in installations if i.tenant_id == tenant.pk)
    owed = _owed(tenant)
    if member is None:
        view = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": (
            _link_prompt(tenant, team_id, user_id)["text"])}}]}
    else:
        ledger_refresh_soon(tenant=tenant)
        problems = delivery_problems(tenant=tenant)
        held = [answers.HeldLine(what=f"{p.count} × {p.what}", fix=p.fix,
                                 fix_url=f"{settings.PUBLIC_BASE_URL}{p.fix_url}" if p.fix_url else "")
                for p in problems]
        view = answers.home_view(
            business_name=tenant.name, outstanding=_totals(owed),
            overdue=_totals(owed.filter(due_date__lt=_today(tenant))), held=held,
            held_count=sum(p.count for p in problems),
            dashboard_url=f"{settings.PUBLIC_BASE_URL}{reverse('dashboard')}", as_of=_as_of(tenant))
    try:
        client.slack_publish_home(installation=installation, user_id=user_id, view=view)
    except SlackError as exc:  # the next opening of the tab publishes again
        logger.info("slack_actions.home_not_published", extra={"tenant_id": tenant.pk, "error_code": exc.code})


@receiver(app_home_opened, dispatch_uid="pipeline.slack_home_publish")
def _on_app_home_opened(sender, *, team_id: str, user_id: str, **kwargs):
    _enqueue(home_publish, team_id, user_id)


# --- The two signed endpoints (contract: /slack/interactions/, /slack/commands/) --------------------------

@csrf_exempt
@require_POST
def slack_interactions(request):
    try:
        click = interaction_parse(verified_body(request))
    except SlackRequestRefused as exc:
        logger.info("slack_actions.request_refused", extra={"reason": exc.reason, "status": exc.status})
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain")
    if click is None:
        return HttpResponse(status=200)
    answer = interaction_answer(click)
    # Slack ignores the body of a block_actions answer: what the clicker should read goes to response_url.
    if answer and click.response_url:
        _enqueue(slack_respond, click.response_url, answer)
    return JsonResponse(answer) if answer else HttpResponse(status=200)


@csrf_exempt
@require_POST
def slack_commands(request):
    try:
        command = command_parse(verified_body(request))
    except SlackRequestRefused as exc:
        logger.info("slack_actions.request_refused", extra={"reason": exc.reason, "status": exc.status})
        return HttpResponse(exc.reason, status=exc.status, content_type="text/plain")
    return JsonResponse(command_answer(command))
