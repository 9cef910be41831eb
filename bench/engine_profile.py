"""The worker's own cost per inbound event and per Slack post, independent of the machine's load: CPU time
(this thread's, also what cProfile counts) and SQL queries of each task, run in this process against the real stand-ins.

    .venv/bin/python bench/engine_profile.py [--channels 20] [--invoices 3] [--top 30] [--stats FILE]

The whole stack starts (bench/common.py), webhooks of `channels` x `invoices` new invoices are sent to the
web, but the worker is stopped first: this process then runs `process_event` for each received event, then
`drain_channel` for each channel in rounds (one post per channel per round, a round at least 1 s after the
previous one, so the channel's pace never makes a drain wait), as the worker's threads would. The Slack
stand-in answers at once. Prints ONE JSON line (CPU ms and queries per event and per post, the queries'
SQL shapes) and the top functions by cumulative time to stderr; `--stats` writes the cProfile data.
"""

import argparse
import cProfile
import io
import pstats
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup, emit, log, machine, start_stack, tenants_connected  # noqa: E402

WAIT_RECEIVED = 120  # seconds for every webhook to be persisted by the web


def shape(sql: str) -> str:
    """A query without its values: what repeats across events."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    return re.sub(r"\s+", " ", sql)[:160]


def database_cpu_ns() -> tuple[int, int] | None:
    """(pid, nanoseconds on a CPU) of this process's PostgreSQL backend (/proc/<pid>/schedstat, exact where a
    clock tick is 10 ms); None without an open connection."""
    from django.db import connection

    if connection.connection is None:
        return None
    pid = connection.connection.info.backend_pid
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return pid, int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Meter:
    """CPU time (this thread's and its PostgreSQL backend's), SQL queries and a cProfile of each call, summed
    over the calls of one kind."""

    def __init__(self, profiler: cProfile.Profile):
        self.profiler = profiler
        self.calls = 0
        self.cpu_ms: list[float] = []
        self.database_cpu_ms: list[float] = []
        self.queries: list[int] = []
        self.shapes: Counter = Counter()

    def __call__(self, fn, *args):
        """Every other call runs under the profiler (whose CPU-time clock costs a system call per function
        call); the CPU time is that of the other calls, run bare."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        profiled = self.calls % 2 == 1
        self.calls += 1
        with CaptureQueriesContext(connection) as captured:
            database_before = database_cpu_ns()
            started = time.thread_time()
            if profiled:
                self.profiler.enable()
            try:
                result = fn(*args)
            finally:
                if profiled:
                    self.profiler.disable()
            if not profiled:
                self.cpu_ms.append((time.thread_time() - started) * 1000)
            database_after = database_cpu_ns()
            if database_before and database_after and database_before[0] == database_after[0]:
                self.database_cpu_ms.append((database_after[1] - database_before[1]) / 1e6)
        self.queries.append(len(captured))
        self.shapes.update(shape(q["sql"]) for q in captured.captured_queries)
        return result

    def report(self) -> dict:
        n = len(self.queries)
        if not n:
            return {"n": 0}
        return {"n": n, "cpu_ms_mean": round(statistics.fmean(self.cpu_ms), 2),
                "cpu_ms_median": round(statistics.median(self.cpu_ms), 2),
                "postgresql_cpu_ms_mean": round(statistics.fmean(self.database_cpu_ms), 2)
                if self.database_cpu_ms else None,
                "queries_mean": round(statistics.fmean(self.queries), 2), "queries_max": max(self.queries),
                "query_shapes_per_call": {s: round(c / n, 2) for s, c in self.shapes.most_common(25)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--invoices", type=int, default=3, help="invoices per channel")
    parser.add_argument("--top", type=int, default=30, help="functions printed by cumulative time")
    parser.add_argument("--stats", help="write the cProfile data of the events and posts here (two files)")
    args = parser.parse_args()
    log("starting the stack")
    stack = start_stack("profile")
    try:
        django_setup(stack)
        from audit.models import Delivery, InboundEvent
        from connector.pipeline import tasks

        names = [f"pr-{i:03d}" for i in range(1, args.channels + 1)]
        channel_ids, (tenant,) = tenants_connected(stack, names)
        stack.kill_worker()  # this process does the worker's work, one task at a time
        stack.freshbooks("POST", "/_control/delivery", json={"paused": True})
        for name in names:
            tenant.rule(f"Invoices of {name}", channel_ids[name], counterparty_contains=f"client {name}")
            client_id = stack.freshbooks("POST", "/_control/clients", json={
                "account_id": tenant.account_id, "organization": f"Client {name}"})["client"]["id"]
            for round_ in range(args.invoices):
                stack.freshbooks("POST", "/_control/invoices", json={
                    "account_id": tenant.account_id, "client_id": str(client_id),
                    "amount": f"{100 + round_}.00", "currency_code": "USD"})
        expected = args.channels * args.invoices
        stack.freshbooks("POST", "/_control/delivery", json={"paused": False, "release_order": "fifo"})
        deadline = time.monotonic() + WAIT_RECEIVED
        received = InboundEvent.objects.filter(name="invoice.create")
        while received.count() < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        log(f"{received.count()} events received; processing them here")
        events, posts = cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)  # CPU, not waits
        per_event, per_post = Meter(events), Meter(posts)
        for event_id in received.order_by("id").values_list("id", flat=True):
            per_event(tasks.process_event, event_id)
        channels = list(Delivery.objects.values_list("slack_team_id", "channel_id").order_by().distinct())
        log(f"{Delivery.objects.count()} deliveries in {len(channels)} channels; posting them here")
        while Delivery.objects.exclude(status=Delivery.Status.POSTED).exists():
            started = time.monotonic()
            for team_id, channel_id in channels:
                per_post(tasks.drain_channel, team_id, channel_id, None)
            time.sleep(max(0.0, started + 1.05 - time.monotonic()))
        posted = stack.slack("GET", "/_control/stats")
        result = {"benchmark": "engine_profile", "machine": machine(), "channels": args.channels,
                  "invoices_per_channel": args.invoices, "events": per_event.report(),
                  "drains": per_post.report(), "posted": Delivery.objects.filter(status="posted").count(),
                  "slack_429": posted.get("ratelimited")}
        for label, profiler in (("events", events), ("drains", posts)):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            log(f"--- {label}: top {args.top} by cumulative time\n{out.getvalue()}")
            if args.stats:
                profiler.dump_stats(f"{args.stats}.{label}")
        emit(result)
    finally:
        from django.db import connections

        connections.close_all()
        stack.stop()


if __name__ == "__main__":
    main()
