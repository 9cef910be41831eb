"""GET /metrics: Prometheus text, only with METRICS_TOKEN set and the right bearer token; webhooks by the
intake's answer, posts by Slack's outcome with their latency, 429s, and the backlog from the ledger."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from audit.models import Delivery, InboundEvent
from tests.pipeline.conftest import drain

TOKEN = "metrics-token-0123456789"


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def test_off_without_a_token_setting(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_a_wrong_or_missing_token_is_refused(client, metrics_on, header):
    response = client.get("/metrics", **({"HTTP_AUTHORIZATION": header} if header else {}))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"mlc_" not in response.content


@pytest.mark.django_db
def test_webhooks_are_counted_by_the_intakes_answer(client, metrics_on):
    before = scrape(client)
    client.post("/webhooks/freshbooks/no-such-token/", data="name=invoice.create&object_id=1",
                content_type="application/x-www-form-urlencoded")
    after = scrape(client)
    assert value(after, "mlc_webhooks_received_total", outcome="unknown_webhook_url") == \
        value(before, "mlc_webhooks_received_total", outcome="unknown_webhook_url") + 1


@pytest.mark.django_db
def test_posts_429s_and_latency_are_counted(client, metrics_on, slack, installation, make_delivery):
    before = scrape(client)
    make_delivery("C1")
    make_delivery("C2")
    slack.script["C2"] = ["429"]
    drain("C1")
    drain("C2")
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("mlc_slack_posts_total", outcome="posted") == 1
    assert grew("mlc_slack_posts_total", outcome="rate_limited") == 1
    assert grew("mlc_slack_rate_limited_total") == 1
    assert grew("mlc_post_latency_seconds_count") == 1
    assert grew("mlc_post_latency_seconds_bucket", le="+Inf") == 1


@pytest.mark.django_db
def test_backlog_and_holds_come_from_the_ledger(client, metrics_on, make_delivery, tenant):
    for n in range(4):
        InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id=str(n), raw_body="")
    make_delivery("C1")
    make_delivery("C1")
    held = make_delivery("C3", status=Delivery.Status.HELD)
    Delivery.objects.filter(pk=held.pk).update(held_reason="channel_not_found")
    make_delivery("C4", status=Delivery.Status.POSTED)

    samples = scrape(client)
    assert value(samples, "mlc_deliveries", status="pending") == 2
    assert value(samples, "mlc_deliveries", status="held") == 1
    assert value(samples, "mlc_deliveries", status="retrying") == 0
    assert value(samples, "mlc_deliveries_held", reason="channel_not_found") == 1
    assert value(samples, "mlc_inbound_events_waiting", status="received") == 4
