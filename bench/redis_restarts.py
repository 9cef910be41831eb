"""Redis restarts with posts in flight: does the worker live through them? Real processes (sandbox/stack.py).
Prints ONE JSON line.

    .venv/bin/python bench/redis_restarts.py [--transport redis] [--pool prefork --concurrency 8] [--rounds 6]

One tenant, 6 channels with a rule each; the Slack stand-in answers every post after 0.7 s, so that late-
acknowledged tasks are in flight. Each round makes 12 invoices (signed webhooks), waits 2.5 s, stops Redis
for 0, 1 or 3 s and starts it again empty, then waits 8 s. Reported: whether the worker is still the same
live process, how often it lost and regained the broker, and whether it logged "Unrecoverable error".

`--transport redis` runs kombu's own Redis transport (how the worker ran before connector/broker.py): on
this stack the worker died with "AttributeError ... 'hostname'" within a few rounds. The default is the
project's setting, `connector.broker:Transport`.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DEFAULT_CONCURRENCY,
    DEFAULT_POOL,
    emit,
    log,
    machine,
    start_stack,
    tenants_connected,
)

DOWN_SECONDS = (0, 1, 3)  # how long Redis stays down, round after round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="connector.broker:Transport")
    parser.add_argument("--pool", default=DEFAULT_POOL)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    stack = start_stack("redis-restarts", worker_pool=args.pool, worker_concurrency=args.concurrency,
                        extra_env={"CELERY_BROKER_TRANSPORT": args.transport})
    try:
        channels, (tenant,) = tenants_connected(stack, [f"rr-{i}" for i in range(6)])
        for name, channel_id in channels.items():
            tenant.rule(f"Invoices of {name}", channel_id, counterparty_contains=f"client {name}")
        stack.slack("POST", "/_control/settings", json={"post_answer_seconds": 0.7})
        names = list(channels)
        pid = stack.processes["worker"].pid
        log_start = len(stack.log_text("worker"))
        rounds_survived = 0
        for n in range(args.rounds):
            for i in range(12):
                stack.freshbooks("POST", "/_control/invoices", json={
                    "account_id": tenant.account_id, "amount": "10.00", "organization": f"Client {names[i % 6]}"})
            time.sleep(2.5)
            stack.stop_redis()
            time.sleep(DOWN_SECONDS[n % len(DOWN_SECONDS)])
            stack.start_redis()
            time.sleep(8)
            alive = not stack.worker_exited()
            log(f"round {n}: worker alive={alive}")
            if not alive:
                break
            rounds_survived += 1
        text = stack.log_text("worker")[log_start:]
        emit({
            "benchmark": "redis_restarts", "machine": machine(), "transport": args.transport,
            "worker": {"pool": args.pool, "concurrency": args.concurrency},
            "rounds": args.rounds, "rounds_survived": rounds_survived,
            "worker_same_process_alive": not stack.worker_exited() and stack.processes["worker"].pid == pid,
            "unrecoverable_error": "Unrecoverable error" in text,
            "connection_lost": text.count("Connection to broker lost"), "reconnected": text.count("Connected to "),
            "acks_lost_with_the_connection": text.count("Couldn't ack"),
        })
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
