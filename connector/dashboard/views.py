"""The dashboard: where a signed-in member lands. Setup checklist, connections, charts and what needs a fix."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from audit.models import Delivery, InboundEvent
from audit.problems import delivery_problems
from connector.core.events import EVENT_LABELS
from connector.dashboard import charts, onboarding
from connector.pipeline import recheck
from tenants.permissions import tenant_view

CHART_DAYS = 30  # the charts cover the last 30 days, today included
LATEST_DELIVERIES = 10  # rows in "Latest messages"
# Delivery statuses as the chart groups them.
POSTED = (Delivery.Status.POSTED,)
PROBLEM = (Delivery.Status.HELD, Delivery.Status.FAILED)
WAITING = (Delivery.Status.PENDING, Delivery.Status.RETRYING)


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "login")


def _tz(tenant) -> ZoneInfo:
    try:
        return ZoneInfo(tenant.time_zone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def chart_days(*, tenant, days: int = CHART_DAYS, now: datetime | None = None) -> list[date]:
    today = (now or timezone.now()).astimezone(_tz(tenant)).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _since(tenant, first_day: date) -> datetime:
    return datetime.combine(first_day, time.min, tzinfo=_tz(tenant))


def inbound_event_daily_counts(*, tenant, days: list[date]) -> list[int]:
    """Events FreshBooks sent per day (in the tenant's time zone)."""
    rows = (InboundEvent.objects.for_tenant(tenant).filter(received_at__gte=_since(tenant, days[0]))
            .annotate(day=TruncDate("received_at", tzinfo=_tz(tenant))).values("day")
            .annotate(n=Count("id")).values_list("day", "n"))
    counts = dict(rows)
    return [counts.get(day, 0) for day in days]


def delivery_daily_counts(*, tenant, days: list[date]) -> dict[str, list[int]]:
    """Messages per day by outcome: posted, held or failed, still waiting."""
    rows = (Delivery.objects.for_tenant(tenant).filter(created_at__gte=_since(tenant, days[0]))
            .annotate(day=TruncDate("created_at", tzinfo=_tz(tenant))).values("day", "status")
            .annotate(n=Count("id")).values_list("day", "status", "n"))
    groups = {"posted": POSTED, "problem": PROBLEM, "waiting": WAITING}
    out = {name: [0] * len(days) for name in groups}
    index = {day: i for i, day in enumerate(days)}
    for day, status, n in rows:
        for name, statuses in groups.items():
            if status in statuses and day in index:
                out[name][index[day]] += n
    return out


def _charts(tenant) -> list[dict]:
    days = chart_days(tenant=tenant)
    events = [charts.Series("Events received", inbound_event_daily_counts(tenant=tenant, days=days), "#1f6feb")]
    by_outcome = delivery_daily_counts(tenant=tenant, days=days)
    deliveries = [
        charts.Series("Posted", by_outcome["posted"], "#067647"),
        charts.Series("Held or failed", by_outcome["problem"], "#b42318"),
        charts.Series("Waiting", by_outcome["waiting"], "#98a2b3"),
    ]
    period = f"{charts.day_label(days[0])} to {charts.day_label(days[-1])}"
    result = []
    for chart_id, title, series in (("chart-events", "Events from FreshBooks per day", events),
                                    ("chart-deliveries", "Slack messages per day", deliveries)):
        totals = ", ".join(f"{sum(s.values)} {s.label.lower()}" for s in series)
        result.append({
            "id": chart_id, "title": title,
            "svg": charts.bar_chart_svg(chart_id=chart_id, title=title, desc=f"{period}: {totals}.", days=days,
                                        series=series),
            "series": series, "rows": charts.table_rows(days=days, series=series),
            "empty": not any(sum(s.values) for s in series),
        })
    return result


def _problems(tenant) -> list[dict]:
    out = []
    for problem in delivery_problems(tenant=tenant):
        out.append({"problem": problem, "url": problem.fix_url or "/activity/"})
    return out


def _latest_deliveries(tenant) -> list[Delivery]:
    rows = list(Delivery.objects.for_tenant(tenant).order_by("-created_at", "-id")[:LATEST_DELIVERIES])
    for d in rows:
        d.label = EVENT_LABELS.get(d.event_name, d.event_name)
    return rows


def deliveries_context(tenant) -> dict:
    return {"problems": _problems(tenant), "latest": _latest_deliveries(tenant),
            "activity_url": onboarding.activity_url(), "rules_url": onboarding.rules_url()}


@tenant_view
def dashboard(request):
    tenant = request.tenant
    steps = onboarding.onboarding_steps(tenant=tenant)
    next_step = next((s for s in steps if not s.done), None)
    return render(request, "dashboard.html", {
        "steps": steps,
        "steps_done": sum(1 for s in steps if s.done),
        "next_step": next_step,
        "onboarding_complete": next_step is None,
        "providers": [onboarding.freshbooks_status(tenant=tenant), onboarding.slack_status(tenant=tenant)],
        "callbacks": onboarding.callback_health(tenant=tenant),
        "catch_up": onboarding.catch_up_status(tenant=tenant),
        "catch_up_minutes": settings.CATCH_UP_INTERVAL_MINUTES,
        "freshbooks_url": onboarding.freshbooks_url(),
        "charts": _charts(tenant),
        **deliveries_context(tenant),
    })


@tenant_view
def dashboard_deliveries(request):
    """The "needs a fix" and "latest messages" panels alone, refreshed in place by htmx."""
    part = request.GET.get("part")
    return render(request, "dashboard_deliveries.html", {
        **deliveries_context(request.tenant), "part": part if part in ("problems", "latest") else "latest"})


@require_POST
@tenant_view  # admins and owners
def check_now(request):
    """"Check now" on held work: look at its cause at once (rate-limited) and go back where it was asked."""
    result = recheck.check_now(tenant=request.tenant, reason=request.POST.get("reason", ""),
                               channel_id=request.POST.get("channel_id", ""))
    (messages.success if result.released else messages.info)(request, result.message)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = "dashboard"
    return redirect(back)
