"""`/freshbooks unpaid` for a tenant with 10,000 invoices in the ledger: time to answer, through the whole
request path (signature check, parse, tenant and linked member, the ledger queries, the answer's JSON).

    .venv/bin/python bench/slash_unpaid.py [--invoices 10000] [--other-tenants 4] [--runs 300]

Uses its own database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/mlc_bench_slash),
created and migrated if needed, refilled at each run: the tenant's invoices (70% with money outstanding in
three currencies, a fifth of those overdue; the rest paid or drafts) plus as many for each other tenant
(so the indexes, not the table's size, decide). Answers come from the ledger; the background refresh is
marked as just done, so no FreshBooks call is made (the refresh runs in a worker, never on this path).
Requests go through Django's test client in this process (no network). Prints ONE JSON line: p50/p95/max
in ms for unpaid, overdue and invoice <number>, and the machine.
"""

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mlc_bench_slash")
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "bench-secret-key")
os.environ.setdefault("ENCRYPTION_KEYS", "Udo6FXIdww1OjgGLuj0kDRkghFclvysBDlhHaatEtN0=")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["SLACK_SIGNING_SECRET"] = "bench-signing-secret"
os.environ["ALLOWED_HOSTS"] = "testserver"

TEAM = "T0BENCH"
SLACK_USER = "U0BENCH"
CURRENCIES = ("USD", "EUR", "CAD")


def ensure_database() -> None:
    import psycopg

    admin_url, _, name = BENCH_URL.rpartition("/")
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    import django
    from django.conf import settings

    ensure_database()
    django.setup()
    # A cache of this process only: the bench never touches a shared Redis.
    settings.CACHES["default"] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def fill(invoices: int, other_tenants: int, rng: random.Random):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from audit.models import InvoiceState
    from connector.core.crypto import blind_index
    from connector.slack.models import SlackInstallation
    from tenants.models import Membership, Role, SlackUserLink, Tenant

    with connection.cursor() as cur:
        cur.execute("TRUNCATE audit_invoicestate, tenants_slackuserlink, slack_slackinstallation, "
                    "tenants_membership, tenants_tenant RESTART IDENTITY CASCADE")
    get_user_model().objects.filter(email="bench@example.com").delete()
    today = timezone.localdate()
    now = timezone.now()
    tenants = []
    for n in range(1 + other_tenants):
        tenant = Tenant(name=f"Bench {n}", slug=f"bench-slash-{n}")
        tenant.set_webhook_token()
        tenant.save()
        tenants.append(tenant)
        rows = []
        for i in range(invoices):
            owed = rng.random() < 0.7
            amount = Decimal(int(rng.lognormvariate(6.5, 1.3) * 100)) / 100 + 1
            due = today + timedelta(days=rng.randint(-90, 60) if owed and rng.random() < 0.2 else rng.randint(1, 60))
            number = f"{n:02d}-{i:06d}"
            rows.append(InvoiceState(
                tenant=tenant, invoice_id=str(100000 + i), number=number, number_index=blind_index(number),
                client_name=f"Client {rng.randrange(2000)} Ltd", amount=amount,
                outstanding=amount if owed else Decimal(0), currency=rng.choice(CURRENCIES),
                status=rng.choice(["sent", "viewed", "partial"]) if owed else rng.choice(["paid", "draft"]),
                due_date=due, fetched_at=now))
        InvoiceState.objects.bulk_create(rows, batch_size=2000)
    user = get_user_model().objects.create_user(username="bench@example.com", email="bench@example.com")
    Membership.objects.create(tenant=tenants[0], user=user, role=Role.VIEWER)
    SlackInstallation.objects.create(tenant=tenants[0], team_id=TEAM, bot_token="xoxb-bench", installed_at=now)
    SlackUserLink.objects.create(tenant=tenants[0], user=user, team_id=TEAM, slack_user_id=SLACK_USER,
                                 linked_by="operator")
    with connection.cursor() as cur:
        cur.execute("ANALYZE audit_invoicestate")
    return tenants[0]


def timed(client, text: str, runs: int) -> list[float]:
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"])
    durations = []
    for _ in range(runs):
        body = urlencode({"command": "/freshbooks", "text": text, "team_id": TEAM, "user_id": SLACK_USER,
                          "channel_id": "C0BENCH", "response_url": "https://hooks.slack.com/commands/bench"}).encode()
        stamp = str(int(time.time()))
        headers = {"HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp,
                   "HTTP_X_SLACK_SIGNATURE": verifier.generate_signature(timestamp=stamp, body=body)}
        started = time.perf_counter()
        response = client.post("/slack/commands/", data=body, content_type="application/x-www-form-urlencoded",
                                **headers)
        durations.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.json()["response_type"] == "ephemeral", response.content
    return durations


def timed_answer(client, text: str) -> str:
    from slack_sdk.signature import SignatureVerifier

    body = urlencode({"command": "/freshbooks", "text": text, "team_id": TEAM, "user_id": SLACK_USER}).encode()
    stamp = str(int(time.time()))
    signature = SignatureVerifier(os.environ["SLACK_SIGNING_SECRET"]).generate_signature(timestamp=stamp, body=body)
    return client.post("/slack/commands/", data=body, content_type="application/x-www-form-urlencoded",
                       HTTP_X_SLACK_REQUEST_TIMESTAMP=stamp, HTTP_X_SLACK_SIGNATURE=signature).json()["text"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--other-tenants", type=int, default=4)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    setup_django()
    from django.core.cache import cache
    from django.test import Client

    started = time.monotonic()
    tenant = fill(args.invoices, args.other_tenants, random.Random(18))
    print(f"filled {args.invoices} invoices x {1 + args.other_tenants} tenants in "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
    cache.set(f"slack:ledger-refresh:{tenant.pk}", 1, 3600)  # the ledger is fresh: no refresh is enqueued
    client = Client()
    first = client.post("/slack/commands/")  # warm up URL resolving and imports (answered 401)
    assert first.status_code == 401
    timed(client, "unpaid", 10)
    results = {}
    for name, text in (("unpaid", "unpaid"), ("overdue", "overdue"), ("invoice", "invoice 00-004242")):
        values = timed(client, text, args.runs)
        results[name] = {"n": len(values), "p50_ms": pct(values, 50), "p95_ms": pct(values, 95),
                         "max_ms": round(max(values), 2)}
    sample = timed_answer(client, "unpaid")
    print(f"an unpaid answer: {sample[:400]}", file=sys.stderr)
    print(json.dumps({"bench": "slash_unpaid", "invoices": args.invoices, "tenants": 1 + args.other_tenants,
                      **results, "target_p95_ms": 1000,
                      "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                  "load_average_1m": round(os.getloadavg()[0], 2),
                                  "date": time.strftime("%Y-%m-%d %H:%M %Z")}}), flush=True)


if __name__ == "__main__":
    main()
