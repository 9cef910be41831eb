"""Many-channels benchmark: a burst of new invoices fanned out over 100 Slack channels, through real processes
(FreshBooks stand-in -> signed webhooks -> gunicorn -> Celery worker -> Slack stand-in), with a Slack that
takes 200 ms to answer each post. Prints ONE JSON line.

    .venv/bin/python bench/many_channels.py [--channels 100] [--invoices 3] [--answer-ms 200]
                                            [--workers 1] [--webs 1] [--no-old]

- One tenant, `channels` channels, one rule per channel (client name contains ...) and one client each.
- The FreshBooks stand-in holds its webhooks while `channels` x `invoices` invoices are made (taking turns
  over the channels, so each channel's invoices are made in order), then releases them all at once,
  sending them with 16 threads: every one a signed `invoice.create` webhook.
- The Slack stand-in answers every accepted post after `answer-ms` (`post_answer_seconds`) and answers 429
  to a second post in a channel within 1 s.

Reported for each run: posted (must equal the invoices), duplicates (by delivery id and by invoice), 429s,
the smallest gap between two posts in one channel (>= 1 s), whether every channel got its invoices in the
order they were made (`in_order`) and in the order their webhooks arrived (`in_order_told`: the senders may
overtake each other in a small burst), throughput in posts/s from the release of the first webhook to the last post (the
stand-in's message ts), and the peak RSS of the worker and web process groups.

Two runs, one after the other in the same invocation: the worker as the Procfile runs it (`new`), then
as it ran before this change, a prefork pool of 4 processes behind gunicorn's sync workers (`old`;
skipped with --no-old). `--workers 2
--webs 2` runs two worker processes and two gunicorn masters (on one port) against one PostgreSQL and one
Redis, as if on two machines.
"""

import argparse
import os
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
    cpu_seconds_of,
    delivery_id_of,
    django_setup,
    emit,
    event_stages,
    log,
    machine,
    messages,
    proc_stat,
    start_stack,
    tenants_connected,
)

OLD_WORKER = ("prefork", 4)  # the Procfile's worker line before this change ...
OLD_WEB_THREADS = 1  # ... and its web line (gunicorn's sync workers)
WEBHOOK_SENDERS = 16  # FreshBooks stand-in threads sending the webhooks once released
RUN_TIMEOUT = 300  # seconds for every post to arrive
GOAL_POSTS_PER_S = 60


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores; /proc/stat, in clock ticks)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of the PostgreSQL server's processes alive now (a backend that ended meanwhile is not
    counted: a lower bound, exact when the connections are pooled)."""
    stats = filter(None, map(proc_stat, filter(str.isdigit, os.listdir("/proc"))))
    return sum(cpu_seconds_of(fields) for name, fields in stats if name == "postgres")


def run(name: str, args, pool: str, concurrency: int, workers: int, web_threads: int | None = None) -> dict:
    log(f"{name}: starting the stack (worker --pool {pool} --concurrency {concurrency} x {workers})")
    web = {"web_threads": web_threads} if web_threads else {}
    stack = start_stack("many", worker_pool=pool, worker_concurrency=concurrency, workers=workers,
                        webs=args.webs, freshbooks_args=["--delivery-workers", str(WEBHOOK_SENDERS)], **web)
    try:
        django_setup(stack)
        from audit.models import Delivery, InboundEvent

        names = [f"mc-{i:03d}" for i in range(1, args.channels + 1)]
        channel_ids, (tenant,) = tenants_connected(stack, names)
        clients = {}
        for name_ in names:
            tenant.rule(f"Invoices of {name_}", channel_ids[name_], counterparty_contains=f"client {name_}")
            clients[name_] = str(stack.freshbooks("POST", "/_control/clients", json={
                "account_id": tenant.account_id, "organization": f"Client {name_}"})["client"]["id"])
        stack.slack("POST", "/_control/settings", json={"post_answer_seconds": args.answer_ms / 1000})
        stack.freshbooks("POST", "/_control/delivery", json={"paused": True})
        made: dict[str, list[str]] = {channel_ids[n]: [] for n in names}  # channel -> invoice ids, in order
        for round_ in range(args.invoices):
            for name_ in names:
                invoice = stack.freshbooks("POST", "/_control/invoices", json={
                    "account_id": tenant.account_id, "client_id": clients[name_],
                    "amount": f"{100 + round_}.00", "currency_code": "USD"})["invoice"]
                made[channel_ids[name_]].append(str(invoice["id"]))
        expected = args.channels * args.invoices
        before = stack.slack("GET", "/_control/stats")
        # The stand-ins and Redis too: on one machine they take CPU from the product's processes.
        groups = (*stack.web_names, *stack.worker_names, "freshbooks", "slack", "redis")
        with RssSampler(stack, groups=groups) as memory:
            log(f"{name}: releasing {expected} webhooks")
            cpu_before, machine_before, pg_before = memory.cpu_seconds(), machine_busy_seconds(), postgres_cpu_seconds()
            released = time.time()
            stack.freshbooks("POST", "/_control/delivery", json={"paused": False, "release_order": "fifo"})
            ids = set(made)
            while time.time() - released < RUN_TIMEOUT:
                stats = stack.slack("GET", "/_control/stats")
                if sum(stats["messages_per_channel_id"].get(c, 0) for c in ids) >= expected:
                    break
                time.sleep(0.2)
            cpu = {k: round(v - cpu_before[k], 1) for k, v in memory.cpu_seconds().items()}
            # Every process's CPU (PostgreSQL's, the stand-ins', this one's): what a 2-core machine runs out of.
            cpu["postgresql"] = round(postgres_cpu_seconds() - pg_before, 1)
            cpu["machine"] = round(machine_busy_seconds() - machine_before, 1)
            cpu["machine_busy_share"] = round(cpu["machine"] / ((time.time() - released) * os.cpu_count()), 2)
            time.sleep(2)  # a duplicate would arrive now
        after = stack.slack("GET", "/_control/stats")
        object_of = dict(Delivery.objects.values_list("pk", "object_id"))
        # The order FreshBooks told us of them: the webhooks' arrival (16 senders may overtake each other).
        told = {o: n for n, o in enumerate(InboundEvent.objects.filter(name="invoice.create").order_by("id")
                                           .values_list("object_id", flat=True))}
        stamps, gaps, per_delivery, per_invoice, in_order, in_told_order = [], [], Counter(), Counter(), True, True
        for channel_id, invoices in made.items():
            posted = messages(stack, channel_id)
            ts = [float(m["ts"]) for m in posted]
            stamps += ts
            gaps += [b - a for a, b in zip(ts, ts[1:], strict=False)]
            objects = [object_of.get(delivery_id_of(m)) for m in posted]
            per_delivery.update(delivery_id_of(m) for m in posted)
            per_invoice.update(objects)
            in_order = in_order and objects == invoices
            in_told_order = in_told_order and objects == sorted(invoices, key=lambda o: told.get(o, -1))
        last = max(stamps) if stamps else time.time()
        span = last - released
        # Where the time went: webhooks arriving, then processed into deliveries, then posted.
        stages = event_stages(InboundEvent.objects.filter(name="invoice.create"), released)
        timeline = {k: round(v, 2) for k, v in stages.items()} | {"last_post": round(span, 2)}
        result = {
            "worker": {"pool": pool, "concurrency": concurrency, "processes": workers},
            "web_masters": args.webs, "web_workers_each": stack.config.web_workers,
            "web_threads_each": stack.config.web_threads,
            "expected": expected, "posted": len(stamps),
            "distinct_invoices_posted": sum(1 for o in per_invoice if o is not None),
            "duplicated": sum(n - 1 for n in per_invoice.values() if n > 1),
            "duplicated_by_delivery_id": sum(n - 1 for n in per_delivery.values() if n > 1),
            "http_429": after["ratelimited"] - before["ratelimited"],
            "min_gap_in_channel_s": round(min(gaps), 3) if gaps else None,
            "in_order": in_order, "in_order_told": in_told_order,
            "first_webhook_to_last_post_s": round(span, 2),
            "posts_per_s": round(len(stamps) / span, 1) if span > 0 else None,
            "timeline_s_after_release": timeline,
            "memory": memory.report(), "cpu_seconds": cpu,
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        }
        log(f"{name}: {result}")
        return result
    finally:
        from django.db import connections

        connections.close_all()  # the next run re-creates this database
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--invoices", type=int, default=3, help="invoices per channel")
    parser.add_argument("--answer-ms", type=int, default=200, help="Slack's answer time for each post")
    parser.add_argument("--workers", type=int, default=DEFAULT_PROCESSES,
                        help="worker processes (default: as the Procfile's worker, one per core)")
    parser.add_argument("--webs", type=int, default=1, help="gunicorn masters (as on N machines)")
    parser.add_argument("--pool", default=DEFAULT_POOL)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--no-old", action="store_true", help="skip the run with the old prefork pool")
    args = parser.parse_args()
    started_load = machine()
    new = run("new", args, args.pool, args.concurrency, args.workers)
    old = None if args.no_old else run("old", args, *OLD_WORKER, workers=1, web_threads=OLD_WEB_THREADS)

    def ok(r: dict) -> bool:
        return (r["posted"] == r["expected"] == r["distinct_invoices_posted"] and r["duplicated"] == 0
                and r["http_429"] == 0 and (r["min_gap_in_channel_s"] or 1) >= 1.0 and r["in_order"])

    emit({
        "benchmark": "many_channels", "machine": started_load, "machine_after": machine(),
        "channels": args.channels, "invoices_per_channel": args.invoices, "slack_answer_ms": args.answer_ms,
        "new": new, "old": old,
        "speedup": round(new["posts_per_s"] / old["posts_per_s"], 2) if old and old["posts_per_s"] else None,
        "goals": {"all_posted_once_in_order_no_429_paced": ok(new),
                  f"at_least_{GOAL_POSTS_PER_S}_posts_per_s": (new["posts_per_s"] or 0) >= GOAL_POSTS_PER_S,
                  "worker_at_most_600_mb": all(v["peak_total_mb"] <= 600 for k, v in new["memory"].items()
                                               if k.startswith("worker"))},
    })


if __name__ == "__main__":
    main()
