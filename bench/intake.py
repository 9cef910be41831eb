"""Benchmark of the FreshBooks webhook intake: gunicorn on PostgreSQL (database mlc_bench, migrated) and
Redis, one tenant with a verified callback; signed webhooks (each a new invoice.create) at a fixed rate
(open loop) from this client process, taking turns second by second with the same load against a bare
Django view on the same stack. Prints ONE JSON line (with the peak RSS of the gunicorn processes).

    .venv/bin/python bench/intake.py [--rate 100] [--seconds 20] [--workers 4]

Needs PostgreSQL at 127.0.0.1:5432 (user postgres) and Redis; not Celery (the enqueue only writes to Redis).
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import RssSampler, machine  # noqa: E402

DATABASE = "mlc_bench"
PG_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")  # this worktree's Redis db
ENCRYPTION_KEY = "wQ0sFz4n1ZrKx2mB6cVd8eTg0hYj3kLp5oNq7rSt9uU="  # bench only
VERIFIER = "scADVVi5QuKuj5qTjVkbJNYQe7V7USpGd"
ACCOUNT_ID = "6BApk"
WARMUP_REQUESTS = 100  # per endpoint, before measuring: workers import, connect to PostgreSQL and Redis
CLIENT_THREADS = 64  # enough that a slow answer never delays the next scheduled send
REQUEST_TIMEOUT = 10  # seconds; a request slower than this counts as an error


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(port: int) -> dict:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-not-for-production", "ENCRYPTION_KEYS": ENCRYPTION_KEY,
            "ACTIVITY_CHAIN_KEY": "bench-activity-chain-key-not-for-production",
            "DATABASE_URL": f"{PG_URL}/{DATABASE}", "REDIS_URL": REDIS_URL, "CELERY_BROKER_URL": REDIS_URL,
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}


def _create_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def _setup(env: dict) -> str:
    """Migrates, then makes a tenant with a connection and a verified callback; returns its webhook path."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from django.utils import timezone

    from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection
    from tenants.models import Tenant

    tenant = Tenant(name="Bench Co", slug="bench-co")
    token = tenant.set_webhook_token()
    tenant.save()
    connection = FreshBooksConnection.objects.create(
        tenant=tenant, account_id=ACCOUNT_ID, business_id="6543", access_token="a", refresh_token="r",
        expires_at=timezone.now() + timezone.timedelta(hours=12))
    FreshBooksCallback.objects.create(tenant=tenant, connection=connection, callback_id="1", event="invoice.create",
                                      uri=tenant.webhook_url, verifier=VERIFIER, state="verified")
    return f"/webhooks/freshbooks/{token}/"


def _start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "connector.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--timeout", "30", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"gunicorn did not start: {process.stderr.read().decode()[-2000:]}")


def _post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    except OSError:
        return 0, (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def _requests(path: str, count: int, first_id: int, signed: bool) -> list[tuple[str, bytes, dict]]:
    from connector.freshbooks.signature import form_fields, signature_compute

    made = []
    for i in range(first_id, first_id + count):
        body = (f"name=invoice.create&object_id={i}&account_id={ACCOUNT_ID}&business_id=6543"
                f"&identity_id=1234&user_id=1").encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-FreshBooks-Hmac-SHA256"] = signature_compute(form_fields(body), VERIFIER)
        made.append((path, body, headers))
    return made


def _summary(results: list[tuple[int, float]], elapsed: float) -> dict:
    latencies = sorted(ms for _, ms in results)
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 2)

    return {"requests": len(results), "rps": round(len(results) / elapsed, 1), "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": round(latencies[-1], 2),
            "mean_ms": round(statistics.fmean(latencies), 2),
            "errors": sum(1 for status, _ in results if status != 200), "status": statuses}


def _fire(port: int, streams: dict[str, list], rate: float) -> dict:
    """Open loop at `rate` requests/s: request i is sent at start + i/rate, whatever happened to earlier
    ones. The streams take turns in one-second slices, so each sees the same background load."""
    names = list(streams)
    per_slice = max(1, int(rate))
    schedule, cursors = [], dict.fromkeys(names, 0)
    while any(cursors[n] < len(streams[n]) for n in names):
        for name in names:
            chunk = streams[name][cursors[name]:cursors[name] + per_slice]
            cursors[name] += len(chunk)
            schedule.extend((name, item) for item in chunk)
    results: dict[str, list] = {n: [] for n in names}
    lock = threading.Lock()
    late = 0

    def one(name, item):
        outcome = _post(port, *item)
        with lock:
            results[name].append(outcome)

    with concurrent.futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
        start = time.perf_counter()
        for i, (name, item) in enumerate(schedule):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.01:
                late += 1
            pool.submit(one, name, item)
        pool.shutdown(wait=True)
        elapsed = time.perf_counter() - start
    share = {n: elapsed * len(streams[n]) / len(schedule) for n in names}
    return {"late_sends": late, **{n: _summary(results[n], share[n]) for n in names}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each measured run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    args = parser.parse_args()

    port = _free_port()
    env = _environment(port)
    _create_database()
    webhook_path = _setup(env)
    import redis

    queue = redis.Redis.from_url(REDIS_URL)
    queue.delete("celery")
    server = _start_gunicorn(env, port, args.workers)
    try:
        count = int(args.rate * args.seconds)
        with RssSampler(None, groups=("web",), processes={"web": server}) as memory:
            _fire(port, {"webhook": _requests(webhook_path, WARMUP_REQUESTS, 1, True),
                         "bare": _requests("/bench/bare/", WARMUP_REQUESTS, 1, False)}, args.rate)
            measured = _fire(port, {"webhook": _requests(webhook_path, count, 1_000_000, True),
                                    "bare": _requests("/bench/bare/", count, 1_000_000, False)}, args.rate)
        webhook, bare = measured["webhook"], measured["bare"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    from audit.models import InboundEvent

    persisted = InboundEvent.objects.count() - WARMUP_REQUESTS
    enqueued = queue.llen("celery")
    queue.delete("celery")  # nobody consumes these here: leave Redis clean
    print(json.dumps({
        "benchmark": "freshbooks_webhook_intake", "stack": f"gunicorn {args.workers} sync workers, PostgreSQL, Redis",
        "cpus": os.cpu_count(), "target_rps": args.rate, "seconds": args.seconds,
        "webhook": webhook, "bare_django_view": bare,
        "client_late_sends": measured["late_sends"], "ratio_p50": round(webhook["p50_ms"] / bare["p50_ms"], 2), "ratio_p99": round(webhook["p99_ms"] / bare["p99_ms"], 2),
        "load_average_1m": round(os.getloadavg()[0], 2), "inbound_events_persisted": persisted, "tasks_enqueued": enqueued - WARMUP_REQUESTS,
        "goal_p99_under_50ms": webhook["p99_ms"] < 50, "memory": memory.report(), "machine": machine(),
    }))


if __name__ == "__main__":
    main()
