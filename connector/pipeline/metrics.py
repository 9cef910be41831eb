"""Prometheus metrics of the pipeline, and GET /metrics that serves them.

Counted where they happen, in the process they happen in (web: webhooks; worker: posts), by one-line
calls: `webhook_received` from the intake's answer, `attempt_recorded` on every DeliveryAttempt saved
(connected in receivers.py). Read from the database when scraped, so the same from every web process and
machine: deliveries waiting or held, inbound events waiting.

Several processes (gunicorn workers, Celery workers): prometheus-client's multiprocess mode. Set
PROMETHEUS_MULTIPROC_DIR to an empty directory shared by the web and worker processes of a machine
before they start (`make run` does); each process writes its samples there and /metrics adds them up.
Without it, /metrics shows the answering process's own counters only.

/metrics answers only when METRICS_TOKEN is set (404 otherwise), to `Authorization: Bearer <token>`
(401 otherwise).
"""

import hmac
import os

from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from audit.ledger import POSTED_OUTCOMES
from audit.models import Delivery, DeliveryAttempt, InboundEvent

WEBHOOKS = Counter("mlc_webhooks_received_total", "FreshBooks webhooks received, by the intake's answer",
                   ["outcome"])
POSTS = Counter("mlc_slack_posts_total", "Slack post attempts, by outcome", ["outcome"])
RATE_LIMITED = Counter("mlc_slack_rate_limited_total", "Slack 429 answers to posts")
POST_LATENCY = Histogram(
    "mlc_post_latency_seconds", "From the FreshBooks webhook's arrival to Slack accepting the post",
    buckets=(0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600))

WAITING_INBOUND = (InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING, InboundEvent.Status.HELD)
UNFINISHED = (Delivery.Status.PENDING, Delivery.Status.RETRYING, Delivery.Status.HELD)


# --- Hooks ----------------------------------------------------------------------------------------------

def webhook_received(outcome: str) -> None:
    WEBHOOKS.labels(outcome=outcome).inc()


def attempt_recorded(sender, instance: DeliveryAttempt, created: bool, **kwargs) -> None:
    """post_save of DeliveryAttempt: every post's outcome passes here, whatever code path made it."""
    if not created:
        return
    POSTS.labels(outcome=instance.outcome).inc()
    if instance.outcome == DeliveryAttempt.Outcome.RATE_LIMITED:
        RATE_LIMITED.inc()
    if instance.outcome in POSTED_OUTCOMES:
        # A claimed delivery brings its event's arrival (ledger.delivery_claim); others ask the database.
        received = getattr(instance.delivery, "event_received_at", None) \
            if DeliveryAttempt.delivery.is_cached(instance) else None
        if received is None:
            received = (InboundEvent.objects.filter(deliveries=instance.delivery_id)
                        .values_list("received_at", flat=True).first())
        if received is not None:
            POST_LATENCY.observe(max(0.0, (timezone.now() - received).total_seconds()))


# --- Read when scraped ------------------------------------------------------------------------------------

class LedgerCollector:
    """Backlog and holds, from the database (the truth, shared by every process and machine). Only the
    unfinished states are counted: they stay small, while posted deliveries grow for ever."""

    def collect(self):
        deliveries = GaugeMetricFamily("mlc_deliveries", "Deliveries not yet posted or failed, by status",
                                       labels=["status"])
        counts = dict(Delivery.objects.filter(status__in=UNFINISHED).order_by().values_list("status")
                      .annotate(n=Count("id")))
        for status in UNFINISHED:
            deliveries.add_metric([status], counts.get(status, 0))
        yield deliveries
        held = GaugeMetricFamily("mlc_deliveries_held", "Held deliveries, by reason", labels=["reason"])
        for reason, n in (Delivery.objects.filter(status=Delivery.Status.HELD).order_by().values_list("held_reason")
                          .annotate(n=Count("id"))):
            held.add_metric([reason or "unknown"], n)
        yield held
        inbound = GaugeMetricFamily("mlc_inbound_events_waiting", "FreshBooks events not yet processed, by status",
                                    labels=["status"])
        counts = dict(InboundEvent.objects.filter(status__in=WAITING_INBOUND).order_by().values_list("status")
                      .annotate(n=Count("id")))
        for status in WAITING_INBOUND:
            inbound.add_metric([status], counts.get(status, 0))
        yield inbound


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in (WEBHOOKS, POSTS, RATE_LIMITED, POST_LATENCY):
            registry.register(collector)
    registry.register(LedgerCollector())
    return registry


def _authorized(request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())


@require_GET
def metrics_view(request):
    if not settings.METRICS_TOKEN:
        raise Http404("Metrics are off (METRICS_TOKEN is not set).")
    if not _authorized(request):
        response = HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)

