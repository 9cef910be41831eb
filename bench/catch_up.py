"""Catch-up benchmark: one tenant with 5,000 FreshBooks objects changed inside the overlap window (2,000
invoices, 1,000 of them paid, 1,000 bills, 1,000 expenses; every webhook dropped by the stand-in), read by
`catch_up_run` in this process against the FreshBooks stand-in, over the stack's PostgreSQL and Redis.
Prints ONE JSON line.

    .venv/bin/python bench/catch_up.py [--invoices 2000] [--paid 1000] [--bills 1000] [--expenses 1000]

Reported: the first read (every object new: list, dedupe, write the inbound events, enqueue one task each)
and, once the worker has processed them, a second read (every object already seen: list and dedupe only):
seconds, objects per second, pages, split into waiting for FreshBooks (the stand-in's answers), handing
tasks to the broker, and the rest (dedupe queries, ledger writes, our CPU); this process's resident memory before and at its peak during each read
(sampled every 10 ms), next to the bytes of JSON the lists returned, which shows that the read holds one
page at a time, not the whole list. The worker's and web's peak RSS as the other benchmarks report them.
"""

import argparse
import functools
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    RssSampler,
    businesses,
    django_setup,
    emit,
    log,
    machine,
    start_stack,
    tenant_connected,
)

PROCESS_TIMEOUT = 900  # seconds for the worker to process the first read's events
SAMPLE_EVERY = 0.01  # seconds between samples of this process's VmRSS


class SelfRss:
    """Peak VmRSS of this process while the block runs."""

    def __enter__(self):
        self.before_kb = self.peak_kb = self._now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=2)

    @staticmethod
    def _now() -> int:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    def _run(self):
        while not self._stop.wait(SAMPLE_EVERY):
            self.peak_kb = max(self.peak_kb, self._now())


class CountingLists:
    """Counts the pages and JSON bytes the FreshBooks lists return (a response hook on requests)."""

    def __init__(self):
        self.pages = 0
        self.bytes = 0
        self.http_s = 0.0  # waiting for FreshBooks (the stand-in) to answer
        self.enqueue_s = 0.0  # handing the tasks to the broker

    def hook(self, response, elapsed: float):
        if "/accounting/account/" in response.url:
            self.pages += 1
            self.bytes += len(response.content)
        self.http_s += elapsed

    def timed_enqueue(self, enqueue):
        def wrapped(inbound_event_ids):
            started = time.perf_counter()
            enqueue(inbound_event_ids)
            self.enqueue_s += time.perf_counter() - started
        return wrapped


def make_objects(stack, args) -> int:
    control = f"{stack.freshbooks_url}/_control"
    session = requests.Session()
    invoices = [session.post(f"{control}/invoices", json={"amount": "120.00"}).json()["invoice"]["id"]
                for _ in range(args.invoices)]
    for invoice_id in invoices[: args.paid]:
        session.post(f"{control}/invoices/{invoice_id}/pay", json={}).raise_for_status()
    for _ in range(args.bills):
        session.post(f"{control}/bills", json={}).raise_for_status()
    for _ in range(args.expenses):
        session.post(f"{control}/expenses", json={}).raise_for_status()
    return args.invoices + args.paid + args.bills + args.expenses


def timed_read(tenant, enqueue, counter):
    from connector.pipeline.catch_up import catch_up_run

    original = requests.Session.request

    def counted(self, *a, **kw):
        started = time.perf_counter()
        response = original(self, *a, **kw)
        counter.hook(response, time.perf_counter() - started)
        return response

    requests.Session.request = counted  # requests.request opens a Session per call: this sees every list
    try:
        with SelfRss() as rss:
            started = time.perf_counter()
            result = catch_up_run(tenant=tenant, enqueue=counter.timed_enqueue(enqueue))
            seconds = time.perf_counter() - started
    finally:
        requests.Session.request = original
    return result, seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--paid", type=int, default=1000)
    parser.add_argument("--bills", type=int, default=1000)
    parser.add_argument("--expenses", type=int, default=1000)
    args = parser.parse_args()

    stack = start_stack("catch_up", extra_env={"CATCH_UP_INTERVAL_MINUTES": "0"})
    try:
        django_setup(stack)
        from audit.models import InboundEvent
        from connector.pipeline.inbox import inbox_push_many
        from tenants.models import Tenant

        business = businesses(stack, 1)[0]
        made = tenant_connected(stack, 1, business)
        tenant = Tenant.objects.get(slug=made.slug)
        stack.freshbooks("POST", "/_control/delivery", json={"drop": True})
        log("making the FreshBooks objects")
        started = time.perf_counter()
        objects = make_objects(stack, args)
        log(f"{objects} objects in {time.perf_counter() - started:.1f} s; first read")

        with RssSampler(stack) as sampler:
            first_lists = CountingLists()
            first, first_s, first_rss = timed_read(tenant, functools.partial(inbox_push_many, tenant.pk), first_lists)
            log(f"first read: {first.summary()} in {first_s:.2f} s; waiting for the worker")
            deadline = time.monotonic() + PROCESS_TIMEOUT
            pending = InboundEvent.objects.for_tenant(tenant).filter(
                status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.RETRYING])
            while pending.exists() and time.monotonic() < deadline:
                time.sleep(1)
            processing_s = time.perf_counter() - started - first_s
            second_lists = CountingLists()
            second, second_s, second_rss = timed_read(tenant, functools.partial(inbox_push_many, tenant.pk),
                                                      second_lists)
            log(f"second read: {second.summary()} in {second_s:.2f} s")

        def read(result, seconds, rss, lists):
            return {"summary": result.summary(), "seconds": round(seconds, 2),
                    "objects_per_s": round(result.read / seconds) if seconds else None, "pages": lists.pages,
                    "freshbooks_http_s": round(lists.http_s, 2), "enqueue_s": round(lists.enqueue_s, 2),
                    "dedupe_and_ledger_s": round(seconds - lists.http_s - lists.enqueue_s, 2),
                    "json_mb": round(lists.bytes / 1e6, 1), "rss_before_mb": round(rss.before_kb / 1024, 1),
                    "rss_peak_mb": round(rss.peak_kb / 1024, 1),
                    "rss_growth_mb": round((rss.peak_kb - rss.before_kb) / 1024, 1)}

        emit({"bench": "catch_up", "objects": objects, "machine": machine(),
              "first_read_all_new": read(first, first_s, first_rss, first_lists),
              "second_read_all_seen": read(second, second_s, second_rss, second_lists),
              "worker_processed_all": not pending.exists(), "worker_processing_s": round(processing_s, 1),
              "peak_rss_mb": {g: round(kb / 1024) for g, kb in sampler.peak_total_kb.items()}})
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
