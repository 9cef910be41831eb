"""Fault soak: every FreshBooks change posted to Slack exactly once while Slack fails, the worker is killed
and Redis loses everything. Real processes (sandbox/stack.py): both stand-ins, gunicorn, Celery worker and
beat, PostgreSQL, a Redis of its own. Prints ONE JSON line.

    .venv/bin/python bench/soak.py [--events 2000] [--tenants 3] [--channels 30] [--rate 8]

- `tenants` tenants, each with a FreshBooks business of its own in the stand-in and the Slack stand-in's
  workspace; `channels` channels split between them, one rule per channel (client name contains ...).
- `events` invoices are created in the FreshBooks stand-in at `rate` per second, taking turns over tenants
  and clients; each fires a signed `invoice.create` webhook that must become exactly one Slack message.
- Meanwhile the Slack stand-in fails 20% of posts (500, 503, or a timeout after accepting the message:
  `failure_kinds` "500,503,timeout") and answers 429 to 5% more (seeded: the same run for the same seed).
- A worker (main process and pool) is SIGKILLed at 20%, 60% and 85% of the events and restarted at once
  (with `--workers 2`, each in turn). Redis is killed and restarted empty `--redis-restarts` times (5 by
  default, spread over the load): queue, pacing and drain state lost each time. Every worker must reconnect
  by itself within REDIS_RECONNECT_WAIT seconds, the same process (PID) as before; one that exited
  instead is counted in `worker_exits` (the goal is 0) and only then started again, as a process
  supervisor would, so that the run can still be counted. Beat is left alone (whether its sweep still
  runs after the last restart is reported).
- Then everything settles: the sweep is run every SETTLE_SWEEP_EVERY seconds (as `manage.py sweep` does)
  until no inbound event or delivery is waiting, at most SETTLE_TIMEOUT seconds.

Counted at the end: `delivered` (invoices whose message is in Slack), `lost` (invoices never posted),
`duplicated` (extra messages for one invoice, by the metadata delivery id and by invoice; plus the
stand-in's own duplicate count), `misrouted` (a message in a channel its rule does not name).

Only timing is shortened: transient Slack failures are retried after 2, 5, 10, 20, then every 30 s
(PIPELINE_SLACK_RETRY_SCHEDULE) instead of 5 s, 30 s, 2 min, 10 min ... up to 4 h, so that a message
failing four times in a row settles in minutes. Claim lease (120 s), sweep grace (60 s), the beat sweep
(60 s) and Slack's client timeout (10 s) are the product's. The worker runs as the Procfile runs it
(pool and concurrency: `--pool`, `--concurrency`); `--workers 2` runs two worker processes, as if on two
machines.
"""

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DEFAULT_CONCURRENCY,
    DEFAULT_POOL,
    DEFAULT_PROCESSES,
    RssSampler,
    delivery_id_of,
    django_setup,
    emit,
    log,
    machine,
    messages,
    start_stack,
    tenants_connected,
)

RETRY_SCHEDULE = "2,5,10,20,30"  # seconds; see the module docstring
FAULTS = {"failure_rate": 0.2, "ratelimit_rate": 0.05, "failure_kinds": "500,503,timeout", "seed": "soak"}
KILL_AT = (0.20, 0.60, 0.85)  # fractions of the events created when a worker is SIGKILLed
REDIS_SPAN = (0.10, 0.95)  # Redis restarts are spread evenly over this part of the load
REDIS_RECONNECT_WAIT = 30  # seconds for the worker to reconnect to the new Redis by itself
SETTLE_TIMEOUT = 600  # seconds after the last event for everything to be posted
SETTLE_SWEEP_EVERY = 10  # seconds


def _worker_reconnected(stack, name: str, log_offset: int) -> bool:
    return "Connected to " in stack.log_text(name)[log_offset:]  # Celery: "Connected to <broker URL>"


def redis_restart_points(events: int, restarts: int) -> set[int]:
    if restarts <= 0:
        return set()
    low, high = REDIS_SPAN
    step = (high - low) / max(1, restarts - 1)
    return {int((low + n * step) * events) for n in range(restarts)}


def restart_redis(stack, at_event: int) -> dict:
    """Kill Redis, start it empty, and see that every worker reconnects by itself, the same process."""
    names = stack.worker_names
    offsets = {name: len(stack.log_text(name)) for name in names}
    pids = {name: stack.processes[name].pid for name in names}
    stack.restart_redis()
    restarted = time.time()
    deadline = restarted + REDIS_RECONNECT_WAIT
    while time.time() < deadline and not all(_worker_reconnected(stack, n, offsets[n]) for n in names):
        time.sleep(0.5)
    record = {"at_event": at_event, "what": "redis killed, restarted empty",
              "reconnect_s": round(time.time() - restarted, 1), "workers": {}}
    for name in names:
        exited = stack.worker_exited(name)
        reconnected = _worker_reconnected(stack, name, offsets[name]) and not exited
        if not reconnected:
            stack.restart_worker(name)  # as a process supervisor would; counted as a failure
        record["workers"][name] = {"reconnected_by_itself": reconnected, "exited": exited,
                                   "same_pid": not exited and stack.processes[name].pid == pids[name],
                                   "restarted_by_supervisor": not reconnected}
    return record


def _waiting_counts() -> dict:
    from audit.models import Delivery, InboundEvent

    return {
        "inbound_waiting": InboundEvent.objects.filter(
            status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING]).count(),
        "deliveries_waiting": Delivery.objects.filter(
            status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]).count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--channels", type=int, default=30)
    parser.add_argument("--rate", type=float, default=8.0, help="invoices created per second")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help="Celery worker concurrency (threads or processes)")
    parser.add_argument("--pool", default=DEFAULT_POOL, help="Celery worker pool")
    parser.add_argument("--workers", type=int, default=DEFAULT_PROCESSES,
                        help="Celery worker processes (default: as the Procfile's worker, one per core)")
    parser.add_argument("--redis-restarts", type=int, default=5)
    args = parser.parse_args()
    run_started = time.time()

    log("starting the stack")
    stack = start_stack("soak", worker_concurrency=args.concurrency, worker_pool=args.pool, workers=args.workers,
                        extra_env={"PIPELINE_SLACK_RETRY_SCHEDULE": RETRY_SCHEDULE})
    events_log: list[dict] = []
    try:
        django_setup(stack)
        from audit.models import Delivery, DeliveryAttempt, InboundEvent
        from connector.pipeline.sweep import sweep_run
        from tenants.models import Tenant

        names = [f"soak-{i:02d}" for i in range(1, args.channels + 1)]
        log(f"setting up {args.tenants} tenants")
        channel_ids, tenants = tenants_connected(stack, names, count=args.tenants)
        # Channels are dealt to tenants in turn; each channel has one rule and one client.
        routes = []  # (tenant index, account id, client id, channel id)
        for i, name in enumerate(names):
            t = i % args.tenants
            tenants[t].rule(f"Invoices of {name}", channel_ids[name], counterparty_contains=f"client {name}")
            client = stack.freshbooks("POST", "/_control/clients", json={
                "account_id": tenants[t].account_id, "organization": f"Client {name}"})["client"]
            routes.append((t, tenants[t].account_id, str(client["id"]), channel_ids[name]))
        stack.slack("POST", "/_control/faults", json=FAULTS)
        before = stack.slack("GET", "/_control/stats")

        kills = {int(f * args.events): n for n, f in enumerate(KILL_AT)}
        redis_at = redis_restart_points(args.events, args.redis_restarts)
        disruptions = []
        beat_offset = 0
        log(f"soak: {args.events} invoices at {args.rate}/s; faults {FAULTS}")
        with RssSampler(stack) as memory:
            started = time.time()
            next_at = started
            for i in range(args.events):
                if i in kills:
                    name = stack.worker_names[kills[i] % len(stack.worker_names)]
                    stack.kill_worker(name)
                    killed_at = time.time()
                    stack.start_worker(name)
                    stack.wait_worker_ready(name)
                    disruptions.append({"at_event": i, "what": f"{name} SIGKILL + restart",
                                        "down_s": round(time.time() - killed_at, 1)})
                    log(f"{name} killed and restarted at event {i}")
                if i in redis_at:
                    beat_offset = len(stack.log_text("beat"))
                    record = restart_redis(stack, i)
                    disruptions.append(record)
                    log(f"redis restarted at event {i}: {record['workers']}")
                    next_at = time.time()
                delay = next_at - time.time()
                if delay > 0:
                    time.sleep(delay)
                next_at += 1 / args.rate
                t, account_id, client_id, channel_id = routes[i % len(routes)]
                invoice = stack.freshbooks("POST", "/_control/invoices", json={
                    "account_id": account_id, "client_id": client_id, "amount": f"{100 + i % 900}.00",
                    "currency_code": "USD"})["invoice"]
                events_log.append({"tenant": t, "object_id": str(invoice["id"]), "channel": channel_id})
            load_s = time.time() - started
            log(f"all {args.events} invoices created in {load_s:.0f}s; settling")

            tenant_pk = {t: Tenant.objects.get(slug=tenants[t].slug).pk for t in range(args.tenants)}
            expected = {(tenant_pk[e["tenant"]], e["object_id"]): e["channel"] for e in events_log}
            settle_started = time.time()
            sweeps = 0
            settled = False
            while time.time() - settle_started < SETTLE_TIMEOUT:
                waiting = _waiting_counts()
                posted = Delivery.objects.filter(status=Delivery.Status.POSTED).count()
                stats = stack.slack("GET", "/_control/stats")
                if not waiting["inbound_waiting"] and not waiting["deliveries_waiting"] and posted >= len(expected):
                    settled = True
                    break
                log(f"settling: {waiting}, posted {posted}/{len(expected)}, messages {stats['messages_total']}")
                sweep_run()
                sweeps += 1
                time.sleep(SETTLE_SWEEP_EVERY)
            settle_s = time.time() - settle_started
        time.sleep(2)  # let a post in flight land before counting

        # --- counting ---------------------------------------------------------------------------------
        after = stack.slack("GET", "/_control/stats")
        delivery_of = {d.pk: d for d in Delivery.objects.only("pk", "tenant_id", "object_id", "channel_id")}
        per_delivery, per_invoice = Counter(), Counter()
        misrouted = unknown = 0
        for channel_id in channel_ids.values():
            for message in messages(stack, channel_id):
                delivery = delivery_of.get(delivery_id_of(message))
                if delivery is None:
                    unknown += 1
                    continue
                per_delivery[delivery.pk] += 1
                key = (delivery.tenant_id, delivery.object_id)
                per_invoice[key] += 1
                if expected.get(key) != channel_id:
                    misrouted += 1
        delivered = sum(1 for key in expected if per_invoice[key] >= 1)
        inbound = Counter(InboundEvent.objects.filter(name="invoice.create").values_list("status", flat=True))
        statuses = Counter(Delivery.objects.values_list("status", flat=True))
        outcomes = Counter(DeliveryAttempt.objects.values_list("outcome", flat=True))
        webhook_status = Counter()
        for hook in stack.freshbooks("GET", "/_control/webhooks", params={"name": "invoice.create"})["webhooks"]:
            last = (hook.get("attempts") or [{}])[-1]
            webhook_status[str(last.get("status"))] += 1
        beat_sweeps_after_redis = stack.log_text("beat")[beat_offset:].count("Sending due task sweep")
        lost_examples = [f"{k[0]}:{k[1]}" for k in expected if per_invoice[k] == 0][:10]
        deliveries_per_invoice = Counter(Counter((d.tenant_id, d.object_id) for d in delivery_of.values()).values())
        redis_records = [d for d in disruptions if d["what"].startswith("redis")]
        worker_exits = sum(w["exited"] for d in redis_records for w in d["workers"].values())
        not_reconnected = sum(not w["reconnected_by_itself"] for d in redis_records for w in d["workers"].values())
        emit({
            "benchmark": "soak", "machine": machine(),
            "stack": {"web_workers": stack.config.web_workers, "worker_concurrency": stack.config.worker_concurrency,
                      "worker_pool": stack.config.worker_pool, "workers": stack.config.workers},
            "redis_restarts": len(redis_records), "worker_exits": worker_exits,
            "workers_not_reconnected": not_reconnected,
            "events": args.events, "tenants": args.tenants, "channels": args.channels, "rate_per_s": args.rate,
            "faults": FAULTS, "retry_schedule_s": RETRY_SCHEDULE, "disruptions": disruptions,
            "load_s": round(load_s, 1), "settle_s": round(settle_s, 1), "settled": settled, "settle_sweeps": sweeps,
            "total_s": round(time.time() - run_started, 1),
            "expected": len(expected), "delivered": delivered, "lost": len(expected) - delivered,
            "duplicated": sum(n - 1 for n in per_invoice.values() if n > 1),
            "duplicated_by_delivery_id": sum(n - 1 for n in per_delivery.values() if n > 1),
            "standin_duplicates": after["duplicates"] - before["duplicates"],
            "misrouted": misrouted, "messages_without_known_delivery": unknown,
            "lost_examples": lost_examples,
            "deliveries_per_invoice": dict(deliveries_per_invoice),
            "inbound_invoice_create": dict(inbound), "delivery_status": dict(statuses),
            "attempt_outcomes": dict(outcomes), "webhook_last_status": dict(webhook_status),
            "slack_standin": {k: after.get(k, 0) - before.get(k, 0) if isinstance(after.get(k), int) else after.get(k)
                              for k in ("posts_accepted", "ratelimited", "random_ratelimited", "timeouts", "failures")},
            "beat_sweeps_sent_after_redis_restart": beat_sweeps_after_redis,
            "memory": memory.report(),
            "goals": {"zero_lost": delivered == len(expected), "zero_worker_exits": worker_exits == 0,
                      "all_reconnected_by_themselves": not_reconnected == 0,
                      "zero_duplicated": not any(n > 1 for n in per_invoice.values())
                      and after["duplicates"] == before["duplicates"]},
        })
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
