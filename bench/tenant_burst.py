"""Tenant-burst benchmark: one tenant's burst of webhooks must not hold back another tenant's news. Through
real processes (FreshBooks stand-in -> signed webhooks -> gunicorn -> Celery worker -> Slack stand-in).
Prints ONE JSON line.

    .venv/bin/python bench/tenant_burst.py [--burst 1500] [--probes 5]

- Tenant A: `burst` new invoices, all sent to one channel by its rule. `--source webhooks`: made while the
  FreshBooks stand-in holds its webhooks, then released at once (16 sending threads), as after an import.
  `--source catch-up`: made while the stand-in drops its webhooks (FreshBooks' best effort failing), then
  found by the operator's `catch_up` command, which hands them all to the pipeline at once.
- Tenant B: while A's burst is being processed, one new invoice every PROBE_SPACING seconds (`probes`), each
  timed from the web's receipt of its webhook to its post in B's channel (the Slack stand-in's ts). The
  first is made once 200 of A's webhooks have arrived. (Also printed: from the stand-in's call that made the
  invoice, which includes waiting in the FreshBooks stand-in's own queue of webhooks to send, behind A's.)

Reported: B's latencies (and how many of A's events were still unprocessed when each probe was made), and
A's processing rate (events processed per second, from the first webhook received to the last processed),
so that fairness is not bought with throughput.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DEFAULT_CONCURRENCY,
    DEFAULT_POOL,
    DEFAULT_PROCESSES,
    delivery_id_of,
    django_setup,
    emit,
    event_stages,
    log,
    machine,
    messages,
    start_stack,
    summary,
    tenants_connected,
)

WEBHOOK_SENDERS = 16
PROBE_SPACING = 2.0  # seconds between B's invoices
PROBE_TIMEOUT = 300  # seconds for every probe to be posted, after the last was made
BURST_TIMEOUT = 600  # seconds for A's burst to be processed
GOAL_S = 5.0  # B's invoice in Slack within this, whatever A's backlog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=1500, help="tenant A's invoices released at once")
    parser.add_argument("--probes", type=int, default=5, help="tenant B's invoices, one every 2 s")
    parser.add_argument("--source", choices=("webhooks", "catch-up"), default="webhooks",
                        help="how tenant A's burst arrives")
    parser.add_argument("--pool", default=DEFAULT_POOL)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--workers", type=int, default=DEFAULT_PROCESSES)
    args = parser.parse_args()

    log("starting the stack")
    stack = start_stack("burst", worker_pool=args.pool, worker_concurrency=args.concurrency, workers=args.workers,
                        freshbooks_args=["--delivery-workers", str(WEBHOOK_SENDERS)])
    try:
        django_setup(stack)
        from audit.models import Delivery, InboundEvent
        from tenants.models import Tenant

        channel_ids, (a, b) = tenants_connected(stack, ["burst-a", "probe-b"], count=2)
        a.rule("Every invoice", channel_ids["burst-a"])
        b.rule("Every invoice", channel_ids["probe-b"])
        tenant_a = Tenant.objects.get(slug=a.slug)
        catch_up = args.source == "catch-up"
        stack.freshbooks("POST", "/_control/delivery", json={"drop": True} if catch_up else {"paused": True})
        log(f"making {args.burst} invoices for tenant A")
        for i in range(args.burst):
            stack.freshbooks("POST", "/_control/invoices", json={
                "account_id": a.account_id, "amount": f"{100 + i % 900}.00", "currency_code": "USD",
                "organization": f"Burst Client {i % 50}"})
        a_events = InboundEvent.objects.filter(tenant=tenant_a, name="invoice.create")
        released = time.time()
        if catch_up:
            stack.freshbooks("POST", "/_control/delivery", json={"drop": False})
            log(f"catch-up read of tenant A: {stack.manage('catch_up', '--tenant', a.slug).stdout.strip()}")
        else:
            log(f"releasing tenant A's {args.burst} webhooks")
            stack.freshbooks("POST", "/_control/delivery", json={"paused": False, "release_order": "fifo"})
        while a_events.count() < min(args.burst, 200) and time.time() - released < 60:
            time.sleep(0.1)  # A's burst is arriving
        made, backlog_at_probe = {}, []  # B's invoice id -> when it was made; A's backlog then
        for _ in range(args.probes):
            backlog_at_probe.append(args.burst - a_events.filter(processed_at__isnull=False).count())
            called = time.time()
            invoice = stack.freshbooks("POST", "/_control/invoices", json={
                "account_id": b.account_id, "amount": "250.00", "currency_code": "USD",
                "organization": "Probe Client"})["invoice"]
            made[str(invoice["id"])] = called
            time.sleep(max(0.0, called + PROBE_SPACING - time.time()))
        posted = {}  # B's invoice id -> (its post's ts, when its webhook was received)
        deadline = time.time() + PROBE_TIMEOUT
        while len(posted) < len(made) and time.time() < deadline:
            for message in messages(stack, channel_ids["probe-b"]):
                delivery = Delivery.objects.select_related("inbound_event").filter(pk=delivery_id_of(message)).first()
                if delivery is not None and delivery.object_id in made:
                    posted[delivery.object_id] = (float(message["ts"]), delivery.inbound_event.received_at.timestamp())
            time.sleep(0.5)
        missed = len(made) - len(posted)
        in_order = [i for i in made if i in posted]  # in the order they were made
        from_call = [posted[i][0] - made[i] for i in in_order]
        from_received = [posted[i][0] - posted[i][1] for i in in_order]
        log(f"B's latencies from its webhook received {[round(v, 2) for v in from_received]} s, from the invoice "
            f"made {[round(v, 2) for v in from_call]} s; A's unprocessed events then: {backlog_at_probe}")
        deadline = time.time() + BURST_TIMEOUT
        while a_events.filter(processed_at__isnull=False).count() < args.burst and time.time() < deadline:
            time.sleep(0.5)
        stages = event_stages(a_events, released)
        processed = a_events.filter(processed_at__isnull=False).count()
        span = stages["last_processed"] - stages["first_received"] if processed else None
        worst = max(from_received, default=None)
        emit({
            "benchmark": "tenant_burst", "machine": machine(), "burst": args.burst, "source": args.source,
            "probes": args.probes,
            "worker": {"pool": args.pool, "concurrency": args.concurrency, "processes": args.workers},
            "b_latency_from_webhook_received_to_post_s": summary(from_received),
            "b_latencies_from_webhook_received_s": [round(v, 2) for v in from_received],
            "b_latencies_from_invoice_made_s": [round(v, 2) for v in from_call], "b_missed": missed,
            "a_unprocessed_when_probed": backlog_at_probe,
            "a_processed": processed, "a_events_per_s": round(processed / span, 1) if span else None,
            "a_timeline_s_after_release": {k: round(v, 2) for k, v in stages.items()},
            "goals": {"b_within_5s": missed == 0 and worst is not None and worst <= GOAL_S},
        })
    finally:
        from django.db import connections

        connections.close_all()
        stack.stop()


if __name__ == "__main__":
    main()
