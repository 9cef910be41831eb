"""One event's whole journey through real processes: FreshBooks stand-in -> signed webhook -> gunicorn ->
Celery worker -> Slack stand-in, with the rules choosing the channels."""

from tests.e2e.conftest import channel_id, messages, wait_for


def test_an_invoice_reaches_the_channels_its_rules_name(stack, connected):
    accounting = channel_id(stack, "accounting")
    exec_alerts = channel_id(stack, "exec-alerts")
    for body in (
        {"name": "All invoices", "events": ["invoice.create"], "channel_id": accounting},
        {"name": "Big invoices", "events": ["invoice.create"], "min_amount": "5000.00", "currency": "USD",
         "channel_id": exec_alerts},
    ):
        response = connected.post("/api/v1/rules/", json=body)
        assert response.status_code == 201, response.text

    big = stack.freshbooks("POST", "/_control/invoices", json={"amount": "6000.00", "currency_code": "USD",
                                                                "organization": "Acme Plumbing"})
    small = stack.freshbooks("POST", "/_control/invoices", json={"amount": "4000.00", "currency_code": "USD",
                                                                  "organization": "Tiny Tools"})
    wait_for(lambda: len(messages(stack, accounting, connected.since_ts)) >= 2, timeout=60, message="two posts in #accounting")
    wait_for(lambda: len(messages(stack, exec_alerts, connected.since_ts)) >= 1, timeout=30, message="one post in #exec-alerts")
    texts = [m["text"] for m in messages(stack, accounting, connected.since_ts)]
    assert any("Acme Plumbing" in t for t in texts) and any("Tiny Tools" in t for t in texts)
    assert ["Acme Plumbing" in m["text"] for m in messages(stack, exec_alerts, connected.since_ts)] == [True]
    deliveries = connected.deliveries(status="posted")
    assert len(deliveries) == 3 and all(d["slack_ts"] for d in deliveries)
    assert big and small
