"""Benchmark of the FreshBooks webhook intake: gunicorn on PostgreSQL (database mlc_bench, migrated) and
Redis, one tenant with a verified callback, no Celery worker (only the intake runs); signed webhooks (each
a new invoice.create, as from a TLS proxy) against the project's URL and against a bare Django view on the
same gunicorn that verifies the same HMAC, inserts the same row and pushes its id to Redis (bench/urls.py).
Prints ONE JSON line (with the peak RSS of the gunicorn processes).

Open loop (default): a fixed rate from this client process, the two endpoints taking turns second by second.

    .venv/bin/python bench/intake.py [--rate 100] [--seconds 20] [--workers 4]

Closed loop (like wrk): 16 connections, each sending its next request as soon as the answer came, for 10 s
against each endpoint in turn; throughput side by side, and whether every request was answered 200 and
persisted.

    .venv/bin/python bench/intake.py --mode closed [--connections 16] [--seconds 10] [--workers 2] [--threads 4]

(--threads as the Procfile's web: 2 workers x 4 threads, gthread; --threads 1 for sync workers. Both
endpoints always run on the same gunicorn.)

Profile: the same requests through Django's WSGI handler in this process (no HTTP, no concurrency): the
milliseconds one request costs on each endpoint, and the webhook's steps under cProfile.

    .venv/bin/python bench/intake.py --mode profile [--requests 2000]

Needs PostgreSQL (BENCH_PG_URL, default 127.0.0.1:5432 user postgres) and Redis. The tenant cap is lifted for the run
(it is
not what is measured).
"""

import argparse
import concurrent.futures
import http.client
import itertools
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

import environ  # noqa: E402

from bench.common import RssSampler, database_url, machine  # noqa: E402

# A database per checkout (mlc_<checkout>_intake, as the stack benchmarks), re-created at each run, and
# this checkout's Redis db (BENCH_REDIS_URL, else the TEST_REDIS_URL of its .env, else db 11).
PG_URL, DATABASE = database_url("intake").rsplit("/", 1)
environ.Env.read_env(ROOT / ".env", overwrite=False)
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/11"
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
            "BENCH_VERIFIER": VERIFIER, "FRESHBOOKS_WEBHOOK_RATE_LIMIT": "100000000",
            "SECRET_KEY": "bench-secret-key-not-for-production", "ENCRYPTION_KEYS": ENCRYPTION_KEY,
            "ACTIVITY_CHAIN_KEY": "bench-activity-chain-key-not-for-production",
            "DATABASE_URL": f"{PG_URL}/{DATABASE}", "REDIS_URL": REDIS_URL, "CELERY_BROKER_URL": REDIS_URL,
            "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false", "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}


def _create_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _setup(env: dict) -> tuple[str, int]:
    """Migrates, then makes a tenant with a connection and a verified callback; returns its webhook path
    and its id."""
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
    return f"/webhooks/freshbooks/{token}/", tenant.pk


LOG = ROOT / "var" / "bench" / "intake-gunicorn.log"  # gunicorn's and the app's log lines (a pipe nobody
# reads would fill up and block the workers)


def _start_gunicorn(env: dict, port: int, workers: int, threads: int = 1) -> subprocess.Popen:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "ab") as log:
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "connector.wsgi", "--bind", f"127.0.0.1:{port}", "--workers",
             str(workers), "--threads", str(threads), "--timeout", "30", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"gunicorn did not start: {LOG.read_text()[-2000:]}")


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
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"}
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


def _closed_loop(port: int, path: str, first_id: int, connections: int, seconds: float) -> dict:
    """`connections` clients, each sending its next signed webhook as soon as the previous one was
    answered, for `seconds`. Object ids count up from `first_id` (each request a new invoice)."""
    ids = itertools.count(first_id)
    lock = threading.Lock()
    results: list[tuple[int, float]] = []
    deadline = time.perf_counter() + seconds

    def client():
        mine = []
        while time.perf_counter() < deadline:
            with lock:
                object_id = next(ids)
            mine.append(_post(port, *_requests(path, 1, object_id, True)[0]))
        with lock:
            results.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = _summary(results, time.perf_counter() - started)
    summary["object_ids"] = (first_id, next(ids) - 1)
    return summary


def _persisted(tenant_id: int, object_ids: tuple[int, int]) -> int:
    from audit.models import InboundEvent

    low, high = object_ids
    return sum(1 for value in InboundEvent.objects.filter(tenant_id=tenant_id).values_list("object_id", flat=True)
               if value.isdigit() and low <= int(value) <= high)


def main_closed(args) -> None:
    port = _free_port()
    env = _environment(port)
    _create_database()
    webhook_path, tenant_id = _setup(env)
    env["BENCH_TENANT_ID"] = str(tenant_id)
    import redis

    queue = redis.Redis.from_url(REDIS_URL)
    inbox_key, bare_queue = f"mlc:inbox:{tenant_id}", "bench:bare"
    queue.delete("celery", inbox_key, bare_queue, f"mlc:inbox:ring:{tenant_id}")
    server = _start_gunicorn(env, port, args.workers, args.threads)
    streams = {"webhook": (webhook_path, 1_000_000), "bare": ("/bench/bare/", 5_000_000)}
    try:
        with RssSampler(None, groups=("web",), processes={"web": server}) as memory:
            for path, first_id in streams.values():  # warm up: imports, connections, caches
                _closed_loop(port, path, first_id - 100_000, args.connections, 1.0)
            load_before = os.getloadavg()[0]
            measured = {name: _closed_loop(port, path, first_id, args.connections, args.seconds)
                        for name, (path, first_id) in streams.items()}
            load_after = os.getloadavg()[0]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for result in measured.values():
        result["persisted"] = _persisted(tenant_id, result.pop("object_ids"))
        result["all_200_and_persisted"] = result["errors"] == 0 and result["persisted"] == result["requests"]
    measured["webhook"]["enqueued"] = queue.llen(inbox_key)  # ids waiting in the tenant's inbox
    measured["bare"]["enqueued"] = queue.llen(bare_queue)
    queue.delete("celery", inbox_key, bare_queue, f"mlc:inbox:ring:{tenant_id}")  # nobody consumes these here
    webhook, bare = measured["webhook"], measured["bare"]
    print(json.dumps({
        "benchmark": "freshbooks_webhook_intake_closed_loop",
        "stack": f"gunicorn {args.workers} workers x {args.threads} threads "
                 f"({'sync' if args.threads == 1 else 'gthread'}), PostgreSQL, Redis, no Celery worker",
        "connections": args.connections, "seconds": args.seconds,
        "webhook": webhook, "bare_django_view": bare,
        "throughput_ratio": round(webhook["rps"] / bare["rps"], 2),
        "goal_ratio_0_6": webhook["rps"] >= 0.6 * bare["rps"], "goal_p99_under_50ms": webhook["p99_ms"] < 50,
        "load_average_1m": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "memory": memory.report(), "machine": machine(),
    }))


PROFILE_STEPS = {  # function name in the profile -> step of the intake
    "verifiers_cached": "tenant and verifiers (in-process cache)",
    "intake_verifiers": "tenant and verifiers (database)",
    "_signed": "HMAC check",
    "signature_find_verifier": "HMAC check",
    "_count_and_version": "rate count + verifiers version (Redis)",
    "rate_limit_exceeded": "rate count (Redis)",
    "_persist": "insert (encrypt + INSERT)",
    "inbox_push": "enqueue",
    "webhook_intake": "the view, all of it",
    "bare": "the bare view, all of it",
}


def _wsgi_environ(path: str, body: bytes, headers: dict) -> dict:
    import io

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": False,
               "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0)}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


def main_profile(args) -> None:
    """In one process, no HTTP: the CPU and round trips one request costs, per endpoint and per step."""
    import cProfile
    import pstats

    port = _free_port()
    env = _environment(port)
    _create_database()
    webhook_path, tenant_id = _setup(env)
    os.environ["BENCH_TENANT_ID"] = str(tenant_id)
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    statuses: dict[str, int] = {}

    def start_response(status, headers, *exc_info):
        statuses[status] = statuses.get(status, 0) + 1

    def run(requests_):
        for path, body, headers in requests_:
            b"".join(handler(_wsgi_environ(path, body, headers), start_response))

    streams = {"webhook": (webhook_path, 1_000_000), "bare": ("/bench/bare/", 5_000_000)}
    per_request = {}
    for name, (path, first_id) in streams.items():
        run(_requests(path, 200, first_id - 100_000, True))  # warm up
        made = _requests(path, args.requests, first_id, True)
        started = time.perf_counter()
        run(made)
        per_request[name] = round((time.perf_counter() - started) * 1000 / args.requests, 3)
    profiler = cProfile.Profile()
    made = _requests(webhook_path, args.requests, 2_000_000, True)
    profiler.enable()
    run(made)
    profiler.disable()
    steps: dict[str, float] = {}
    for (_file, _line, function), (_cc, _nc, _tt, cumulative, _callers) in pstats.Stats(profiler).stats.items():
        if function in PROFILE_STEPS:
            step = PROFILE_STEPS[function]
            steps[step] = round(max(steps.get(step, 0), cumulative * 1000 / args.requests), 3)
    print(json.dumps({"benchmark": "freshbooks_webhook_intake_profile", "requests": args.requests,
                      "ms_per_request": per_request, "statuses": statuses,
                      "webhook_steps_ms_under_cprofile": steps, "machine": machine()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["open", "closed", "profile"], default="open")
    parser.add_argument("--requests", type=int, default=2000, help="profile: requests per endpoint")
    parser.add_argument("--rate", type=float, default=100.0, help="open loop: requests per second")
    parser.add_argument("--seconds", type=float, default=None,
                        help="duration of each measured run (open 20, closed 10)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn sync workers (open 4, closed 2)")
    parser.add_argument("--connections", type=int, default=16, help="closed loop: concurrent clients")
    parser.add_argument("--threads", type=int, default=4,
                        help="closed loop: gunicorn threads per worker, as the Procfile (1: sync workers)")
    args = parser.parse_args()
    if args.mode == "profile":
        main_profile(args)
        return
    if args.mode == "closed":
        args.seconds, args.workers = args.seconds or 10.0, args.workers or 2
        main_closed(args)
        return
    args.seconds, args.workers = args.seconds or 20.0, args.workers or 4

    port = _free_port()
    env = _environment(port)
    _create_database()
    webhook_path, tenant_id = _setup(env)
    env["BENCH_TENANT_ID"] = str(tenant_id)
    import redis

    queue = redis.Redis.from_url(REDIS_URL)
    queue.delete("celery", f"mlc:inbox:{tenant_id}", "bench:bare")
    server = _start_gunicorn(env, port, args.workers)
    try:
        count = int(args.rate * args.seconds)
        with RssSampler(None, groups=("web",), processes={"web": server}) as memory:
            _fire(port, {"webhook": _requests(webhook_path, WARMUP_REQUESTS, 1, True),
                         "bare": _requests("/bench/bare/", WARMUP_REQUESTS, 5_000_001, True)}, args.rate)
            measured = _fire(port, {"webhook": _requests(webhook_path, count, 1_000_000, True),
                                    "bare": _requests("/bench/bare/", count, 6_000_000, True)}, args.rate)
        webhook, bare = measured["webhook"], measured["bare"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    persisted = {"webhook": _persisted(tenant_id, (1_000_000, 1_000_000 + count - 1)),
                 "bare": _persisted(tenant_id, (6_000_000, 6_000_000 + count - 1))}
    inbox_key = f"mlc:inbox:{tenant_id}"
    enqueued = queue.llen(inbox_key) - WARMUP_REQUESTS  # ids waiting in the tenant's inbox (no worker)
    queue.delete("celery", inbox_key, "bench:bare", f"mlc:inbox:ring:{tenant_id}")  # leave Redis clean
    print(json.dumps({
        "benchmark": "freshbooks_webhook_intake", "stack": f"gunicorn {args.workers} sync workers, PostgreSQL, Redis",
        "cpus": os.cpu_count(), "target_rps": args.rate, "seconds": args.seconds,
        "webhook": webhook, "bare_django_view": bare,
        "client_late_sends": measured["late_sends"], "ratio_p50": round(webhook["p50_ms"] / bare["p50_ms"], 2), "ratio_p99": round(webhook["p99_ms"] / bare["p99_ms"], 2),
        "load_average_1m": round(os.getloadavg()[0], 2), "inbound_events_persisted": persisted, "webhooks_enqueued": enqueued,
        "goal_p99_under_50ms": webhook["p99_ms"] < 50, "memory": memory.report(), "machine": machine(),
    }))


if __name__ == "__main__":
    main()
