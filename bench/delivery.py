"""Delivery benchmark: per-channel pacing and fairness through real processes (gunicorn, Celery worker and
beat, PostgreSQL, a Redis of its own) and the Slack stand-in, which answers 429 to a second post in one
channel within one second. Prints ONE JSON line.

    .venv/bin/python bench/delivery.py [--channels 20] [--messages 30] [--backlog 1000] [--probes 5]
                                       [--pool threads --concurrency 24]  (default: the Procfile's worker)

Pacing: `channels` x `messages` deliveries, queued at once (rows written with the ORM, as process_event
writes them), then the channels are kicked by the sweep; the real worker posts them. Reported: 429s the
stand-in sent, the most posts any channel had in any 1-second window (from the stand-in's message ts),
the smallest gap between two posts in one channel, aggregate posts/s (first post to last), total time,
and whether every channel got its messages oldest first.

Fairness: `backlog` deliveries queued for one channel of tenant A and being drained; then `probes` new
invoices made in the FreshBooks stand-in for tenant A (rule: another channel) and for tenant B (its own
business and channel): latency of each from the FreshBooks control call, and from the webhook's arrival
(InboundEvent.received_at), to the post (the stand-in's message ts).

Memory: peak RSS of the web and worker process groups during both phases.
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
    SLACK_TEAM,
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

PACING_TIMEOUT = 180  # seconds for the pacing phase to post everything before giving up
PROBE_TIMEOUT = 30  # seconds for one fairness probe to be posted before it counts as missed
PROBE_SPACING = 1.5  # seconds between probes, so each finds its channel idle (pacing is not fairness)


def queue_deliveries(tenant, channels: dict[str, str], per_channel: int, prefix: str) -> int:
    """`per_channel` processed inbound events, each with one pending delivery per channel, in bulk."""
    from decimal import Decimal

    from audit.models import Delivery, InboundEvent
    from connector.core.events import Action, FinancialEvent, Kind
    from connector.slack.messages import build_message

    events = InboundEvent.objects.bulk_create([
        InboundEvent(tenant=tenant, name="invoice.create", object_id=f"{prefix}{i}", account_id="bench",
                     raw_body=f"name=invoice.create&object_id={prefix}{i}", status=InboundEvent.Status.PROCESSED)
        for i in range(per_channel)])
    rows = []
    for i, event in enumerate(events):
        fin = FinancialEvent(event_name="invoice.create", kind=Kind.INVOICE, action=Action.CREATED,
                             object_id=event.object_id, amount=Decimal("100.00") + i, currency="USD",
                             counterparty=f"Bench Client {i % 7}", document_number=f"{prefix}{i:05d}")
        text, blocks = build_message(fin, business_name=tenant.name)
        for name, channel_id in channels.items():
            rows.append(Delivery(tenant=tenant, inbound_event=event, event_name=fin.event_name,
                                 object_id=fin.object_id, kind=str(fin.kind), action=str(fin.action),
                                 amount=fin.amount, currency="USD", counterparty=fin.counterparty,
                                 document_number=fin.document_number, slack_team_id=SLACK_TEAM,
                                 channel_id=channel_id, channel_name=name, message_text=text, message_blocks=blocks))
    Delivery.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    """The most posts in any half-open window [t, t + window)."""
    best, start = 0, 0
    for end, ts in enumerate(stamps):
        while ts - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def pacing_phase(stack, tenant_a, channels: dict[str, str], per_channel: int) -> dict:
    from connector.pipeline.sweep import sweep_run

    expected = len(channels) * per_channel
    queued = queue_deliveries(tenant_a, channels, per_channel, "pace-")
    before = stack.slack("GET", "/_control/stats")
    started = time.time()
    kicked = sweep_run().channels_kicked  # what `manage.py sweep` runs; the worker does the posting
    ids = set(channels.values())
    while time.time() - started < PACING_TIMEOUT:
        stats = stack.slack("GET", "/_control/stats")
        if sum(stats["messages_per_channel_id"].get(c, 0) for c in ids) >= expected:
            break
        time.sleep(0.5)
    finished = time.time()
    after = stack.slack("GET", "/_control/stats")
    per_channel_max, min_gaps, all_ts, in_order = [], [], [], True
    for channel_id in ids:
        posted = messages(stack, channel_id)
        stamps = [float(m["ts"]) for m in posted]
        all_ts += stamps
        per_channel_max.append(max_in_window(stamps))
        min_gaps.extend(b - a for a, b in zip(stamps, stamps[1:], strict=False))
        order = [delivery_id_of(m) for m in posted]
        in_order = in_order and order == sorted(order)
    all_ts.sort()
    span = all_ts[-1] - all_ts[0] if len(all_ts) > 1 else 0
    return {
        "channels": len(channels), "messages_per_channel": per_channel, "queued": queued, "kicked": kicked,
        "posted": len(all_ts), "http_429": after["ratelimited"] - before["ratelimited"],
        "max_posts_per_channel_in_any_1s": max(per_channel_max) if per_channel_max else None,
        "min_gap_in_channel_s": round(min(min_gaps), 3) if min_gaps else None,
        "aggregate_posts_per_s": round((len(all_ts) - 1) / span, 2) if span else None,
        "first_to_last_post_s": round(span, 2),
        "total_s": round((all_ts[-1] if all_ts else finished) - started, 2),
        "ideal_s": per_channel - 1, "oldest_first": in_order,
    }


def fairness_phase(stack, tenant_a, accounts: tuple[str, str], backlog_channel: dict[str, str], fair_a: str,
                   fair_b: str, backlog: int, probes: int) -> dict:
    from audit.models import Delivery
    from connector.pipeline.sweep import sweep_run

    backlog_id = next(iter(backlog_channel.values()))
    queue_deliveries(tenant_a, backlog_channel, backlog, "backlog-")
    sweep_run()
    deadline = time.time() + 30
    while len(messages(stack, backlog_id)) < 3 and time.time() < deadline:  # the backlog is draining
        time.sleep(0.2)
    from_call: dict[str, list[float]] = {"other_channel": [], "other_tenant": []}
    from_received: dict[str, list[float]] = {"other_channel": [], "other_tenant": []}
    missed = 0
    seen = {fair_a: len(messages(stack, fair_a)), fair_b: len(messages(stack, fair_b))}
    for i in range(probes):
        waiting = {}
        for kind, account_id, channel in (("other_channel", accounts[0], fair_a),
                                          ("other_tenant", accounts[1], fair_b)):
            called = time.time()
            stack.freshbooks("POST", "/_control/invoices", json={
                "account_id": account_id, "amount": f"{250 + i}.00", "currency_code": "USD",
                "organization": f"Probe Client {kind}"})
            waiting[channel] = (kind, called)
        deadline = time.time() + PROBE_TIMEOUT
        while waiting and time.time() < deadline:
            for channel in list(waiting):
                posted = messages(stack, channel)
                if len(posted) > seen[channel]:
                    kind, called = waiting.pop(channel)
                    message = posted[seen[channel]]
                    seen[channel] = len(posted)
                    ts = float(message["ts"])
                    from_call[kind].append(ts - called)
                    delivery = Delivery.objects.select_related("inbound_event").get(pk=delivery_id_of(message))
                    from_received[kind].append(ts - delivery.inbound_event.received_at.timestamp())
            time.sleep(0.05)
        missed += len(waiting)
        time.sleep(PROBE_SPACING)
    backlog_posted = len(messages(stack, backlog_id))
    worst = max([*from_call["other_channel"], *from_call["other_tenant"]], default=None)
    return {
        "backlog": backlog, "backlog_posted_during_probes": backlog_posted, "probes": probes, "missed": missed,
        "latency_from_control_call_s": {k: summary(v) for k, v in from_call.items()},
        "latency_from_webhook_received_s": {k: summary(v) for k, v in from_received.items()},
        "worst_s": round(worst, 3) if worst is not None else None,
        "goal_within_2s": missed == 0 and worst is not None and worst <= 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--messages", type=int, default=30, help="messages per channel")
    parser.add_argument("--backlog", type=int, default=1000, help="deliveries queued for one channel")
    parser.add_argument("--probes", type=int, default=5, help="fairness probes per kind")
    parser.add_argument("--pool", default=DEFAULT_POOL, help="Celery worker pool (default: the Procfile's)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--workers", type=int, default=DEFAULT_PROCESSES,
                        help="worker processes (default: as the Procfile's worker, one per core)")
    args = parser.parse_args()

    log("starting the stack")
    stack = start_stack("delivery", worker_pool=args.pool, worker_concurrency=args.concurrency,
                        workers=args.workers)
    try:
        django_setup(stack)
        from tenants.models import Tenant

        log("setting up two tenants")
        pace_names = [f"pace-{i:02d}" for i in range(1, args.channels + 1)]
        channel_ids, (a, b) = tenants_connected(stack, [*pace_names, "backlog", "fair-a", "fair-b"], count=2)
        pace = {name: channel_ids[name] for name in pace_names}
        extra = {name: channel_ids[name] for name in ("backlog", "fair-a", "fair-b")}
        a.rule("Probe invoices", extra["fair-a"])
        b.rule("Probe invoices", extra["fair-b"])
        tenant_a = Tenant.objects.get(slug=a.slug)
        with RssSampler(stack, groups=("web", *stack.worker_names)) as memory:
            log(f"pacing: {args.channels} channels x {args.messages} messages")
            pacing = pacing_phase(stack, tenant_a, pace, args.messages)
            log(f"pacing: {pacing}")
            log(f"fairness: {args.backlog} queued in #backlog, {args.probes} probes per kind")
            fairness = fairness_phase(stack, tenant_a, (a.account_id, b.account_id), {"backlog": extra["backlog"]},
                                      extra["fair-a"], extra["fair-b"], args.backlog, args.probes)
            log(f"fairness: {fairness}")
        from connector.pipeline import policy

        emit({
            "benchmark": "delivery", "machine": machine(),
            "stack": {"web_workers": stack.config.web_workers, "worker_concurrency": stack.config.worker_concurrency,
                      "worker_pool": stack.config.worker_pool, "worker_processes": stack.config.workers},
            "policy": {"channel_interval_ms": policy.CHANNEL_INTERVAL_MS,
                       "team_max_posts_per_second": policy.TEAM_MAX_POSTS_PER_SECOND},
            "pacing": pacing, "fairness": fairness, "memory": memory.report(),
            "goals": {"zero_429": pacing["http_429"] == 0,
                      "channel_at_most_1_per_s": pacing["max_posts_per_channel_in_any_1s"] == 1,
                      "aggregate_at_least_18_per_s": (pacing["aggregate_posts_per_s"] or 0) >= 18,
                      "fairness_within_2s": fairness["goal_within_2s"]},
        })
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
