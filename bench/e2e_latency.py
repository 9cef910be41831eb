"""End-to-end latency benchmark: a FreshBooks change to its Slack post, through real processes (FreshBooks
stand-in -> signed webhook -> gunicorn -> Celery worker -> Slack stand-in) on idle channels. Prints ONE
JSON line.

    .venv/bin/python bench/e2e_latency.py [--invoices 100] [--channels 10] [--rate 2]

`invoices` invoices are created in the FreshBooks stand-in at `rate` per second, taking turns over
`channels` clients, each routed by a rule (client name contains ...) to a channel of its own; at the
default rate each channel gets one message every 5 s, so pacing never delays one. Two latencies per
message, both ending at the stand-in's message ts: from the FreshBooks control call (includes the
stand-in's webhook queue), and from the webhook's arrival (InboundEvent.received_at). Also: peak RSS of
the web and worker process groups, and the worker processes' CPU per invoice (idle time included).
"""

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    RssSampler,
    delivery_id_of,
    django_setup,
    emit,
    log,
    machine,
    messages,
    start_stack,
    summary,
    tenants_connected,
)

SETTLE_TIMEOUT = 120  # seconds after the last invoice for every message to be posted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2.0, help="invoices created per second")
    args = parser.parse_args()

    log("starting the stack")
    stack = start_stack("e2e")
    try:
        django_setup(stack)
        from audit.models import Delivery

        names = [f"e2e-{i:02d}" for i in range(1, args.channels + 1)]
        channel_ids, (tenant,) = tenants_connected(stack, names)
        client_ids = []
        for name in names:
            tenant.rule(f"Invoices of {name}", channel_ids[name], counterparty_contains=f"client {name}")
            created = stack.freshbooks("POST", "/_control/clients",
                                       json={"account_id": tenant.account_id, "organization": f"Client {name}"})
            client_ids.append(created["client"]["id"])
        called: dict[str, float] = {}
        lock = threading.Lock()
        log(f"creating {args.invoices} invoices at {args.rate}/s over {args.channels} channels")
        with RssSampler(stack, groups=("web", *stack.worker_names)) as memory:
            cpu_before = memory.cpu_seconds()
            started = time.time()
            for i in range(args.invoices):
                delay = started + i / args.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                before = time.time()
                invoice = stack.freshbooks("POST", "/_control/invoices", json={
                    "account_id": tenant.account_id, "client_id": client_ids[i % len(client_ids)],
                    "amount": f"{100 + i}.00", "currency_code": "USD"})["invoice"]
                with lock:
                    called[str(invoice["id"])] = before
            deadline = time.time() + SETTLE_TIMEOUT
            while time.time() < deadline:
                stats = stack.slack("GET", "/_control/stats")
                if sum(stats["messages_per_channel_id"].get(c, 0) for c in channel_ids.values()) >= args.invoices:
                    break
                time.sleep(0.5)
            worker_cpu = sum(memory.cpu_seconds()[w] - cpu_before[w] for w in stack.worker_names)
        from_call, from_received = [], []
        posted = 0
        for channel_id in channel_ids.values():
            for message in messages(stack, channel_id):
                delivery = Delivery.objects.select_related("inbound_event").get(pk=delivery_id_of(message))
                ts = float(message["ts"])
                posted += 1
                if delivery.object_id in called:
                    from_call.append(ts - called[delivery.object_id])
                from_received.append(ts - delivery.inbound_event.received_at.timestamp())
        emit({
            "benchmark": "e2e_latency", "machine": machine(),
            "stack": {"web_workers": stack.config.web_workers, "worker_concurrency": stack.config.worker_concurrency},
            "invoices": args.invoices, "channels": args.channels, "rate_per_s": args.rate, "posted": posted,
            "latency_from_freshbooks_change_s": summary(from_call),
            "latency_from_webhook_received_s": summary(from_received),
            # The worker processes' CPU over the run (idle time included), per invoice posted.
            "worker_cpu_ms_per_invoice": round(worker_cpu * 1000 / posted, 1) if posted else None,
            "memory": memory.report(),
        })
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
